/**
 * A synthetic workload: a bitmap, its dirty sources, and dirty state that can be put back.
 *
 * Theory of operation
 * -------------------
 * {@link buildWorkload} maps the IOVA space [BENCH_IOVA_BASE, + iovaBytes) in the sources the
 * scenario reads (an IOMMU page table at the scenario's leaf size, a VF tracker at 4 KiB pages, or
 * both), places dirty units with ./placement.ts and marks them as DMA writes would
 * (`dmaWritePages`):
 * - IOMMU / both: the units are leaf PTEs; a dirty leaf is written at its first 4 KiB page (which
 *   dirties the whole leaf). With both sources the same writes reach the tracker too, so the
 *   tracker's pages are a subset of the dirty leaves and the union is the leaves' bits.
 * - VF only: the units are tracker pages.
 * A source that records fewer pages than written is an error: the workload would not be the one
 * the record describes.
 *
 * Then it snapshots the sources' shared memory (./impls.ts `sourceMemory`): {@link Workload.restore}
 * copies it back and clears the bitmap, so every timed report starts from the same dirty state
 * (the method of docs/bench/limits.md §0: the PTEs are restored from a clean copy, untimed).
 * `bitsExpected` is computed from the placement, independently of any reporter, and the runner
 * checks every report's `bitsSet` against it.
 *
 * The bitmap's buffer is whole 8-byte words ({@link benchBitmap}) so that the per-bit writer's
 * word accesses stay inside it.
 *
 * The flat bitmap ({@link Workload.flatBitmap}: the same geometry without the summary layer, core/internal
 * `[BITMAP_SUMMARY]: false`) is built on first use only, for `engine-flat` and the `dirty-fill`
 * yardstick (the `scale` group): its memory is plain words with nothing to keep in step, so the
 * fill writes it directly, and every `engine-flat` report clears it first (`restore(flat)`).
 * The dirty runs ({@link Workload.dirtyRuns}) are kept as bit ranges for that fill.
 */
import { IovaBitmap, IovaBitmapError, type PteFormat } from '@iovabitmap/core';
import { BITMAP_SUMMARY, type InternalIovaBitmapOptions } from '@iovabitmap/core/internal';
import { createPageTable, createTracker, readViews, sourceMemory, type DmaWritable } from './impls.js';
import type { MemoryPlan } from './memoryBudget.js';
import { placeDirty } from './placement.js';
import { BENCH_BITMAP_PAGE_BYTES, BENCH_IOVA_BASE, BENCH_TRACKER_PAGE_BYTES, type WorkloadSpec } from './scenarios.js';

/** A built workload; see the module comment. */
export interface Workload {
  /** What was built. */
  readonly spec: WorkloadSpec;
  /** The report's bitmap (4 KiB pages over the whole space). */
  readonly bitmap: IovaBitmap;
  /** The sources, in report order. */
  readonly sources: readonly DmaWritable[];
  /** Tracker page size, bytes; `null` when no tracker is read. */
  readonly trackerPageBytes: bigint | null;
  /** Leaf entries one report walks: leaf PTEs plus tracker pages (count); the sum of `sourceEntries`. */
  readonly leafEntries: number;
  /** Per source, in report order: its name, its kind and the leaf entries it has (PTEs or tracker pages). */
  readonly sourceEntries: readonly SourceEntries[];
  /** Units placed dirty (leaves, or tracker pages for VF only). */
  readonly dirtyUnits: number;
  /** Bits a report sets in a clear bitmap. */
  readonly bitsExpected: number;
  /** Time to build, map, dirty and snapshot, milliseconds. */
  readonly setupMs: number;
  /** The memory a walk reads at least (./impls.ts readViews), for the read limit. */
  readonly readViews: readonly Uint32Array[];
  /** The dirty set as bit ranges of the bitmap: `[first, end)` pairs, ascending, disjoint. */
  readonly dirtyRuns: readonly number[];
  /** The same bitmap without the summary layer (the flat design), built on first call; see the module comment. */
  flatBitmap(): IovaBitmap;
  /** Puts the dirty state back as built and clears `bitmap` (the workload's own by default). */
  restore(bitmap?: IovaBitmap): void;
}

/** The leaf entries of one source of a workload. */
export interface SourceEntries {
  /** The source's name (`iommu`, `vf`). */
  readonly name: string;
  /** `iommu`: leaf PTEs of the page table; `vf`: pages of the VF tracker. */
  readonly kind: 'iommu' | 'vf';
  /** How many (count). */
  readonly entries: number;
}

/**
 * What {@link buildWorkload} will allocate for `spec` (./memoryBudget.ts): the sources it maps,
 * their snapshot, and the bitmap. Priced before anything is built.
 */
export function workloadPlan(spec: WorkloadSpec, flat = false): MemoryPlan {
  const iova = BENCH_IOVA_BASE;
  const length = spec.iovaBytes;
  const bitmap = { what: 'bitmap', length, pageSize: BENCH_BITMAP_PAGE_BYTES };
  return {
    tables: spec.source === 'vf' ? [] : [{ format: spec.format as PteFormat, mappings: [{ iova, length, leaf: spec.leafBytes }] }],
    trackers: spec.source === 'iommu' ? [] : [length],
    bitmaps: flat ? [bitmap, bitmap] : [bitmap],
    snapshot: true,
  };
}

/**
 * IovaBitmap in the memory the library allocates for it (a shared WebAssembly memory from 64 KiB
 * of bitmap on, whose kernels the walk's OR and the count use: core's bitmap/bitmapKernel.ts), so
 * that the benchmark measures what a caller of `new IovaBitmap({ iova, length, pageSize })` gets;
 * when that buffer is not whole 8-byte words (a small bitmap's SharedArrayBuffer), a
 * SharedArrayBuffer rounded up to them instead. `summary: false` builds it without the summary
 * layer. The buffer is written once (zeros) so that its memory is resident, as a bitmap in use
 * is: never-touched memory reads as the kernel's one zero page (a page fault per 4 KiB on the
 * first read, then every page hits the same cached page), so a read pass over it measures
 * neither what a first nor what a steady pass over a real bitmap costs.
 */
export function benchBitmap(iova: bigint, length: bigint, pageSize: bigint, summary = true): IovaBitmap {
  const o: InternalIovaBitmapOptions = { iova, length, pageSize, ...(summary ? {} : { [BITMAP_SUMMARY]: false }) };
  let bitmap = new IovaBitmap(o);
  if (bitmap.buffer.byteLength % 8 !== 0) {
    const buffer = new SharedArrayBuffer(Math.ceil(IovaBitmap.bytesFor(length, pageSize) / 8) * 8);
    bitmap = new IovaBitmap({ ...o, buffer });
    bitmap.rescan(); // a caller's buffer starts with every block marked; this one holds no bit yet
  }
  new Uint8Array(bitmap.buffer).fill(0);
  return bitmap;
}

/** One DMA write of `count` 4 KiB pages, each in a different unit of `src`, which must mark all of them. */
function writeRun(where: string, src: DmaWritable, page: number, count: number): void {
  const done = src.dmaWritePages(page, count);
  if (done !== count) {
    throw new IovaBitmapError('EIO', `${where}: source ${src.name} marked ${done} units for a write of ${count} units at 4 KiB page ${page}`);
  }
}

/**
 * Builds the workload of `spec` (see the module comment).
 * @throws IovaBitmapError `EIO` when a source did not record a write; the sources' own errors
 *   (`EOPNOTSUPP` for a leaf size the PTE format lacks...).
 */
export function buildWorkload(spec: WorkloadSpec): Workload {
  const t0 = performance.now();
  const where = 'buildWorkload';
  const iova = BENCH_IOVA_BASE;
  const length = spec.iovaBytes;
  const pageShift12 = 12n;
  const basePage = Number(iova >> pageShift12);
  const useTable = spec.source !== 'vf';
  const useTracker = spec.source !== 'iommu';
  const sources: DmaWritable[] = [];
  if (useTable) sources.push(createPageTable({ format: spec.format, iova, length, leafBytes: spec.leafBytes }));
  if (useTracker) sources.push(createTracker({ iova, length, pageBytes: BENCH_TRACKER_PAGE_BYTES }));

  const unitBytes = useTable ? spec.leafBytes : BENCH_TRACKER_PAGE_BYTES;
  const units = Number(length / unitBytes);
  const pagesPerUnit = Number(unitBytes >> pageShift12);
  const bitsPerUnit = Number(unitBytes / BENCH_BITMAP_PAGE_BYTES);
  const dirtyRuns: number[] = [];
  const dirtyUnits = placeDirty(units, spec.density, spec.pattern, spec.seed, (first, count) => {
    dirtyRuns.push(first * bitsPerUnit, (first + count) * bitsPerUnit);
    for (const src of sources) {
      if (pagesPerUnit === 1) writeRun(where, src, basePage + first, count);
      else for (let u = first; u < first + count; u++) writeRun(where, src, basePage + u * pagesPerUnit, 1);
    }
  });

  const bitmap = benchBitmap(iova, length, BENCH_BITMAP_PAGE_BYTES);
  let flat: IovaBitmap | undefined;
  const sourceEntries: SourceEntries[] = [
    ...(useTable ? [{ name: sources[0]!.name, kind: 'iommu' as const, entries: Number(length / spec.leafBytes) }] : []),
    ...(useTracker ? [{ name: sources.at(-1)!.name, kind: 'vf' as const, entries: Number(length / BENCH_TRACKER_PAGE_BYTES) }] : []),
  ];
  const leafEntries = sourceEntries.reduce((n, s) => n + s.entries, 0);
  const memory = sources.flatMap((s) => sourceMemory(s));
  const saved = memory.map((sab) => new Uint8Array(sab).slice());
  return {
    spec,
    bitmap,
    sources,
    trackerPageBytes: useTracker ? BENCH_TRACKER_PAGE_BYTES : null,
    leafEntries,
    sourceEntries,
    dirtyUnits,
    bitsExpected: dirtyUnits * bitsPerUnit,
    setupMs: performance.now() - t0,
    readViews: sources.flatMap((s) => readViews(s)),
    dirtyRuns,
    flatBitmap: () => (flat ??= benchBitmap(iova, length, BENCH_BITMAP_PAGE_BYTES, false)),
    restore(target: IovaBitmap = bitmap): void {
      for (let i = 0; i < memory.length; i++) new Uint8Array(memory[i]!).set(saved[i]!);
      target.clear();
    },
  };
}
