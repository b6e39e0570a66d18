/**
 * `iovabitmap bench --compare` (packages/bench/src/output/compare.ts): synthetic result files with
 * known verdicts (faster, slower, ~, missing cells, a density that placed nothing, a v1 file
 * against a v2 one), the Mann-Whitney test against exact values, the exit status 4, and one real
 * same-commit pair (two tiny runs of a cheap cell) that must not show a significant regression.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMatrix, parseBenchFile, runBench, type BenchFile, type ResultRecord } from '@iovabitmap/bench';
import { REGRESSION_EXIT_STATUS, compareRuns, mannWhitneyU, recordFlags, renderComparison, runBenchCommand, toJson } from '@iovabitmap/bench/internal';
import { captureIo } from '../helpers/streams.js';
import { rejectionOf } from '../helpers/rejection.js';

const tmp = mkdtempSync(join(tmpdir(), 'iovabitmap-compare-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Samples around `ms`: n values spread ±spread (deterministic). */
const samples = (ms: number, n = 20, spread = 0.02): number[] => Array.from({ length: n }, (_, i) => ms * (1 + spread * ((i / (n - 1)) * 2 - 1))).sort((a, b) => a - b);

/** A synthetic record of cell `scenario impl` with the given samples. */
function record(scenario: string, impl: ResultRecord['impl'], s: number[], extra: Partial<ResultRecord> = {}): ResultRecord {
  const sorted = [...s].sort((a, b) => a - b);
  const medianMs = sorted[Math.floor(sorted.length / 2)]!;
  const r = {
    scenario,
    group: scenario.split('/')[0]!,
    impl,
    source: 'iommu',
    format: 'vtd-ss',
    leafBytes: 4096n,
    trackerPageBytes: null,
    bitmapPageBytes: 4096n,
    iovaBytes: 64n << 30n,
    density: 0.01,
    pattern: 'uniform',
    threads: 1,
    leafEntries: 1 << 24,
    dirtyUnits: 1000,
    bitsExpected: 1000,
    medianMs,
    medianCallMs: medianMs,
    nsPerPte: (medianMs * 1e6) / (1 << 24),
    gibPerSec: 64 / (medianMs / 1000),
    rme: 1,
    speedupVs1Thread: null,
    speedupVsSequential: null,
    pctOfReadLimit: null,
    poolOverheadPct: null,
    samples: sorted.length,
    samplesMs: sorted,
    flags: [],
    ...extra,
  } as ResultRecord;
  return { ...r, flags: recordFlags(r) };
}

function file(results: ResultRecord[]): BenchFile {
  return {
    document: 'bench',
    schemaVersion: 2,
    tool: { name: 'iovabitmap', command: 'bench', version: '0.1.0' },
    machine: { cpuModel: 'test', cores: 2, totalMemoryBytes: 1n << 34n, node: 'v20', v8: '11', os: 'Linux', date: '2026-01-01T00:00:00.000Z' },
    complete: true,
    run: { full: false, filter: null, threads: [1], timeMs: 300, minIterations: 5, seed: 1, wallMs: 1, notes: [], warmupMs: 100 },
    results,
  };
}

/** The same file as schema v1 JSON (no samples, no header). */
function asV1(f: BenchFile): string {
  const raw = JSON.parse(toJson(f));
  return JSON.stringify({
    schemaVersion: 1,
    tool: 'iovabitmap bench',
    machine: raw.machine,
    run: { ...raw.run, warmupMs: undefined },
    results: raw.results.map((r: Record<string, unknown>) => ({ ...r, samplesMs: undefined, flags: undefined })),
  });
}

describe('mannWhitneyU', () => {
  it('gives the exact two-sided p-values of small samples, ties included', () => {
    // Complete separation of 3 against 3: 2 of the C(6,3) = 20 orderings are as extreme.
    expect(mannWhitneyU([1, 2, 3], [4, 5, 6])).toEqual({ u: 0, p: 0.1 });
    expect(mannWhitneyU([4, 5, 6], [1, 2, 3])).toEqual({ u: 9, p: 0.1 });
    // 2 against 2 can never be significant: p >= 1/3.
    expect(mannWhitneyU([1, 2], [3, 4]).p).toBeCloseTo(1 / 3, 12);
    // 5 against 5, separated: 2 / C(10,5) = 2/252.
    expect(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p).toBeCloseTo(2 / 252, 12);
    // Interleaved: no evidence.
    expect(mannWhitneyU([1, 3, 5, 7], [2, 4, 6, 8]).p).toBeGreaterThan(0.5);
    // All tied: p = 1.
    expect(mannWhitneyU([2, 2, 2], [2, 2]).p).toBe(1);
    // Ties across the samples: exact over the midranks. a = [1, 2, 2], b = [2, 3, 4]: each 2 of a
    // ties one 2 of b (½) and is below 3 and 4, so U = 1.
    const tied = mannWhitneyU([1, 2, 2], [2, 3, 4]);
    expect(tied.u).toBe(1);
    expect(tied.p).toBeGreaterThan(0.1);
  });

  it('agrees with the exact test where the normal approximation takes over', () => {
    const a = samples(10, 40, 0.1);
    const b = samples(10.5, 40, 0.1);
    const big = mannWhitneyU(a, b); // 80 samples: normal approximation
    const exactish = mannWhitneyU(a.filter((_, i) => i % 2 === 0), b.filter((_, i) => i % 2 === 0)); // 40: exact
    expect(big.p).toBeLessThan(0.2);
    expect(exactish.p).toBeGreaterThan(big.p); // fewer samples, weaker evidence
    expect(mannWhitneyU(samples(10, 100), samples(12, 100)).p).toBeLessThan(1e-6);
  });
});

describe('compareRuns on synthetic files', () => {
  const base = file([
    record('density/a', 'sequential', samples(10)),
    record('density/b', 'sequential', samples(10)),
    record('density/c', 'sequential', samples(10)),
    record('density/d', 'sequential', samples(10)),
    record('density/gone', 'sequential', samples(10)),
    record('density/empty', 'sequential', samples(10), { dirtyUnits: 0, bitsExpected: 0, density: 0.005 }),
    record('density/small', 'sequential', [10, 10.2]),
  ]);
  const next = file([
    record('density/a', 'sequential', samples(7)), // faster
    record('density/b', 'sequential', samples(15)), // slower, beyond 10%: regressed
    record('density/c', 'sequential', samples(10.01)), // ~ (overlapping samples)
    record('density/d', 'sequential', samples(10.5)), // slower, but within 10%
    record('density/new', 'sequential', samples(10)),
    record('density/empty', 'sequential', samples(30), { dirtyUnits: 0, bitsExpected: 0, density: 0.005 }),
    record('density/small', 'sequential', [12, 13]), // 2 against 2 samples: cannot be significant (p >= 1/3)
  ]);

  it('gives each cell its verdict, leaves out missing and no-dirty cells, and sums up', () => {
    const c = compareRuns(base, next, 0.1);
    const verdict = Object.fromEntries(c.cells.map((x) => [x.cell, [x.verdict, x.regressed]]));
    expect(verdict).toEqual({
      'density/a sequential': ['faster', false],
      'density/b sequential': ['slower', true],
      'density/c sequential': ['~', false],
      'density/d sequential': ['slower', false],
      'density/small sequential': ['~', false],
    });
    expect(c.cells.every((x) => x.method === 'mann-whitney')).toBe(true);
    expect(c.onlyInBase).toEqual(['density/gone sequential']);
    expect(c.onlyInNew).toEqual(['density/new sequential']);
    expect(c.excluded).toEqual([{ cell: 'density/empty sequential', why: 'its density placed no dirty unit' }]);
    expect(c.counts).toEqual({ faster: 1, slower: 2, '~': 2 });
    expect(c.regressions).toBe(1);
    const ratios = c.cells.map((x) => x.ratio);
    expect(c.geomean).toBeCloseTo(Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length), 12);
    const text = renderComparison(c);
    expect(text).toContain('slower (regressed beyond 10%)');
    expect(text).toContain('only in base: density/gone sequential');
    expect(text).toContain('left out: density/empty sequential');
    expect(text).toMatch(/summary: 5 cells compared, geometric mean of new\/base time [\d.]+× \([+-][\d.]+%\); 1 faster, 2 slower, 2 ~ .*; 1 regressed beyond 10%\n$/);
    // A higher threshold forgives the 50% regression's verdict but not its direction.
    expect(compareRuns(base, next, 0.6).regressions).toBe(0);
  });

  it('judges a v1 file (no samples) by the overlap of median ± rme intervals, and says so', () => {
    const v1 = parseBenchFile(asV1(base));
    const c = compareRuns(v1, next, 0.1);
    expect(c.cells.every((x) => x.method === 'rme-intervals' && x.p === null)).toBe(true);
    const verdict = Object.fromEntries(c.cells.map((x) => [x.cell, x.verdict]));
    expect(verdict['density/b sequential']).toBe('slower'); // 10 ± 1% against 15 ± 1%
    expect(verdict['density/c sequential']).toBe('~'); // 10 ± 1% against 10.01 ± 1%
    // 2 samples against 2: the rank test could not tell, but the synthetic rme of 1% says the medians differ.
    expect(verdict['density/small sequential']).toBe('slower');
    expect(c.regressions).toBe(2);
    expect(c.notes.join('\n')).toContain('schema v1');
    // v1 against v1: the same.
    expect(compareRuns(v1, parseBenchFile(asV1(next)), 0.1).regressions).toBe(2);
  });

  it('the command: two files compare without running, exit status 4 on a regression, 0 without', async () => {
    const [b, n] = [join(tmp, 'base.json'), join(tmp, 'new.json')];
    writeFileSync(b, asV1(base)); // an old file as base
    writeFileSync(n, toJson(next));
    const run = async (...files: string[]): Promise<[number, string]> => {
      const { io, out } = captureIo();
      return [await runBenchCommand({ full: false, list: false, seed: 1, compare: files, threshold: 0.1 }, io), out()];
    };
    const [status, text] = await run(b, n);
    expect(status).toBe(REGRESSION_EXIT_STATUS);
    expect(text).toContain('2 regressed beyond 10%');
    expect((await run(n, n))[0]).toBe(0);
    // Two files and an output: nothing runs, so nothing to write.
    const { io } = captureIo();
    const e = await rejectionOf(runBenchCommand({ full: false, list: false, seed: 1, compare: [b, n], json: join(tmp, 'x.json') }, io));
    expect(e.param).toBe('--json');
    const missing = await rejectionOf(runBenchCommand({ full: false, list: false, seed: 1, compare: [join(tmp, 'nope.json')] }, io));
    expect([missing.code, missing.param]).toEqual(['EINVAL', '--compare']);
  });
});

/** One file from several runs of the same matrix: each cell's samples pooled, its median recomputed. */
function pooled(runs: readonly BenchFile[]): BenchFile {
  const results = runs[0]!.results.map((r, i) => {
    const all = runs.flatMap((f) => f.results[i]!.samplesMs).sort((a, b) => a - b);
    return { ...r, samplesMs: all, samples: all.length, medianMs: all[Math.floor(all.length / 2)]! };
  });
  return { ...runs[0]!, results };
}

describe('a real same-commit pair', () => {
  it('two tiny runs of a cheap cell show no significant regression', async () => {
    // The machine is shared (other test files run at the same time), so the two sides are measured
    // interleaved, A B A B A B: a slowdown of the machine meanwhile falls on both alike.
    const scenarios = buildMatrix({ cores: 2, threads: [1], formats: ['vtd-ss'], filter: 'sources/64GiB@4KiB/1%/uniform/vf sequential' });
    const opts = { scenarios, timeMs: 60, minIterations: 5, warmupMs: 10, warmupIterations: 2, threads: [1], seed: 1 };
    const a: BenchFile[] = [];
    const b: BenchFile[] = [];
    for (let i = 0; i < 3; i++) {
      a.push(await runBench(opts));
      b.push(await runBench(opts));
    }
    const c = compareRuns(pooled(a), pooled(b), 0.1);
    expect(c.cells).toHaveLength(1);
    expect(c.cells[0]!.method).toBe('mann-whitney');
    expect(c.regressions, renderComparison(c)).toBe(0);
  }, 60_000);
});
