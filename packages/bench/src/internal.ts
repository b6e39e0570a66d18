/**
 * @iovabitmap/bench/internal — what the tests use of bench beyond its public surface
 * (./index.ts). Not for applications: no compatibility promise; names here may change or go with
 * any release.
 *
 * Grouped by folder. The public names are not repeated here: import those from
 * `@iovabitmap/bench`.
 */
// human units
export { formatBytes, formatBytesRounded, formatGiBps, formatNsPerPte, formatRate, parseByteRate, parseCount, parseCountList, parseRate, parseSize, significant } from './units.js';
// cli/: the commander program (its types are commander's, hence not public) and the commands
export { buildProgram } from './cli/program.js';
export type { ProgramOptions } from './cli/program.js';
export { devicePageRate, layoutMappings, migratePlan, runMigrateCommand } from './cli/migrateCommand.js';
export type { MigrateCommandOptions } from './cli/migrateCommand.js';
export { checkBenchOutputs, runBenchCommand } from './cli/benchCommand.js';
// harness/: the matrix, workloads, the implementations measured, the memory check
export { BENCH_SPACES, applyFilter, defaultThreadCounts, workloadKey } from './harness/scenarios.js';
export { placeDirty } from './harness/placement.js';
export { benchBitmap, buildWorkload, workloadPlan } from './harness/workload.js';
export { FIT_FRACTION, WORKER_BYTES, checkMemory, estimateMemory, planBytes } from './harness/memoryBudget.js';
export { benchPlan } from './harness/runner.js';
export { deriveRecords } from './harness/metrics.js';
export type { Measurement } from './harness/metrics.js';
export { orReduceLowWords } from './harness/kernels.js';
export { PerBitAtomicBitmap, pteFormats, sourceMemory } from './harness/impls.js';
// output/: the result file, the table, Markdown, charts, output paths
export { toJson } from './output/schema.js';
export { renderTable } from './output/table.js';
export { renderMarkdown } from './output/markdown.js';
export { chartsOf, renderSvg } from './output/charts.js';
export { makeDirs } from './output/outputPaths.js';
export { buildNativeWalk, runNativeWalk } from './harness/nativeWalk.js';
