/**
 * Adapters to the implementations the benchmark drives, in one file.
 *
 * Theory of operation
 * -------------------
 * The harness (workload, runner, CLI) builds the dirty sources and starts the parallel engine only
 * through the functions here:
 * - {@link createPageTable} / {@link createTracker}: core's `IoPageTable` and `VfTracker`;
 * - {@link openEngine}: workers' `ReportPool`;
 * - {@link sourceMemory} / {@link readViews}: the shared memory behind a source (snapshots) and the
 *   part of it a walk reads (the read limit);
 * - {@link PerBitAtomicBitmap}: the `per-bit-atomic` implementation (see below);
 * The device simulator and the migration loop (workers' `DeviceSimulator`, `migrate`) are used
 * as they are, by ../cli/migrateCommand.ts.

 * `per-bit-atomic` is *not* one of the project's writers. It is the reference point of rust-vmm's
 * `AtomicBitmap`, which marks a dirty range one page at a time with one atomic fetch-or each: a
 * subclass of IovaBitmap whose write methods (`set`, `setBits`, `setUnits`, `orMask`) do exactly
 * that through ./kernels.ts. The sequential reporter runs unchanged on top of it, so the only
 * difference from `sequential` is the bitmap writer. It counts the bits it wrote
 * ({@link PerBitAtomicBitmap.perBitWrites}) so that the runner can prove the sources really went
 * through it.
 */
import { IoPageTable, IovaBitmap, IovaBitmapError, PTE_FORMATS, VfTracker, type DirtySource, type IovaBitmapOptions, type PteFormat, type U64Like } from '@iovabitmap/core';
import { bitmapViews, checkInt, ctz32, markWritten, sameMemoryOptions, toU64, type BitmapViews } from '@iovabitmap/core/internal';
import { ReportPool, type PoolReportStats } from '@iovabitmap/workers';
import { setBitsOneByOne } from './kernels.js';

// ---------------------------------------------------------------------------------------------
// Types

/** A dirty source that a simulated DMA write can mark (IoPageTable, VfTracker). */
export interface DmaWritable extends DirtySource {
  /** Marks the 4 KiB pages [page4k, page4k + count) dirty; returns how many it recorded. */
  dmaWritePages(page4k: number, count: number): number;
}

/** The parallel engine: workers' ReportPool. */
export type Engine = ReportPool;
/** What the engine returns. */
export type EngineStats = PoolReportStats;

// ---------------------------------------------------------------------------------------------
// Sources

/** PTE formats the page table accepts, baseline (vtd-ss) first. */
export function pteFormats(): readonly string[] {
  return PTE_FORMATS;
}

/** Options of {@link createPageTable}. */
export interface PageTableSpec {
  /** PTE format. */
  readonly format: string;
  /** First IOVA mapped, bytes. */
  readonly iova: bigint;
  /** Bytes mapped. */
  readonly length: bigint;
  /** Leaf size, bytes. */
  readonly leafBytes: bigint;
  /** Source name. @defaultValue `"iommu"` */
  readonly name?: string;
}

/**
 * An IOMMU page table with [iova, iova + length) mapped writable at `leafBytes`, dirty tracking on.
 * @throws IovaBitmapError from IoPageTable (`EOPNOTSUPP` for a leaf size the format lacks...).
 */
export function createPageTable(spec: PageTableSpec): IoPageTable {
  const table = new IoPageTable({ format: spec.format as PteFormat, name: spec.name ?? 'iommu' });
  table.map(spec.iova, spec.length, { leaf: spec.leafBytes, writable: true });
  table.setDirtyTracking(true);
  return table;
}

/** Options of {@link createTracker}. */
export interface TrackerSpec {
  /** First IOVA tracked, bytes. */
  readonly iova: bigint;
  /** Bytes tracked. */
  readonly length: bigint;
  /** Tracker page size, bytes. */
  readonly pageBytes: bigint;
  /** Source name. @defaultValue `"vf"` */
  readonly name?: string;
}

/**
 * A started VF tracker over [iova, iova + length) at `pageBytes`.
 * @throws IovaBitmapError from VfTracker.start.
 */
export function createTracker(spec: TrackerSpec): VfTracker {
  const tracker = new VfTracker({ name: spec.name ?? 'vf' });
  tracker.start({ ranges: [{ iova: spec.iova, length: spec.length }], pageSize: spec.pageBytes });
  return tracker;
}

/**
 * The shared memory of a source: every SharedArrayBuffer reachable from `source.share()` (for an
 * IoPageTable its control block and table segments; for a VfTracker its record buffer). The
 * workload snapshots and restores exactly this.
 */
export function sourceMemory(source: DirtySource): SharedArrayBuffer[] {
  const found = new Set<SharedArrayBuffer>();
  const visit = (v: unknown, depth: number): void => {
    if (v instanceof SharedArrayBuffer) found.add(v);
    else if (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer) found.add(v.buffer);
    else if (typeof v === 'object' && v !== null && depth < 6) for (const x of Object.values(v)) visit(x, depth + 1);
  };
  visit(source.share(), 0);
  return [...found];
}

/**
 * The memory a walk of `source` must read at least, as Uint32 views of whole 64-bit entries: for
 * an IoPageTable, its first `memoryStats().tablePages` table pages in id order across its segments
 * (pages are allocated in that order and never freed here, as nothing is unmapped; the reserved
 * tail of the last segment is left out), which are the leaf tables plus the few upper-level
 * pages; for any other source, every shared buffer of `share()` (the VF tracker's one buffer:
 * header, range table and record words).
 */
export function readViews(source: DirtySource): Uint32Array[] {
  const stats = (source as { memoryStats?: () => { tableBytes: number } }).memoryStats?.();
  const shared = source.share() as { segments?: readonly SharedArrayBuffer[] };
  if (stats === undefined || !Array.isArray(shared.segments)) return sourceMemory(source).map((b) => new Uint32Array(b, 0, Math.floor(b.byteLength / 8) * 2));
  const out: Uint32Array[] = [];
  let left = stats.tableBytes;
  for (const seg of shared.segments) {
    if (left <= 0) break;
    const bytes = Math.min(left, seg.byteLength);
    out.push(new Uint32Array(seg, 0, bytes / 4));
    left -= bytes;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The engine

/**
 * Starts a parallel engine with `threads` workers and waits until every worker is up and warm.
 * By default every report runs on the workers (`inlineBelow: 0`): what `report` and the matrix
 * show as "engine ×N" is the workers, whatever the size; small reports on the caller's thread
 * have their own benchmark (benches/smallReports.bench.ts). `migrate` passes the library's
 * default instead, so that its rounds are harvested as a library user's would be (a small
 * guest's rounds on the caller's thread; docs/migrate.md).
 * @param inlineBelow - ReportPoolOptions.inlineBelow, entries of work, or 'default' for the
 *   library's (default 0: never inline)
 * @throws IovaBitmapError `EINVAL` for a bad thread count, `EIO` when the workers cannot start.
 */
export async function openEngine(threads: number, inlineBelow: number | 'default' = 0): Promise<Engine> {
  const pool = new ReportPool(inlineBelow === 'default' ? { threads } : { threads, inlineBelow });
  await pool.ready();
  return pool;
}

// ---------------------------------------------------------------------------------------------
// per-bit-atomic

const WHERE = 'PerBitAtomicBitmap';

/**
 * The rust-vmm `AtomicBitmap` writer: an IovaBitmap over the same memory whose every write sets
 * one bit per page with its own `Atomics.or` (see the module comment). Reads are inherited; the
 * writes take the same arguments, clip the same way and reject the same values as IovaBitmap's.
 * The buffer must hold whole 32-bit words over the bitmap (allocate it rounded up to 4 bytes).
 */
export class PerBitAtomicBitmap extends IovaBitmap {
  /** Bits written one by one since construction (count). */
  perBitWrites = 0;
  /** The bitmap's word views (core's `bitmapViews`), read once here. */
  readonly #raw: BitmapViews;

  /** Views `of`'s memory (no copy), with its summary: what either writes, both read. */
  constructor(of: IovaBitmap);
  constructor(options: IovaBitmapOptions);
  constructor(arg: IovaBitmap | IovaBitmapOptions) {
    super(arg instanceof IovaBitmap ? sameMemoryOptions(arg) : arg);
    this.#raw = bitmapViews(this);
    if (this.#raw.views.words.length * 32 < this.#raw.bitBase + this.nbits) {
      throw IovaBitmapError.bad('EINVAL', WHERE, 'buffer', this.buffer, 'must hold whole 32-bit words over the bitmap');
    }
  }

  #run(a: number, b: number): void {
    if (a < 0) a = 0;
    if (b > this.nbits) b = this.nbits;
    if (a >= b) return;
    this.perBitWrites += setBitsOneByOne(this.#raw.views.words, this.#raw.bitBase + a, this.#raw.bitBase + b);
    markWritten(this, a, b - a); // after the data, as every writer (core's bitSummary.ts)
  }

  /** IOVA bytes [lo, hi) clipped to the bitmap, one bit per page touched. Exact (bigint). */
  #span(lo: bigint, hi: bigint): void {
    const a = lo > this.iova ? lo : this.iova;
    const b = hi < this.end ? hi : this.end;
    if (a >= b) return;
    const shift = BigInt(this.pageShift);
    this.#run(Number((a - this.iova) >> shift), Number((b - 1n - this.iova) >> shift) + 1);
  }

  override set(iova: U64Like, length: U64Like): void {
    const first = toU64(`${WHERE}.set`, 'iova', iova);
    const len = toU64(`${WHERE}.set`, 'length', length);
    this.#span(first, first + len);
  }

  override setBits(firstBit: number, count: number): void {
    checkInt(`${WHERE}.setBits`, 'firstBit', firstBit, -Number.MAX_SAFE_INTEGER);
    checkInt(`${WHERE}.setBits`, 'count', count, -Number.MAX_SAFE_INTEGER);
    this.#run(firstBit, firstBit + count);
  }

  /** As IovaBitmap.setUnits, in bigint: the per-bit loop dwarfs the conversion. */
  override setUnits(unit: number, count: number, unitShift: number): void {
    checkInt(`${WHERE}.setUnits`, 'unit', unit, 0);
    checkInt(`${WHERE}.setUnits`, 'count', count, -Number.MAX_SAFE_INTEGER);
    checkInt(`${WHERE}.setUnits`, 'unitShift', unitShift, 0, 63);
    if (count <= 0) return;
    const s = BigInt(unitShift);
    this.#span(BigInt(unit) << s, (BigInt(unit) + BigInt(count)) << s);
  }

  override orMask(firstBit: number, mask: number): void {
    checkInt(`${WHERE}.orMask`, 'firstBit', firstBit, -Number.MAX_SAFE_INTEGER);
    for (let m = mask | 0; m !== 0; m &= m - 1) {
      const j = ctz32(m);
      this.#run(firstBit + j, firstBit + j + 1);
    }
  }
}
