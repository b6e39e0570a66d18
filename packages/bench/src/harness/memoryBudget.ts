/**
 * The memory a command will need, estimated before it builds anything, and the rule for what fits.
 *
 * Theory of operation
 * -------------------
 * `iovabitmap report --iova-size 64TiB --leaf 4K` would map 2^34 leaves: 128 GiB of page table,
 * allocated a segment at a time while the process grows until the OOM killer ends it, with no
 * output. So `report`, `migrate` and `bench` first describe what they are about to allocate as a
 * {@link MemoryPlan} and pass it to {@link checkMemory}, which prices it and refuses a plan that
 * does not fit with one line naming what is needed and what the machine has (ENOMEM, exit 1),
 * before anything is built. The figures:
 *
 * - a page table: core's exact `pageTableBytesFor` (a 4 KiB table page per 512 entries at each
 *   level) plus the unused tail of its last SharedArrayBuffer segment (at most 64 MiB);
 * - a VF tracker: one bit per 4 KiB tracker page;
 * - a bitmap: one bit per page at its page size, whole 64 KiB pages or 8-byte words (bitmapBytes);
 * - the workload's snapshot (report, bench: ./workload.ts keeps a copy of every source's shared
 *   memory to restore the dirty state): the tables and trackers once more;
 * - a worker thread: {@link WORKER_BYTES} (measured when running from source).
 *
 * What fits: the estimate must be at most {@link FIT_FRACTION} of the memory the machine has
 * available now (`os.freemem()`, which Linux reports as MemAvailable: what can be had without
 * swapping, page cache included). Free rather than total memory, because what others use cannot
 * be had; three quarters, because the estimate leaves out the JavaScript heap, V8's code, the
 * kernel's own page tables for this memory, and the transient copies of structured cloning.
 * A command that passes can still fail later with ENOMEM if memory is taken meanwhile; the check
 * is a fast refusal of the hopeless cases, not a reservation.
 */
import { freemem, totalmem } from 'node:os';
import { IovaBitmapError, type PteFormat } from '@iovabitmap/core';
import { pageTableBytesFor, wasmBitmapBytes, type TableMapping } from '@iovabitmap/core/internal';
import { formatBytesRounded } from '../units.js';

/** Memory of one worker thread (report pool or device simulator) running from source, bytes. */
export const WORKER_BYTES = 30 * 2 ** 20;
/** Largest part of the machine's available memory a plan may use (see the module comment). */
export const FIT_FRACTION = 0.75;
/** The unused tail of a page table's last segment, at most (TableMemory's largest segment), bytes. */
const SEGMENT_SLACK_BYTES = 64 * 2 ** 20;

/** What a command will allocate; see the module comment. Every list holds things alive at once. */
export interface MemoryPlan {
  /** IOMMU page tables. */
  readonly tables?: readonly { readonly format: PteFormat; readonly mappings: readonly TableMapping[] }[];
  /** VF trackers, by the IOVA bytes each tracks at 4 KiB pages. */
  readonly trackers?: readonly bigint[];
  /** Bitmaps: IOVA bytes covered and bytes per bit. */
  readonly bitmaps?: readonly { readonly what: string; readonly length: bigint; readonly pageSize: bigint }[];
  /** True when the sources' memory is copied once more (the workload's snapshot). */
  readonly snapshot?: boolean;
  /** Worker threads. */
  readonly workers?: number;
}

/** One priced part of a plan. */
export interface MemoryPart {
  readonly what: string;
  readonly bytes: number;
}

/** What a machine has, bytes. */
export interface MachineMemory {
  readonly totalBytes: number;
  readonly freeBytes: number;
}

/** This machine, now. */
export function machineMemory(): MachineMemory {
  return { totalBytes: totalmem(), freeBytes: freemem() };
}

/**
 * Bytes of a bitmap of `length` IOVA bytes at `pageSize` as ./workload.ts benchBitmap allocates
 * it: the WebAssembly memory core gives a new bitmap of that size (`wasmBitmapBytes`), else whole
 * 8-byte words.
 */
function bitmapBytes(length: bigint, pageSize: bigint): number {
  const bits = (length + pageSize - 1n) / pageSize;
  return wasmBitmapBytes(Number((bits + 7n) / 8n)) ?? Number(((bits + 63n) / 64n) * 8n);
}

/**
 * Prices a plan, part by part (parts of 0 bytes left out).
 * @throws IovaBitmapError from core's `pageTableBytesFor` for a mapping a table would refuse.
 */
export function estimateMemory(plan: MemoryPlan): MemoryPart[] {
  const parts: MemoryPart[] = [];
  let sources = 0;
  for (const t of plan.tables ?? []) {
    const bytes = pageTableBytesFor(t.mappings, t.format) + SEGMENT_SLACK_BYTES;
    parts.push({ what: 'page table', bytes });
    sources += bytes;
  }
  for (const tracked of plan.trackers ?? []) {
    const bytes = bitmapBytes(tracked, 4096n);
    parts.push({ what: 'tracker records', bytes });
    sources += bytes;
  }
  if (plan.snapshot === true) parts.push({ what: 'snapshot of the sources', bytes: sources });
  for (const b of plan.bitmaps ?? []) parts.push({ what: b.what, bytes: bitmapBytes(b.length, b.pageSize) });
  const workers = plan.workers ?? 0;
  parts.push({ what: `${workers} worker${workers === 1 ? '' : 's'}`, bytes: workers * WORKER_BYTES });
  // One part per name (two tables are "page table" once, with both sizes added), in first-seen order.
  const merged = new Map<string, number>();
  for (const p of parts) merged.set(p.what, (merged.get(p.what) ?? 0) + p.bytes);
  return [...merged].filter(([, bytes]) => bytes > 0).map(([what, bytes]) => ({ what, bytes }));
}

/** The plans of things alive at once, as one plan (workers added up). */
export function combinePlans(plans: readonly MemoryPlan[]): MemoryPlan {
  return {
    tables: plans.flatMap((p) => p.tables ?? []),
    trackers: plans.flatMap((p) => p.trackers ?? []),
    bitmaps: plans.flatMap((p) => p.bitmaps ?? []),
    snapshot: plans.some((p) => p.snapshot === true),
    workers: plans.reduce((n, p) => n + (p.workers ?? 0), 0),
  };
}

/** The total bytes of a plan. */
export function planBytes(plan: MemoryPlan): number {
  return estimateMemory(plan).reduce((s, p) => s + p.bytes, 0);
}

/**
 * Refuses a plan that does not fit (see the module comment), in one line naming what it needs,
 * part by part, and what the machine has.
 * @param command - for the message, e.g. `"iovabitmap report"`
 * @param hint - what to change, e.g. `"use a smaller --iova-size"`
 * @throws IovaBitmapError `ENOMEM` when the plan needs more than {@link FIT_FRACTION} of the free memory.
 */
export function checkMemory(command: string, plan: MemoryPlan, hint: string, machine: MachineMemory = machineMemory()): MemoryPart[] {
  const parts = estimateMemory(plan);
  const needed = parts.reduce((s, p) => s + p.bytes, 0);
  const limit = FIT_FRACTION * machine.freeBytes;
  if (needed > limit) {
    const detail = parts.map((p) => `${p.what} ${formatBytesRounded(p.bytes)}`).join(', ');
    throw new IovaBitmapError(
      'ENOMEM',
      `${command}: needs about ${formatBytesRounded(needed)} (${detail}), more than ${FIT_FRACTION * 100}% of the ` +
        `${formatBytesRounded(machine.freeBytes)} free of ${formatBytesRounded(machine.totalBytes)} on this machine; ${hint}`,
      { details: { neededBytes: needed, freeBytes: machine.freeBytes, totalBytes: machine.totalBytes } },
    );
  }
  return parts;
}
