/**
 * @iovabitmap/core/internal — what @iovabitmap/workers, @iovabitmap/bench and the tests use of
 * core beyond its public surface (./index.ts). Not for applications: no compatibility promise;
 * names here may change or go with any release.
 *
 * Grouped by module. The public names are not repeated here: import those from
 * `@iovabitmap/core`.
 */
// the bitmap: raw views and its summary, windows, geometry
export { BITMAP_SUMMARY, bitmapViews, deferMarks, markWritten, sameMemoryOptions, summaryClean } from './bitmap/IovaBitmap.js';
export type { BitmapViews, InternalIovaBitmapOptions, SummaryOption } from './bitmap/IovaBitmap.js';
export type { BitSummary } from './bitmap/bitSummary.js';
export { BITMAP_PAGE_BYTES, DEFAULT_WINDOW_PAGES, computeWindows } from './bitmap/windows.js';
export { ctz32, recordRuns } from './bitmap/bitKernels.js';
export { wasmBitmapBytes } from './bitmap/bitmapKernel.js';
export type { RunSink } from './bitmap/bitKernels.js';
// byte sizes and the 4 KiB page
export { GIB, GiB, KIB, KiB, MIB, MiB, PAGE_MASK_BIG, PAGE_SHIFT, PAGE_SHIFT_BIG, PAGE_SIZE, PAGE_SIZE_BIG, TIB, TiB, pageIova, pageOf } from './sizes.js';
// errors and 64-bit values
export { describeValue } from './IovaBitmapError.js';
export { U64_LIMIT, U64_MAX, checkInt, log2Exact, toU64 } from './u64.js';
// the dirty-source contract's helpers, the reporters' shared checks
export { addSourceStats, emptySourceStats } from './DirtySource.js';
export { checkReportRequest } from './reportDirty.js';
export { dirtySourceFromShared } from './dirtySourceFromShared.js';
export { lastAtOrBefore } from './sortedRuns.js';
// page tables: limits, the memory estimate, the benchmark's read reference, each format's leaf sizes
export { codecOf } from './pagetable/pteFormats.js';
export { readLeafTables, wasmSegments } from './pagetable/IoPageTable.js';
export { MAX_TABLE_BYTES } from './pagetable/TableMemory.js';
export { leafSkipFor, newSegmentMemory } from './pagetable/leafSkipKernel.js';
export type { LeafSkip } from './pagetable/leafSkipKernel.js';
export { pageTableBytesFor } from './pagetable/tableBudget.js';
export type { TableMapping } from './pagetable/tableBudget.js';
// the VF tracker: limits and its hot kernels
export { MAX_TRACKER_BYTES } from './tracker/TrackerMemory.js';
export { orBitRun, readMasks, readRuns } from './tracker/trackerKernel.js';
export { combineIovaRanges } from './tracker/trackerRanges.js';
