/**
 * @iovabitmap/workers — the whole public surface, listed by name.
 */
export { RUNNING_FROM_SOURCE, applyWorkerV8Flags, entryUrl, piscinaEntry, startWorker, startWorkerAt } from './workerEntry.js';
export { ReportPool } from './ReportPool.js';
export type { PoolReportOptions, ReportPoolOptions, ReportPoolStatus } from './ReportPool.js';
export type { ReportProgress } from './reportRun.js';
export type { PoolReportStats, PoolSourceStats, WorkerReportStats } from './poolStats.js';
export { COUNT_PIECE_BITS, ChunkPlan, DEFAULT_CHUNK_IOVA_BYTES, MAX_CHUNKS, MAX_CHUNK_BITS, MIN_CHUNK_BITS, checkChunkBits, countPlan, defaultChunkBits } from './chunkPlan.js';
export type { ChunkLocation } from './chunkPlan.js';
export { ControlBlock, Phase, SlotState, StopReason } from './controlBlock.js';
export type { ControlProgress } from './controlBlock.js';
export { runReportTask } from './workerTask.js';
export type { FaultInjection, ReportTask, ReportTaskResult, SourceFactory } from './workerTask.js';
