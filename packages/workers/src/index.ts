/**
 * `@iovabitmap/workers`: the public surface, listed by name: what the README documents.
 *
 * The parallel reporter (ReportPool, on piscina), the simulated DMA device (DeviceSimulator, over
 * comlink), and the live-migration loop with its no-loss check (migrate, verifyMigration, and the
 * unit maps they take). No declaration reachable from here imports a third party's types
 * (test/fast/build.test.ts checks it).
 *
 * What `@iovabitmap/bench` and the tests need beyond this is in ./internal.ts
 * (`@iovabitmap/workers/internal`): no compatibility promise there. test/fast/exports.test.ts
 * lists both entries, so a new export is a decision.
 *
 * @module @iovabitmap/workers
 */
export { MAX_POOL_THREADS, ReportPool } from './pool/ReportPool.js';
export type { PoolReportOptions, ReportPoolOptions, ReportPoolStatus, ReportProgress, ReportedChunk } from './pool/poolTypes.js';
export type { PoolReportStats, PoolSourceStats, WorkerReportStats } from './pool/poolStats.js';
export { DeviceSimulator } from './device/DeviceSimulator.js';
export type { DeviceAttachOptions, DeviceSimulatorOptions } from './device/DeviceSimulator.js';
export type { DevicePatternStats, DeviceRegion, DeviceStartOptions, DeviceState, DeviceStats } from './device/deviceTypes.js';
export { DEVICE_PATTERNS } from './device/patterns.js';
export type { DevicePatternName } from './device/patterns.js';
export { MAX_PRECOPY_ROUNDS, MigrateError, migrate } from './migrate/migrate.js';
export type { MigrateConvergence, MigrateDevice, MigrateOptions, MigratePool, MigrateResult, MigrateRound, MigrateSourceStats } from './migrate/migrate.js';
export type { ConvergenceReason, DowntimeParts } from './migrate/linkModel.js';
export { ReportedRounds } from './migrate/ReportedRounds.js';
export { verifyMigration } from './migrate/verifyMigration.js';
export type { VerifyEpochs, VerifyOptions, VerifyResult } from './migrate/verifyMigration.js';
export { WriteEpochs } from './device/WriteEpochs.js';
export type { SharedWriteEpochs } from './device/WriteEpochs.js';
export { mappingUnitMap, trackerUnitMap, unitMapOf } from './migrate/unitMaps.js';
export type { LeafMapping, PageUnit, TrackerGeometry, UnitMap } from './migrate/unitMaps.js';
