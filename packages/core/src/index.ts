/**
 * `@iovabitmap/core`: the public surface, listed by name: what the README documents.
 *
 * The IOVA dirty bitmap (the kernel's iova_bitmap arithmetic and windowing over a
 * SharedArrayBuffer), the dirty sources (IOMMU page tables, the VF device tracker) and their
 * contract, the sequential reference reporter, and the typed error. No threads here; see
 * `@iovabitmap/workers` for the parallel engine.
 *
 * What the other packages and the tests need beyond this is in ./internal.ts
 * (`@iovabitmap/core/internal`): no compatibility promise there. test/fast/exports.test.ts lists
 * both entries, so a new export is a decision.
 *
 * @module @iovabitmap/core
 */
export { IovaBitmap } from './bitmap/IovaBitmap.js';
export type { IovaBitmapOptions, IovaRange, SharedIovaBitmap } from './bitmap/IovaBitmap.js';
export { MAX_BITMAP_BITS } from './bitmap/bitmapGeometry.js';
export type { BitmapWindow } from './bitmap/windows.js';
export { IoPageTable } from './pagetable/IoPageTable.js';
export type { IoMapOptions, IoPageTableMemoryStats, IoPageTableOptions, SharedIoPageTable } from './pagetable/pageTableTypes.js';
export { PTE_FORMATS } from './pagetable/pteFormats.js';
export type { PteFormat } from './pagetable/pteFormats.js';
export type { SegmentMemory } from './pagetable/leafSkipKernel.js';
export { VfTracker } from './tracker/VfTracker.js';
export type { SharedVfTracker, VfTrackerStartOptions, VfTrackerStartResult } from './tracker/VfTracker.js';
export type { VfDeviceLimits, VfTrackerLimits } from './tracker/trackerLimits.js';
export { reportDirty } from './reportDirty.js';
export type { ReportDirtyOptions, ReportStats } from './reportDirty.js';
export type { DirtySource, DirtySourceShared, ReportChunk, ReportOptions, SourceStats, WorkProfile } from './DirtySource.js';
export { IovaBitmapError } from './IovaBitmapError.js';
export type { IovaBitmapErrorData, IovaErrorCode } from './IovaBitmapError.js';
export type { U64Like } from './u64.js';
