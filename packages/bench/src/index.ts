/**
 * `@iovabitmap/bench`: the public surface, listed by name: what the README documents.
 *
 * The `iovabitmap` command line as a function ({@link runCli}), the benchmark runner over the
 * scenario matrix ({@link buildMatrix}, {@link runBench}) and the versioned result format it writes
 * ({@link SCHEMA_VERSION}, {@link parseBenchFile}; it reads schema versions 1 and 2), with the types
 * those signatures use. The JSON Schemas of the CLI's documents ship in the package's schemas/. The CLI
 * entry itself is ./cli/main.ts (it runs on import). No declaration reachable from here imports a
 * third party's types (test/fast/build.test.ts checks it): commander's program
 * (`buildProgram`) and the vega-lite charts stay internal for that reason.
 *
 * What the tests need beyond this is in ./internal.ts (`@iovabitmap/bench/internal`): no
 * compatibility promise there. test/fast/exports.test.ts lists both entries, so a new export is a
 * decision.
 *
 * @module @iovabitmap/bench
 */
export { runCli } from './cli/runCli.js';
export { buildMatrix } from './harness/scenarios.js';
export type { MatrixOptions, RunSpec, Scenario, WorkloadSpec } from './harness/scenarios.js';
export { runBench } from './harness/runner.js';
export type { RunBenchOptions } from './harness/runner.js';
export type { RunObserver } from './output/progress.js';
export { SCHEMA_VERSION, parseBenchFile } from './output/schema.js';
export type { BenchFile, DirtyPattern, ImplName, MachineInfo, RecordFlag, ResultRecord, RunInfo, SourceKind } from './output/schema.js';
export type { DocumentHeader, DocumentKind, ToolInfo } from './output/document.js';
