/**
 * The plain data types of IoPageTable's API (options, the shared descriptor, memory stats).
 * See ./IoPageTable.ts for the theory of operation.
 */
import type { DirtySourceShared } from '../DirtySource.js';
import type { U64Like } from '../u64.js';
import type { SegmentMemory } from './leafSkipKernel.js';
import type { PteFormat } from './pteFormats.js';

/** Options of {@link IoPageTable}'s constructor. */
export interface IoPageTableOptions {
  /** The PTE format. */
  readonly format: PteFormat;
  /** Table levels: 4 = 48-bit IOVA, 5 = 57-bit. @defaultValue 4 */
  readonly levels?: 4 | 5;
  /** Name for stats and errors. @defaultValue 'iommu' */
  readonly name?: string;
}

/** Options of {@link IoPageTable.map}. */
export interface IoMapOptions {
  /** Leaf size, bytes: 4096, 2 MiB or 1 GiB; amd-v1 also any power of two in between. */
  readonly leaf: U64Like;
  /** Writable (dirty-trackable) or read-only. @defaultValue true */
  readonly writable?: boolean;
}

/** Structured-cloneable description of a table; SharedArrayBuffers are shared, not copied. */
export interface SharedIoPageTable extends DirtySourceShared {
  readonly kind: 'IoPageTable';
  readonly name: string;
  readonly format: PteFormat;
  readonly levels: 4 | 5;
  /** The control block (tracking flag, counters). */
  readonly control: SharedArrayBuffer;
  /** Every table segment at share() time. */
  readonly segments: readonly SharedArrayBuffer[];
  /**
   * The shared WebAssembly memory of each segment (its buffer is that segment), or null for a
   * segment that is a plain SharedArrayBuffer. Optional: a view without it walks in JavaScript
   * only, with the same results.
   */
  readonly memories?: readonly (SegmentMemory | null)[];
  /**
   * The table's identity (16 hex digits, drawn by its owner): a thread keeps the WebAssembly
   * instances of a table's views under it across reports. Optional, like `memories`.
   */
  readonly tableId?: string;
  /** Mapped areas at share() time: [start, end) pairs of 4 KiB pages (a copy). */
  readonly areas: Float64Array;
  /** The writable part of `areas` (mapped with `writable: true`), in the same form. */
  readonly writableAreas: Float64Array;
}

/** Table memory and mapping counters, from {@link IoPageTable.memoryStats}. */
export interface IoPageTableMemoryStats {
  /** Table pages in use. */
  tablePages: number;
  /** Bytes of those pages (tablePages * 4096). */
  tableBytes: number;
  /** IOVA bytes mapped. */
  mappedBytes: bigint;
  /** Leaves mapped (a replicated amd-v1 page counts once). */
  leaves: number;
  /** Bytes of SharedArrayBuffer reserved by the table segments (>= tableBytes). */
  reservedBytes: number;
}
