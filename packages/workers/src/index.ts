/**
 * @iovabitmap/workers — the whole public surface, listed by name.
 */
export { RUNNING_FROM_SOURCE, applyWorkerV8Flags, entryUrl, piscinaEntry, startWorker } from './runtime/workerLaunch.js';
export { MAX_POOL_THREADS, ReportPool } from './pool/ReportPool.js';
export type { PoolReportOptions, ReportPoolOptions, ReportPoolStatus } from './pool/ReportPool.js';
export type { ReportProgress } from './pool/reportRun.js';
export type { PoolReportStats, PoolSourceStats, WorkerReportStats } from './pool/poolStats.js';
export { CHUNKS_PER_THREAD, COUNT_PIECE_BITS, ChunkPlan, DEFAULT_CHUNK_IOVA_BYTES, MAX_CHUNKS, MAX_CHUNK_BITS, MAX_CHUNK_ENTRIES, MIN_CHUNK_BITS, MIN_CHUNK_ENTRIES, checkChunkBits, chunkBitsFor, countPlan, defaultChunkBits } from './pool/ChunkPlan.js';
export type { ChunkLocation } from './pool/ChunkPlan.js';
export { ControlBlock, Phase, SlotState, StopReason } from './pool/ControlBlock.js';
export type { ControlProgress } from './pool/ControlBlock.js';
export { runReportTask } from './pool/worker/reportTask.js';
export type { FaultInjection, ReportTask, ReportTaskResult, SourceFactory } from './pool/worker/reportTask.js';
export { DeviceSimulator } from './device/DeviceSimulator.js';
export type { DeviceAttachOptions, DeviceSimulatorOptions } from './device/DeviceSimulator.js';
export { DEVICE_PATTERNS, createPattern } from './device/patterns.js';
export type { DevicePatternName, PageRegion, PageRun, PatternGenerator, PatternOptions } from './device/patterns.js';
export type { DevicePatternStats, DeviceRegion, DeviceStartOptions, DeviceState, DeviceStats } from './device/deviceTypes.js';
export { createRng, seedFromEnv } from './device/prng.js';
export type { Rng } from './device/prng.js';
export { MigrateError, migrate } from './migrate/migrate.js';
export type { MigrateDevice, MigrateOptions, MigratePool, MigrateResult, MigrateRound, MigrateSourceStats } from './migrate/migrate.js';
export { verifyMigration } from './migrate/verifyMigration.js';
export type { VerifyOptions, VerifyResult } from './migrate/verifyMigration.js';
export { checkUnitMaps, mappingUnitMap, pageTableUnitMap, trackerUnitMap, unitMapOf } from './migrate/unitMaps.js';
export type { LeafLookup, LeafMapping, PageUnit, TrackerGeometry, UnitMap } from './migrate/unitMaps.js';
