/**
 * @iovabitmap/bench — the whole public surface, listed by name.
 *
 * The benchmark harness (scenario matrix, workloads, tinybench runner, derived metrics), its
 * outputs (versioned JSON, terminal table, Markdown, SVG charts), human units, and the
 * `iovabitmap` command line (report | migrate | bench). The CLI entry itself is ./cli.ts (it runs
 * on import); {@link buildProgram} and {@link runCli} are the programmatic way in.
 */
export { formatBytes, formatBytesRounded, formatGiBps, formatMs, formatNsPerPte, formatPercent, formatRate, formatRatio, parseByteRate, parseCount, parseCountList, parseRate, parseSize, significant } from './units.js';
export type { CountBounds, RateBounds } from './units.js';
export { IMPL_NAMES, SCHEMA_VERSION, machineInfo, machineLine, parseBenchFile, toJson } from './schema.js';
export type { BenchFile, DirtyPattern, ImplName, MachineInfo, ResultRecord, RunInfo, SourceKind } from './schema.js';
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
} from './scenarios.js';
export type { MatrixOptions, RunSpec, Scenario, SpaceSpec, WorkloadSpec } from './scenarios.js';
export { CLUSTER_UNITS, placeDirty } from './placement.js';
export { benchBitmap, buildWorkload } from './workload.js';
export type { Workload } from './workload.js';
export { PER_BIT_MAX_BITS, cellLabel, runBench } from './runner.js';
export type { RunBenchOptions } from './runner.js';
export { deriveRecords } from './metrics.js';
export type { Measurement, WorkloadFacts } from './metrics.js';
export { orReduceLowWords, setBitsOneByOne } from './kernels.js';
export { PerBitAtomicBitmap, createPageTable, createTracker, openEngine, pteFormats, readViews, sourceMemory } from './impls.js';
export type { DmaWritable, Engine, EngineStats, PageTableSpec, TrackerSpec } from './impls.js';
export { measurementLine, silentObserver, terminalObserver } from './progress.js';
export type { RunObserver } from './progress.js';
export { RESULT_COLUMNS, byGroup } from './columns.js';
export type { ResultColumn } from './columns.js';
export { renderTable } from './table.js';
export { renderMarkdown } from './markdown.js';
export { chartsOf, densityChart, renderSvg, threadsChart, writeCharts } from './charts.js';
export type { ChartSpec } from './charts.js';
export { buildProgram, runCli } from './program.js';
export { runReportCommand, checkReportGeometry } from './reportCommand.js';
export type { ReportCommandOptions } from './reportCommand.js';
export { runBenchCommand } from './benchCommand.js';
export type { BenchCommandOptions } from './benchCommand.js';
export { layoutMappings, runMigrateCommand } from './migrateCommand.js';
export type { MigrateCommandOptions } from './migrateCommand.js';
export { buildNativeWalk, defaultCompilers, runNativeWalk } from './nativeWalk.js';
export type { NativeKernelTimes, NativeWalk, NativeWalkResult, NoNativeWalk } from './nativeWalk.js';
