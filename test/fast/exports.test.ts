/**
 * What each package exports is a decision written down here: the names (values and types) of its
 * public entry (`@iovabitmap/<pkg>`, src/index.ts: what the README documents) and of its internal
 * entry (`@iovabitmap/<pkg>/internal`, src/internal.ts: what the other packages and the tests use,
 * with no compatibility promise). A name added to or dropped from an entry fails this test until
 * the list below says so.
 *
 * The names come from the TypeScript compiler (one program over the six entries, resolved through
 * the private `@iovabitmap/source` condition as the tests run them), so type-only exports count
 * too. Also checked: both entries are in each package.json with the same three conditions (and in
 * its `publishConfig.exports` without the private one, which is what gets published), the two
 * lists of a package do not overlap, and every public name carries TSDoc where it is declared.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Names {
  readonly values: readonly string[];
  readonly types: readonly string[];
}

/** The expected names, sorted, per package and entry. */
const EXPECTED: Record<string, { public: Names; internal: Names }> = {
  core: {
    public: {
      values: ['IoPageTable', 'IovaBitmap', 'IovaBitmapError', 'MAX_BITMAP_BITS', 'PTE_FORMATS', 'VfTracker', 'reportDirty'],
      types: [
        'BitmapWindow',
        'DirtySource',
        'DirtySourceShared',
        'IoMapOptions',
        'IoPageTableMemoryStats',
        'IoPageTableOptions',
        'IovaBitmapErrorData',
        'IovaBitmapOptions',
        'IovaErrorCode',
        'IovaRange',
        'PteFormat',
        'ReportChunk',
        'ReportDirtyOptions',
        'ReportOptions',
        'ReportStats',
        'SharedIoPageTable',
        'SharedIovaBitmap',
        'SegmentMemory',
        'SharedVfTracker',
        'SourceStats',
        'U64Like',
        'VfDeviceLimits',
        'VfTrackerLimits',
        'VfTrackerStartOptions',
        'VfTrackerStartResult',
        'WorkProfile',
      ],
    },
    internal: {
      values: [
        'BITMAP_PAGE_BYTES',
        'BITMAP_SUMMARY',
        'DEFAULT_WINDOW_PAGES',
        'GIB',
        'GiB',
        'KIB',
        'KiB',
        'MAX_TABLE_BYTES',
        'MAX_TRACKER_BYTES',
        'MIB',
        'MiB',
        'PAGE_MASK_BIG',
        'PAGE_SHIFT',
        'PAGE_SHIFT_BIG',
        'PAGE_SIZE',
        'PAGE_SIZE_BIG',
        'TIB',
        'TiB',
        'U64_LIMIT',
        'U64_MAX',
        'addSourceStats',
        'bitmapViews',
        'deferMarks',
        'checkInt',
        'checkReportRequest',
        'codecOf',
        'combineIovaRanges',
        'computeWindows',
        'ctz32',
        'describeValue',
        'dirtySourceFromShared',
        'emptySourceStats',
        'lastAtOrBefore',
        'leafSkipFor',
        'log2Exact',
        'markWritten',
        'newSegmentMemory',
        'orBitRun',
        'pageIova',
        'pageOf',
        'pageTableBytesFor',
        'readLeafTables',
        'readMasks',
        'readRuns',
        'recordRuns',
        'sameMemoryOptions',
        'summaryClean',
        'toU64',
        'wasmBitmapBytes',
        'wasmSegments',
      ],
      types: ['BitSummary', 'BitmapViews', 'InternalIovaBitmapOptions', 'LeafSkip', 'RunSink', 'SummaryOption', 'TableMapping'],
    },
  },
  workers: {
    public: {
      values: [
        'DEVICE_PATTERNS',
        'DeviceSimulator',
        'MAX_POOL_THREADS',
        'MAX_PRECOPY_ROUNDS',
        'MigrateError',
        'ReportPool',
        'ReportedRounds',
        'WriteEpochs',
        'mappingUnitMap',
        'migrate',
        'trackerUnitMap',
        'unitMapOf',
        'verifyMigration',
      ],
      types: [
        'ConvergenceReason',
        'DeviceAttachOptions',
        'DevicePatternName',
        'DevicePatternStats',
        'DeviceRegion',
        'DeviceSimulatorOptions',
        'DeviceStartOptions',
        'DeviceState',
        'DeviceStats',
        'DowntimeParts',
        'LeafMapping',
        'MigrateConvergence',
        'MigrateDevice',
        'MigrateOptions',
        'MigratePool',
        'MigrateResult',
        'MigrateRound',
        'MigrateSourceStats',
        'PageUnit',
        'PoolReportOptions',
        'PoolReportStats',
        'PoolSourceStats',
        'ReportPoolOptions',
        'ReportPoolStatus',
        'ReportProgress',
        'ReportedChunk',
        'SharedWriteEpochs',
        'TrackerGeometry',
        'UnitMap',
        'VerifyEpochs',
        'VerifyOptions',
        'VerifyResult',
        'WorkerReportStats',
      ],
    },
    internal: {
      values: [
        'ChunkPlan',
        'ControlBlock',
        'DEFAULT_INLINE_BELOW',
        'DeviceEngine',
        'LinkQueue',
        'ModelClock',
        'PendingCalls',
        'Phase',
        'RunCapture',
        'SlotState',
        'StopReason',
        'chunkBitsFor',
        'convergenceStop',
        'countPlan',
        'createPattern',
        'createRng',
        'defaultChunkBits',
        'inlineWork',
        'outlastsBudget',
        'RATE_ROUNDS',
        'predictDowntime',
        'reportPlans',
        'runReportTask',
        'seedFromEnv',
        'startWorker',
        'transferMs',
        'walkCallerShare',
        'warmUpKernels',
        'warmedUpMs',
      ],
      types: ['CountSkip', 'DmaTarget', 'PageRun', 'ReportTask', 'Rng'],
    },
  },
  bench: {
    public: {
      values: ['SCHEMA_VERSION', 'buildMatrix', 'parseBenchFile', 'runBench', 'runCli'],
      types: [
        'BenchFile',
        'DirtyPattern',
        'DocumentHeader',
        'DocumentKind',
        'ImplName',
        'MachineInfo',
        'MatrixOptions',
        'RecordFlag',
        'ResultRecord',
        'RunBenchOptions',
        'RunInfo',
        'RunObserver',
        'RunSpec',
        'Scenario',
        'SourceKind',
        'ToolInfo',
        'WorkloadSpec',
      ],
    },
    internal: {
      values: [
        'BENCH_SPACES',
        'EtaEstimator',
        'FIT_FRACTION',
        'MIGRATE_SCHEMA_VERSION',
        'PerBitAtomicBitmap',
        'REGRESSION_EXIT_STATUS',
        'REPORT_SCHEMA_VERSION',
        'SHOW_CURSOR',
        'SIGNAL_EXIT_STATUS',
        'WORKER_BYTES',
        'applyFilter',
        'benchBitmap',
        'benchPlan',
        'buildNativeWalk',
        'buildProgram',
        'buildWorkload',
        'cellBudgets',
        'chartsOf',
        'checkBenchOutputs',
        'checkMemory',
        'compareRuns',
        'defaultThreadCounts',
        'deriveRecords',
        'devicePageRate',
        'estimateMemory',
        'formatByteRate',
        'formatBytes',
        'fillBitRuns',
        'formatBytesRounded',
        'formatDuration',
        'formatGiBps',
        'formatNsPerPte',
        'formatRate',
        'keptSamples',
        'layoutMappings',
        'makeDirs',
        'mannWhitneyU',
        'MAX_KEPT_SAMPLES',
        'medianIntervalMs',
        'migratePlan',
        'orReduceLowWords',
        'parseByteRate',
        'parseCount',
        'parseCountList',
        'parseRate',
        'parseSize',
        'placeDirty',
        'planBytes',
        'plural',
        'pteFormats',
        'recordFlags',
        'renderComparison',
        'renderMarkdown',
        'renderSvg',
        'renderTable',
        'restoreTerminal',
        'runBenchCommand',
        'runMigrateCommand',
        'runNativeWalk',
        'runReportCommand',
        'significant',
        'sourceMemory',
        'sweepChart',
        'toJson',
        'toJsonText',
        'toolVersion',
        'trapInterrupts',
        'workloadKey',
        'workloadPlan',
      ],
      types: ['CommandIo', 'Comparison', 'Measurement', 'MigrateCommandOptions', 'MigrateDocument', 'ProgramOptions', 'ReportDocument', 'SweepCell'],
    },
  },
};

const PACKAGES = Object.keys(EXPECTED);
const ENTRIES = ['index', 'internal'] as const;
const entryFile = (pkg: string, entry: string): string => `${root}packages/${pkg}/src/${entry}.ts`;

/** One program over every entry; the exports of each, split into values and types, sorted. */
function exportsOfEntries(): { names: Map<string, Names>; undocumented: string[] } {
  const files = PACKAGES.flatMap((p) => ENTRIES.map((e) => entryFile(p, e)));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['@iovabitmap/source'],
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const names = new Map<string, Names>();
  const undocumented: string[] = [];
  for (const file of files) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    const values: string[] = [];
    const types: string[] = [];
    for (const e of checker.getExportsOfModule(module)) {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      (target.flags & ts.SymbolFlags.Value ? values : types).push(e.name);
      const documented = target.getDocumentationComment(checker).length > 0 || target.getJsDocTags(checker).length > 0;
      if (file.endsWith('/index.ts') && !documented) undocumented.push(`${file.slice(root.length)}: ${e.name}`);
    }
    names.set(file, { values: values.sort(), types: types.sort() });
  }
  return { names, undocumented };
}

describe('the exports of each package', () => {
  const { names, undocumented } = exportsOfEntries();

  it.each(PACKAGES)('@iovabitmap/%s exports exactly the listed names from its public and internal entries', (pkg) => {
    const sorted = (n: Names): Names => ({ values: [...n.values].sort(), types: [...n.types].sort() });
    expect({ public: names.get(entryFile(pkg, 'index')), internal: names.get(entryFile(pkg, 'internal')) }).toEqual({
      public: sorted(EXPECTED[pkg]!.public),
      internal: sorted(EXPECTED[pkg]!.internal),
    });
  });

  it.each(PACKAGES)('@iovabitmap/%s: no name is in both entries', (pkg) => {
    const pub = EXPECTED[pkg]!.public;
    const both = [...pub.values, ...pub.types].filter((n) => [...EXPECTED[pkg]!.internal.values, ...EXPECTED[pkg]!.internal.types].includes(n));
    expect(both).toEqual([]);
  });

  it.each(PACKAGES)('@iovabitmap/%s: package.json exports "." and "./internal" with the @iovabitmap/source, types and default conditions', (pkg) => {
    const json = JSON.parse(readFileSync(`${root}packages/${pkg}/package.json`, 'utf8')) as { exports: unknown };
    const entry = (f: string) => ({ '@iovabitmap/source': `./src/${f}.ts`, types: `./dist/${f}.d.ts`, default: `./dist/${f}.js` });
    expect(json.exports).toEqual({ '.': entry('index'), './internal': entry('internal') });
  });

  it.each(PACKAGES)('@iovabitmap/%s: publishConfig.exports (what pnpm publishes) is the same without the private condition', (pkg) => {
    const json = JSON.parse(readFileSync(`${root}packages/${pkg}/package.json`, 'utf8')) as { publishConfig?: { exports?: unknown } };
    const entry = (f: string) => ({ types: `./dist/${f}.d.ts`, default: `./dist/${f}.js` });
    expect(json.publishConfig?.exports).toEqual({ '.': entry('index'), './internal': entry('internal') });
  });

  it('every public name carries TSDoc where it is declared', () => {
    expect(undocumented).toEqual([]);
  });
});
