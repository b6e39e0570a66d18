/**
 * @iovabitmap/workers/internal — what @iovabitmap/bench and the tests use of workers beyond its
 * public surface (./index.ts). Not for applications: no compatibility promise; names here may
 * change or go with any release.
 *
 * Grouped by module. The public names are not repeated here: import those from
 * `@iovabitmap/workers`.
 */
// launching a worker from a build or from source (the tests' own worker files)
export { startWorker } from './runtime/workerLaunch.js';
// the engine's parts: chunk plan, control block, the worker's task loop
export { ChunkPlan, chunkBitsFor, countPlan, defaultChunkBits, reportPlans } from './pool/ChunkPlan.js';
export { ControlBlock, Phase, SlotState, StopReason } from './pool/ControlBlock.js';
export type { CountSkip } from './pool/ControlBlock.js';
export { DEFAULT_INLINE_BELOW, inlineWork } from './pool/inlineReport.js';
export { outlastsBudget, walkCallerShare } from './pool/callerShare.js';
export { runReportTask } from './pool/worker/reportTask.js';
export type { ReportTask } from './pool/worker/reportTask.js';
// the device: its engine (in-process in tests), the RPC guard, patterns, the seeded generator
export { DeviceEngine } from './device/DeviceEngine.js';
export type { DmaTarget } from './device/DeviceEngine.js';
export { PendingCalls } from './device/PendingCalls.js';
export { createPattern } from './device/patterns.js';
export type { PageRun } from './device/patterns.js';
export { createRng, seedFromEnv } from './device/prng.js';
export type { Rng } from './device/prng.js';
export { warmUpKernels, warmedUpMs } from './pool/worker/warmUp.js';
// the migration's link model (pure arithmetic) and the streaming worker's capturing bitmap
export { LinkQueue, ModelClock, RATE_ROUNDS, convergenceStop, predictDowntime, transferMs } from './migrate/linkModel.js';
export { RunCapture } from './pool/worker/RunCapture.js';
