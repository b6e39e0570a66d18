/**
 * @iovabitmap/bench — the whole public surface, listed by name.
 *
 * The benchmark harness (scenario matrix, workloads, tinybench runner, derived metrics), its
 * outputs (versioned JSON, terminal table, Markdown, SVG charts), human units, and the
 * `iovabitmap` command line (report | migrate | bench). The CLI entry itself is ./cli/main.ts (it runs
 * on import); {@link buildProgram} and {@link runCli} are the programmatic way in.
 */
export { formatBytes, formatBytesRounded, formatGiBps, formatMs, formatNsPerPte, formatPercent, formatRate, formatRatio, parseByteRate, parseCount, parseCountList, parseRate, parseSize, significant } from './units.js';
export type { CountBounds, RateBounds } from './units.js';
export { IMPL_NAMES, SCHEMA_VERSION, machineInfo, machineLine, parseBenchFile, toJson } from './output/schema.js';
export type { BenchFile, DirtyPattern, ImplName, MachineInfo, ResultRecord, RunInfo, SourceKind } from './output/schema.js';
export {
  BENCH_BITMAP_PAGE_BYTES,
  BENCH_DENSITIES,
  BENCH_IOVA_BASE,
  BENCH_PATTERNS,
  BENCH_SOURCES,
  BENCH_SPACES,
  BENCH_TRACKER_PAGE_BYTES,
  applyFilter,
  buildMatrix,
  defaultThreadCounts,
  spaceLabel,
  workloadKey,
} from './harness/scenarios.js';
export type { MatrixOptions, RunSpec, Scenario, SpaceSpec, WorkloadSpec } from './harness/scenarios.js';
export { CLUSTER_UNITS, placeDirty } from './harness/placement.js';
export { benchBitmap, buildWorkload, workloadPlan } from './harness/workload.js';
export { FIT_FRACTION, WORKER_BYTES, checkMemory, combinePlans, estimateMemory, machineMemory, planBytes } from './harness/memoryBudget.js';
export type { MachineMemory, MemoryPart, MemoryPlan } from './harness/memoryBudget.js';
export type { Workload } from './harness/workload.js';
export { PER_BIT_MAX_BITS, benchPlan, cellLabel, runBench } from './harness/runner.js';
export type { RunBenchOptions } from './harness/runner.js';
export { deriveRecords } from './harness/metrics.js';
export type { Measurement, WorkloadFacts } from './harness/metrics.js';
export { orReduceLowWords, setBitsOneByOne } from './harness/kernels.js';
export { PerBitAtomicBitmap, createPageTable, createTracker, openEngine, pteFormats, readViews, sourceMemory } from './harness/impls.js';
export type { DmaWritable, Engine, EngineStats, PageTableSpec, TrackerSpec } from './harness/impls.js';
export { measurementLine, silentObserver, terminalObserver } from './output/progress.js';
export type { RunObserver } from './output/progress.js';
export { RESULT_COLUMNS, byGroup } from './output/columns.js';
export type { ResultColumn } from './output/columns.js';
export { renderTable } from './output/table.js';
export { renderMarkdown } from './output/markdown.js';
export { chartsOf, densityChart, renderSvg, threadsChart, writeCharts } from './output/charts.js';
export type { ChartSpec } from './output/charts.js';
export { buildProgram, runCli } from './cli/program.js';
export { runReportCommand, checkReportGeometry } from './cli/reportCommand.js';
export type { ReportCommandOptions } from './cli/reportCommand.js';
export { checkBenchOutputs, runBenchCommand } from './cli/benchCommand.js';
export { checkOutputDir, checkOutputFile, makeDirs, writeOutputFile } from './output/outputPaths.js';
export type { BenchCommandOptions } from './cli/benchCommand.js';
export { devicePageRate, layoutMappings, migratePlan, runMigrateCommand } from './cli/migrateCommand.js';
export type { MigrateCommandOptions } from './cli/migrateCommand.js';
