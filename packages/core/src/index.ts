/**
 * @iovabitmap/core — the whole public surface, listed by name.
 *
 * The IOVA dirty bitmap (the kernel's iova_bitmap arithmetic and windowing over a
 * SharedArrayBuffer), the dirty sources (IOMMU page tables, the VF device tracker), and the
 * sequential reference reporter. No threads here; see @iovabitmap/workers for the parallel engine.
 */
export { IovaBitmap } from './bitmap/IovaBitmap.js';
export { MAX_BITMAP_BITS } from './bitmap/bitmapGeometry.js';
export type { IovaBitmapOptions, IovaRange, SharedIovaBitmap } from './bitmap/IovaBitmap.js';
export { BITMAP_PAGE_BYTES, DEFAULT_WINDOW_PAGES, computeWindows } from './bitmap/windows.js';
export type { BitmapWindow, WindowGeometry } from './bitmap/windows.js';
export { IovaBitmapError, MAX_DESCRIBED_CHARS, describeValue } from './IovaBitmapError.js';
export type { IovaBitmapErrorData, IovaErrorCode } from './IovaBitmapError.js';
export { U64_LIMIT, U64_MAX, checkInt, toU64, log2Exact } from './u64.js';
export type { U64Like } from './u64.js';
export { emptySourceStats, addSourceStats, checkChunk, reportNoClear } from './DirtySource.js';
export type { DirtySource, DirtySourceShared, ReportChunk, ReportOptions, SourceStats, WorkProfile } from './DirtySource.js';
export { reportDirty, checkReportRequest } from './reportDirty.js';
export type { ReportDirtyOptions, ReportStats } from './reportDirty.js';
export { IoPageTable } from './pagetable/IoPageTable.js';
export type { IoMapOptions, IoPageTableMemoryStats, IoPageTableOptions, PteFormat, SharedIoPageTable } from './pagetable/IoPageTable.js';
export { PTE_FORMATS } from './pagetable/pteFormats.js';
export { MAX_TABLE_BYTES } from './pagetable/TableMemory.js';
export { MAX_TRACKER_BYTES } from './tracker/TrackerMemory.js';
export { VfTracker } from './tracker/VfTracker.js';
export type { SharedVfTracker, VfTrackerStartOptions, VfTrackerStartResult } from './tracker/VfTracker.js';
export { dirtySourceFromShared } from './dirtySourceFromShared.js';
export { DEFAULT_VF_LIMITS, VFIO_MAX_LOG_RANGES, VFIO_MIN_PAGE_SIZE } from './tracker/trackerLimits.js';
export type { VfTrackerLimits, VfDeviceLimits } from './tracker/trackerLimits.js';
export { lastAtOrBefore } from './sortedRuns.js';
export { pageTableBytesFor } from './pagetable/tableBudget.js';
export type { TableMapping } from './pagetable/tableBudget.js';
