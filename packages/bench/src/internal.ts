/**
 * @iovabitmap/bench/internal — what the tests use of bench beyond its public surface
 * (./index.ts). Not for applications: no compatibility promise; names here may change or go with
 * any release.
 *
 * Grouped by folder. The public names are not repeated here: import those from
 * `@iovabitmap/bench`.
 */
// human units
export { formatByteRate, formatBytes, formatBytesRounded, formatGiBps, formatNsPerPte, formatRate, parseByteRate, parseCount, parseCountList, parseRate, parseSize, plural, significant } from './units.js';
// cli/: the commander program (its types are commander's, hence not public) and the commands
export { buildProgram } from './cli/program.js';
export type { ProgramOptions } from './cli/program.js';
export { devicePageRate, layoutMappings, migratePlan, runMigrateCommand } from './cli/migrateCommand.js';
export type { MigrateCommandOptions } from './cli/migrateCommand.js';
export { checkBenchOutputs, runBenchCommand } from './cli/benchCommand.js';
export { runReportCommand } from './cli/reportCommand.js';
export { SHOW_CURSOR, SIGNAL_EXIT_STATUS, restoreTerminal, trapInterrupts } from './cli/interrupts.js';
export type { CommandIo } from './cli/documentOutputs.js';
// harness/: the matrix, workloads, the implementations measured, the memory check
export { BENCH_SPACES, applyFilter, defaultThreadCounts, workloadKey } from './harness/scenarios.js';
export { placeDirty } from './harness/placement.js';
export { benchBitmap, buildWorkload, workloadPlan } from './harness/workload.js';
export { FIT_FRACTION, WORKER_BYTES, checkMemory, estimateMemory, planBytes } from './harness/memoryBudget.js';
export { benchPlan, cellBudgets } from './harness/runner.js';
export { deriveRecords } from './harness/metrics.js';
export type { Measurement } from './harness/metrics.js';
export { fillBitRuns, orReduceLowWords } from './harness/kernels.js';
export { PerBitAtomicBitmap, pteFormats, sourceMemory } from './harness/impls.js';
// output/: the result file, the table, Markdown, charts, output paths
export { keptSamples, MAX_KEPT_SAMPLES, medianIntervalMs, recordFlags, toJson } from './output/schema.js';
export { toJsonText, toolVersion } from './output/document.js';
export { REPORT_SCHEMA_VERSION } from './output/reportDocument.js';
export type { ReportDocument } from './output/reportDocument.js';
export { MIGRATE_SCHEMA_VERSION } from './output/migrateDocument.js';
export type { MigrateDocument } from './output/migrateDocument.js';
export { REGRESSION_EXIT_STATUS, compareRuns, mannWhitneyU, renderComparison } from './output/compare.js';
export type { Comparison } from './output/compare.js';
export { EtaEstimator, formatDuration } from './output/eta.js';
export { renderTable } from './output/table.js';
export { renderMarkdown } from './output/markdown.js';
export { chartsOf, renderSvg, sweepChart, type SweepCell } from './output/charts.js';
export { makeDirs } from './output/outputPaths.js';
export { buildNativeWalk, runNativeWalk } from './harness/nativeWalk.js';
