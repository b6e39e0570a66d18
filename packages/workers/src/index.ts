/**
 * @iovabitmap/workers — the whole public surface, listed by name.
 */
export { RUNNING_FROM_SOURCE, applyWorkerV8Flags, entryUrl, piscinaEntry, startWorker, startWorkerAt } from './workerEntry.js';
export { ReportPool } from './ReportPool.js';
export type { PoolReportOptions, ReportPoolOptions, ReportPoolStatus } from './ReportPool.js';
export type { ReportProgress } from './reportRun.js';
export type { PoolReportStats, PoolSourceStats, WorkerReportStats } from './poolStats.js';
export { CHUNKS_PER_THREAD, COUNT_PIECE_BITS, ChunkPlan, DEFAULT_CHUNK_IOVA_BYTES, MAX_CHUNKS, MAX_CHUNK_BITS, MAX_CHUNK_ENTRIES, MIN_CHUNK_BITS, MIN_CHUNK_ENTRIES, checkChunkBits, chunkBitsFor, countPlan, defaultChunkBits } from './chunkPlan.js';
export type { ChunkLocation } from './chunkPlan.js';
export { ControlBlock, Phase, SlotState, StopReason } from './controlBlock.js';
export type { ControlProgress } from './controlBlock.js';
export { runReportTask } from './workerTask.js';
export { warmUpKernels } from './warmUp.js';
export type { FaultInjection, ReportTask, ReportTaskResult, SourceFactory } from './workerTask.js';
export { DeviceSimulator } from './device/DeviceSimulator.js';
export type { DeviceAttachOptions, DeviceSimulatorOptions } from './device/DeviceSimulator.js';
export { DEVICE_PATTERNS, createPattern } from './device/patterns.js';
export type { DevicePatternName, PageRegion, PageRun, PatternGenerator, PatternOptions } from './device/patterns.js';
export type { DevicePatternStats, DeviceRegion, DeviceStartOptions, DeviceState, DeviceStats } from './device/types.js';
export { createRng, seedFromEnv } from './device/prng.js';
export type { Rng } from './device/prng.js';
export { migrate } from './migrate/migrate.js';
export type { MigrateDevice, MigrateOptions, MigratePool, MigrateResult, MigrateRound, MigrateSourceStats } from './migrate/migrate.js';
export { verifyMigration } from './migrate/verify.js';
export type { VerifyOptions, VerifyResult } from './migrate/verify.js';
export { mappingUnitMap, pageTableUnitMap, trackerUnitMap, unitMapOf } from './migrate/unitMaps.js';
export type { LeafLookup, LeafMapping, PageUnit, TrackerGeometry, UnitMap } from './migrate/unitMaps.js';
