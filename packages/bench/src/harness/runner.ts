/**
 * The benchmark runner: builds each scenario's workload, measures each implementation with
 * tinybench, and turns the medians into result records.
 *
 * Theory of operation
 * -------------------
 * For every scenario (./scenarios.ts), in order:
 * 1. The workload (./workload.ts) is built once per `workloadKey` and dropped after the last
 *    scenario that needs it, so at most the workloads still ahead are held in memory.
 * 2. Each (workload, implementation, threads) is measured once: a later scenario listing the same
 *    cell reuses the measurement (so the `leaf` group's baseline is the `density` group's 1% cell).
 * 3. One tinybench `Bench` per cell, one task. Every iteration first restores the dirty state and
 *    clears the bitmap (`workload.restore()`), then runs one report. The restore is outside the
 *    sample: the task returns `overriddenDuration` = the report's own walk time (`elapsedMs` of
 *    `reportDirty` / `ReportPool.report`, which leaves out argument validation and the bit
 *    counting both do on the main thread) and `overriddenIterationCost` = the whole iteration, so
 *    tinybench's time budget includes the restore and a slow restore cannot stretch a cell to
 *    hundreds of iterations (docs/design/toolchain.md §7). The wall time of the whole call is
 *    kept too (`medianCallMs`).
 * 4. Every timed report is checked: its `bitsSet` must equal the workload's `bitsExpected`
 *    (computed from the placement, not from any reporter), and `per-bit-atomic` must really have
 *    written through its per-bit writer. A mismatch aborts the run: a wrong report has no speed.
 * 5. The medians of the scenario become records (./metrics.ts), with every timed sample kept
 *    (`samplesMs`: the Mann-Whitney test of `bench --compare` and the charts' error bars use them).
 * An abort (`signal`: the CLI's Ctrl-C) stops the report in flight within a chunk (the signal goes
 * to the engine's report and to tinybench); runBench then resolves, not rejects, with the cells
 * measured so far and `complete: false`. The steps are named functions below: openRun,
 * measureScenario, workloadFor, cellMeasurement, measureCell, benchFile.
 *
 * Implementations: `engine` = ReportPool at the cell's thread count (one pool per thread count,
 * kept across cells and closed at the end; tinybench's warm-up runs the pool's first, slower
 * walks), `engine-flat` = the same pool on the workload's bitmap without the summary layer
 * (./workload.ts flatBitmap), `sequential` = reportDirty, `per-bit-atomic` = reportDirty over ./impls.ts
 * PerBitAtomicBitmap (skipped above {@link PER_BIT_MAX_BITS} bits per report: one atomic per bit
 * would take seconds per iteration), `read-limit` = ./kernels.ts orReduceLowWords over the
 * sources' memory (./impls.ts readViews); the yardsticks of the `scale` group: `bitmap-pass` =
 * ./kernels.ts orReduceWords over the bitmap's words (one plain read pass over its memory),
 * `dirty-fill` = ./kernels.ts fillBitRuns of the dirty set into the flat bitmap's bytes (it has no
 * summary to keep true, and every `engine-flat` report clears it first). The yardsticks return no
 * bit count and do not restore.
 */
import { Bench } from 'tinybench';
import { reportDirty, IovaBitmapError, type IovaBitmap, type ReportStats } from '@iovabitmap/core';
import { openEngine, PerBitAtomicBitmap, type Engine } from './impls.js';
import { bitmapViews } from '@iovabitmap/core/internal';
import { fillBitRuns, orReduceLowWords, orReduceWords } from './kernels.js';
import { deriveRecords, type Measurement, type WorkloadFacts } from './metrics.js';
import { silentObserver, type RunObserver } from '../output/progress.js';
import { type Scenario, type RunSpec, BENCH_BITMAP_PAGE_BYTES } from './scenarios.js';
import { SCHEMA_VERSION, onPool, type BenchFile, type ResultRecord } from '../output/schema.js';
import { documentHeader } from '../output/document.js';
import { combinePlans, planBytes, type MemoryPlan } from './memoryBudget.js';
import { buildWorkload, workloadPlan, type Workload } from './workload.js';

/** Index of the last scenario that needs each workload: the runner drops the workload after it. */
function lastUses(scenarios: readonly Scenario[]): Map<string, number> {
  const last = new Map<string, number>();
  scenarios.forEach((s, i) => last.set(s.workloadKey, i));
  return last;
}

/**
 * What {@link runBench} will hold at its peak (./memoryBudget.ts): the workloads alive together
 * when the most memory is (built on first use, dropped after last use, as the runner does), and
 * one pool per engine thread count (kept to the end).
 */
export function benchPlan(scenarios: readonly Scenario[]): MemoryPlan {
  const last = lastUses(scenarios);
  const alive = new Map<string, MemoryPlan>();
  let peak: MemoryPlan = {};
  let peakBytes = -1;
  scenarios.forEach((s, i) => {
    if (!alive.has(s.workloadKey)) alive.set(s.workloadKey, workloadPlan(s.workload, scenarios.some((o) => o.workloadKey === s.workloadKey && o.runs.some((r) => usesFlat(r.impl)))));
    const now = combinePlans([...alive.values()]);
    const bytes = planBytes(now);
    if (bytes > peakBytes) [peak, peakBytes] = [now, bytes];
    if (last.get(s.workloadKey) === i) alive.delete(s.workloadKey);
  });
  const engineThreads = new Set(scenarios.flatMap((s) => s.runs.filter((r) => onPool(r.impl)).map((r) => r.threads)));
  return combinePlans([peak, { workers: [...engineThreads].reduce((n, t) => n + t, 0) }]);
}

/** The implementations that need the workload's flat bitmap. */
const usesFlat = (impl: string): boolean => impl === 'engine-flat' || impl === 'dirty-fill';

/**
 * per-bit-atomic is skipped when a report sets more bits than this: 2^26 (most of a second per
 * report; figures: docs/bench/limits.md §9.4).
 */
export const PER_BIT_MAX_BITS = 2 ** 26;

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  /** The scenarios to measure (./scenarios.ts buildMatrix). */
  readonly scenarios: readonly Scenario[];
  /** tinybench time budget per cell, ms (restores included). @defaultValue 500 */
  readonly timeMs?: number;
  /** Minimum timed iterations per cell. @defaultValue 5 */
  readonly minIterations?: number;
  /** Warm-up budget per cell, ms. @defaultValue 100 */
  readonly warmupMs?: number;
  /** Minimum warm-up iterations per cell. @defaultValue 2 */
  readonly warmupIterations?: number;
  /** Progress. @defaultValue silentObserver */
  readonly observer?: RunObserver;
  /**
   * Stops the run: the report in flight stops within a chunk, and {@link runBench} resolves with
   * the cells measured so far and `complete: false` (it does not reject).
   */
  readonly signal?: AbortSignal;
  /** Recorded in the file: full matrix? @defaultValue false */
  readonly full?: boolean;
  /** Recorded in the file: the filter. */
  readonly filter?: string;
  /** Recorded in the file: engine thread counts. */
  readonly threads: readonly number[];
  /** Recorded in the file: the workload seed. */
  readonly seed: number;
}

/** A short label for one cell: `scenario impl×threads`. */
export function cellLabel(scenario: Scenario, run: RunSpec): string {
  return `${scenario.id} ${run.impl}${onPool(run.impl) ? `×${run.threads}` : ''}`;
}

interface CellTiming {
  readonly report: () => Promise<{ walkMs: number; bitsSet: number | undefined }>;
  readonly verify?: (bitsSet: number | undefined) => void;
  /** The bitmap restored (cleared) before each report, or `undefined` for none. */
  readonly restores: IovaBitmap | undefined;
}

/** Where the read limit's OR goes, so that the read cannot be optimised away. */
let readSink = 0;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** tinybench settings of every cell of a run. */
interface CellSettings {
  readonly timeMs: number;
  readonly minIterations: number;
  readonly warmupMs: number;
  readonly warmupIterations: number;
  readonly signal: AbortSignal | undefined;
}

/** The state of one run, shared by its steps. */
interface BenchRun {
  readonly options: RunBenchOptions;
  readonly settings: CellSettings;
  readonly observer: RunObserver;
  /** Index of the last scenario that needs each workload. */
  readonly lastUse: Map<string, number>;
  /** Workloads alive, by key. */
  readonly workloads: Map<string, Workload>;
  /** Measurements made, by `workloadKey|impl|threads`: a cell listed twice is measured once. */
  readonly measured: Map<string, Measurement>;
  /** One engine per thread count, kept to the end. */
  readonly engines: Map<number, Engine>;
  readonly results: ResultRecord[];
  readonly notes: string[];
}

const measurementKey = (scenario: Scenario, run: RunSpec): string => `${scenario.workloadKey}|${run.impl}|${run.threads}`;

/**
 * The time budget of each planned cell, in run order (warm-up plus timed budget; 0 for a cell
 * that reuses an earlier measurement): the progress bar's ETA is estimated from it
 * (../output/eta.ts).
 */
export function cellBudgets(scenarios: readonly Scenario[], s: Pick<CellSettings, 'timeMs' | 'warmupMs'>): number[] {
  const seen = new Set<string>();
  return scenarios.flatMap((sc) =>
    sc.runs.map((r) => {
      const key = measurementKey(sc, r);
      if (seen.has(key)) return 0;
      seen.add(key);
      return s.warmupMs + s.timeMs;
    }),
  );
}

/**
 * Runs the scenarios and returns the bench file (see the module comment). Aborted through
 * `options.signal`, it resolves with what was measured and `complete: false`.
 * @throws IovaBitmapError `EIO` when a report sets the wrong number of bits, and the sources' and
 *   engine's own errors.
 */
export async function runBench(options: RunBenchOptions): Promise<BenchFile> {
  const t0 = performance.now();
  const started = new Date();
  const run = openRun(options);
  const total = options.scenarios.reduce((n, s) => n + s.runs.length, 0);
  run.observer.start(total, cellBudgets(options.scenarios, run.settings));
  let complete = true;
  try {
    for (const [i, scenario] of options.scenarios.entries()) {
      await yieldToEventLoop();
      if (options.signal?.aborted) throw aborted('the run');
      await measureScenario(run, scenario, i);
    }
  } catch (e) {
    if (options.signal?.aborted !== true) throw e;
    complete = false;
    run.notes.push('interrupted: the results hold the cells measured until then');
  } finally {
    run.observer.stop();
    await Promise.all([...run.engines.values()].map((e) => e.close()));
  }
  return benchFile(run, started, performance.now() - t0, complete);
}

/** Lets the event loop run (signal handlers, timers): outside every timed region. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function aborted(what: string): IovaBitmapError {
  return new IovaBitmapError('ECANCELED', `${what}: the benchmark was aborted`);
}

/** Step 1: the run's state and settings, from the options and their defaults. */
function openRun(options: RunBenchOptions): BenchRun {
  return {
    options,
    settings: {
      timeMs: options.timeMs ?? 500,
      minIterations: options.minIterations ?? 5,
      warmupMs: options.warmupMs ?? 100,
      warmupIterations: options.warmupIterations ?? 2,
      signal: options.signal,
    },
    observer: options.observer ?? silentObserver,
    lastUse: lastUses(options.scenarios),
    workloads: new Map(),
    measured: new Map(),
    engines: new Map(),
    results: [],
    notes: [],
  };
}

/** Step 2: one scenario: its workload, each cell, its records (also those of a scenario cut short by an abort). */
async function measureScenario(run: BenchRun, scenario: Scenario, index: number): Promise<void> {
  const w = workloadFor(run, scenario);
  const facts: WorkloadFacts = {
    leafEntries: w.leafEntries,
    dirtyUnits: w.dirtyUnits,
    bitsExpected: w.bitsExpected,
    trackerPageBytes: w.trackerPageBytes,
    bitmapPageBytes: BENCH_BITMAP_PAGE_BYTES,
  };
  const ms: Measurement[] = [];
  try {
    for (const spec of scenario.runs) {
      const m = await cellMeasurement(run, scenario, spec, w);
      if (m === undefined) continue;
      ms.push(m);
      run.observer.measured(cellLabel(scenario, spec), deriveRecords(scenario, facts, [m])[0]!);
    }
  } finally {
    run.results.push(...deriveRecords(scenario, facts, ms));
    if (run.lastUse.get(scenario.workloadKey) === index) run.workloads.delete(scenario.workloadKey);
  }
}

/** Step 3: the scenario's workload, built on first use (dropped after its last use by measureScenario). */
function workloadFor(run: BenchRun, scenario: Scenario): Workload {
  let w = run.workloads.get(scenario.workloadKey);
  if (w === undefined) {
    run.observer.measuring(`${scenario.id}: building the workload`);
    w = buildWorkload(scenario.workload);
    run.workloads.set(scenario.workloadKey, w);
  }
  return w;
}

/** Step 4: one cell: measured now, reused from an earlier scenario, or skipped (`undefined`, with a note). */
async function cellMeasurement(run: BenchRun, scenario: Scenario, spec: RunSpec, w: Workload): Promise<Measurement | undefined> {
  const label = cellLabel(scenario, spec);
  const key = measurementKey(scenario, spec);
  const known = run.measured.get(key);
  if (known !== undefined) return known;
  if (run.settings.signal?.aborted) throw aborted(label);
  const skip = skipReason(spec, w);
  if (skip !== undefined) {
    run.notes.push(`skipped ${label}: ${skip}`);
    run.observer.skipped(label, skip);
    return undefined;
  }
  run.observer.measuring(label);
  const engine = onPool(spec.impl) ? await engineFor(run, spec.threads) : undefined;
  const m = await measureCell(w, spec, engine, { ...run.settings, label });
  run.measured.set(key, m);
  return m;
}

/** The engine at `threads`, started on first use. */
async function engineFor(run: BenchRun, threads: number): Promise<Engine> {
  let e = run.engines.get(threads);
  if (e === undefined) run.engines.set(threads, (e = await openEngine(threads)));
  return e;
}

/** Step 5: the document. */
function benchFile(run: BenchRun, started: Date, wallMs: number, complete: boolean): BenchFile {
  const o = run.options;
  return {
    ...documentHeader('bench', SCHEMA_VERSION, complete, started),
    run: {
      full: o.full ?? false,
      filter: o.filter ?? null,
      threads: [...o.threads],
      timeMs: run.settings.timeMs,
      minIterations: run.settings.minIterations,
      seed: o.seed,
      wallMs,
      notes: run.notes,
      warmupMs: run.settings.warmupMs,
    },
    results: run.results,
  };
}

function skipReason(run: RunSpec, w: Workload): string | undefined {
  if (run.impl === 'per-bit-atomic' && w.bitsExpected > PER_BIT_MAX_BITS) {
    return `${w.bitsExpected} bits per report is above the per-bit limit of 2^26`;
  }
  return undefined;
}

function cellTiming(w: Workload, run: RunSpec, engine: Engine | undefined, label: string, signal: AbortSignal | undefined): CellTiming {
  const checkBits = (bitsSet: number | undefined): void => {
    if (bitsSet !== w.bitsExpected) {
      throw new IovaBitmapError('EIO', `${label}: the report set ${bitsSet} bits, the workload has ${w.bitsExpected}`, {
        details: { expected: w.bitsExpected, got: String(bitsSet) },
      });
    }
  };
  const fromStats = (s: ReportStats) => ({ walkMs: s.elapsedMs, bitsSet: s.bitsSet });
  /** A yardstick: a timed loop, no restore, no bit count. */
  const timed = (loop: () => number): CellTiming => ({
    restores: undefined,
    report: async () => {
      const t = performance.now();
      const acc = loop();
      const walkMs = performance.now() - t;
      readSink ^= acc;
      return { walkMs, bitsSet: undefined };
    },
  });
  const onEngine = (bitmap: IovaBitmap): CellTiming => ({
    restores: bitmap,
    verify: checkBits,
    report: async () => fromStats(await engine!.report({ bitmap, sources: w.sources, ...(signal === undefined ? {} : { signal }) })),
  });
  switch (run.impl) {
    case 'engine':
      return onEngine(w.bitmap);
    case 'engine-flat':
      return onEngine(w.flatBitmap());
    case 'sequential':
      return { restores: w.bitmap, verify: checkBits, report: async () => fromStats(reportDirty({ bitmap: w.bitmap, sources: w.sources })) };
    case 'per-bit-atomic': {
      const bitmap = new PerBitAtomicBitmap(w.bitmap);
      return {
        restores: w.bitmap,
        verify: (bitsSet) => {
          checkBits(bitsSet);
          if (w.bitsExpected > 0 && bitmap.perBitWrites < w.bitsExpected) {
            throw new IovaBitmapError('EIO', `${label}: the sources wrote ${bitmap.perBitWrites} bits through the per-bit writer, expected at least ${w.bitsExpected}`);
          }
          bitmap.perBitWrites = 0;
        },
        report: async () => fromStats(reportDirty({ bitmap, sources: w.sources })),
      };
    }
    case 'read-limit': {
      const views = w.readViews;
      return timed(() => {
        let acc = 0;
        for (const v of views) acc |= orReduceLowWords(v, v.length >>> 1);
        return acc;
      });
    }
    case 'bitmap-pass': {
      const { words } = bitmapViews(w.bitmap).views;
      return timed(() => orReduceWords(words));
    }
    case 'dirty-fill': {
      const { words } = bitmapViews(w.flatBitmap()).views;
      const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
      return timed(() => fillBitRuns(bytes, w.dirtyRuns));
    }
  }
}

/**
 * A signal for one cell's Bench that follows the run's: tinybench adds an abort listener to the
 * signal it is given and never removes it, so handing every cell the run's own signal piled up
 * one listener per cell (Node's MaxListenersExceededWarning after 10 cells). `dispose` unlinks it.
 */
function cellSignal(run: AbortSignal | undefined): { readonly signal: AbortSignal | undefined; dispose(): void } {
  if (run === undefined) return { signal: undefined, dispose: () => {} };
  const cell = new AbortController();
  const follow = () => cell.abort(run.reason);
  if (run.aborted) follow();
  else run.addEventListener('abort', follow, { once: true });
  return { signal: cell.signal, dispose: () => run.removeEventListener('abort', follow) };
}

async function measureCell(w: Workload, run: RunSpec, engine: Engine | undefined, o: CellSettings & { readonly label: string }): Promise<Measurement> {
  const timing = cellTiming(w, run, engine, o.label, o.signal);
  const cell = cellSignal(o.signal);
  const bench = new Bench({
    name: o.label,
    time: o.timeMs,
    iterations: o.minIterations,
    warmupTime: o.warmupMs,
    warmupIterations: o.warmupIterations,
    throws: true,
    retainSamples: true,
    ...(cell.signal ? { signal: cell.signal } : {}),
  });
  let callMs: number[] = [];
  bench.add(
    o.label,
    async () => {
      // A synchronous reporter never yields; without this, Ctrl-C would wait for the whole cell.
      await yieldToEventLoop();
      const a = performance.now();
      if (timing.restores !== undefined) w.restore(timing.restores);
      const b = performance.now();
      const { walkMs, bitsSet } = await timing.report();
      const c = performance.now();
      timing.verify?.(bitsSet);
      callMs.push(c - b);
      return { overriddenDuration: walkMs, overriddenIterationCost: c - a };
    },
    {
      beforeAll: (mode) => {
        if (mode === 'run') callMs = [];
      },
    },
  );
  try {
    await bench.run();
  } catch (e) {
    if (o.signal?.aborted) throw aborted(o.label);
    throw e;
  } finally {
    cell.dispose();
  }
  const task = bench.tasks[0]!;
  const r = task.result;
  if (o.signal?.aborted) throw aborted(o.label);
  if (r.state !== 'completed') {
    const why = r.state === 'errored' ? r.error : undefined;
    if (IovaBitmapError.is(why)) throw why;
    throw new IovaBitmapError('EIO', `${o.label}: tinybench ended in state ${r.state}${why ? `: ${why.message}` : ''}`, { cause: why });
  }
  return {
    impl: run.impl,
    threads: run.threads,
    medianMs: r.latency.p50,
    medianCallMs: median(callMs),
    rme: r.latency.rme,
    samples: r.latency.samplesCount,
    samplesMs: [...(r.latency.samples ?? [])],
  };
}
