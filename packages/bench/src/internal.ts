/**
 * @iovabitmap/bench/internal — what the tests use of bench beyond its public surface
 * (./index.ts). Not for applications: no compatibility promise; names here may change or go with
 * any release.
 *
 * Grouped by folder. The public names are not repeated here: import those from
 * `@iovabitmap/bench`.
 */
// human units
export {
  formatBytes,
  formatBytesRounded,
  formatGiBps,
  formatMs,
  formatNsPerPte,
  formatPercent,
  formatRate,
  formatRatio,
  parseByteRate,
  parseCount,
  parseCountList,
  parseRate,
  parseSize,
  significant,
} from './units.js';
export type { CountBounds, RateBounds } from './units.js';
// cli/: the commander program and the three commands
export { buildProgram } from './cli/program.js';
export type { ProgramOptions } from './cli/program.js';
export { checkReportGeometry, runReportCommand } from './cli/reportCommand.js';
export type { ReportCommandOptions } from './cli/reportCommand.js';
export { devicePageRate, layoutMappings, migratePlan, runMigrateCommand } from './cli/migrateCommand.js';
export type { MigrateCommandOptions } from './cli/migrateCommand.js';
export { checkBenchOutputs, runBenchCommand } from './cli/benchCommand.js';
export type { BenchCommandOptions } from './cli/benchCommand.js';
// harness/: the matrix, workloads, the implementations measured, the memory check
export {
  BENCH_BITMAP_PAGE_BYTES,
  BENCH_DENSITIES,
  BENCH_IOVA_BASE,
  BENCH_PATTERNS,
  BENCH_SOURCES,
  BENCH_SPACES,
  BENCH_TRACKER_PAGE_BYTES,
  applyFilter,
  defaultThreadCounts,
  spaceLabel,
  workloadKey,
} from './harness/scenarios.js';
export type { SpaceSpec } from './harness/scenarios.js';
export { CLUSTER_UNITS, placeDirty } from './harness/placement.js';
export { benchBitmap, buildWorkload, workloadPlan } from './harness/workload.js';
export type { Workload } from './harness/workload.js';
export { FIT_FRACTION, WORKER_BYTES, checkMemory, combinePlans, estimateMemory, machineMemory, planBytes } from './harness/memoryBudget.js';
export type { MachineMemory, MemoryPart, MemoryPlan } from './harness/memoryBudget.js';
export { PER_BIT_MAX_BITS, benchPlan, cellLabel } from './harness/runner.js';
export { deriveRecords } from './harness/metrics.js';
export type { Measurement, WorkloadFacts } from './harness/metrics.js';
export { orReduceLowWords, setBitsOneByOne } from './harness/kernels.js';
export { PerBitAtomicBitmap, createPageTable, createTracker, openEngine, pteFormats, readViews, sourceMemory } from './harness/impls.js';
export type { DmaWritable, Engine, EngineStats, PageTableSpec, TrackerSpec } from './harness/impls.js';
// output/: the result file, the table, Markdown, charts, progress, output paths
export { IMPL_NAMES, machineInfo, machineLine, toJson } from './output/schema.js';
export { measurementLine, silentObserver, terminalObserver } from './output/progress.js';
export { RESULT_COLUMNS, byGroup } from './output/columns.js';
export type { ResultColumn } from './output/columns.js';
export { renderTable } from './output/table.js';
export { renderMarkdown } from './output/markdown.js';
export { chartsOf, densityChart, renderSvg, threadsChart, writeCharts } from './output/charts.js';
export type { ChartSpec } from './output/charts.js';
export { checkOutputDir, checkOutputFile, makeDirs, writeOutputFile } from './output/outputPaths.js';
