/**
 * `bench --compare`: two runs of the matrix, cell by cell, with a judgement that uses the spread.
 *
 * Theory of operation
 * -------------------
 * A cell is (scenario id, implementation, threads); the id names the workload (space, leaf,
 * density, pattern, sources, format). For every cell present in both runs:
 *   ratio = median(new) ÷ median(base)        walk time: > 1 is slower, < 1 faster.
 * Whether the difference is real is judged from the samples, as benchstat does:
 * - both files v2 (timed samples kept, ./schema.ts `samplesMs`): a two-sided Mann-Whitney U test
 *   of the two sets of samples ({@link mannWhitneyU}: exact over the permutations for up to
 *   {@link EXACT_MAX} samples in all, ties included; else the normal approximation with the tie
 *   and continuity corrections). Significant when p < alpha (0.05). Rank-based, so an outlier
 *   sample weighs no more than any other, and nothing is assumed of the distributions' shape.
 *   Few samples cannot reach significance at all (2 against 2: p ≥ 0.33), which is right: they do
 *   not show a difference.
 * - a v1 file in the pair (only the median and tinybench's `rme` were kept): each median's
 *   interval median × (1 ± rme/100) (rme is the 95% margin of the *mean*, used here for the median:
 *   an approximation, said in the output); significant when the two intervals do not overlap.
 * The verdict is `faster` or `slower` when significant, `~` otherwise. A cell *regressed* when it
 * is significantly slower by more than the threshold (ratio > 1 + threshold; 10% by default); the
 * CLI exits with {@link REGRESSION_EXIT_STATUS} when any did.
 *
 * Left out, and listed: cells in only one file, and cells flagged `no-dirty-units` in either
 * (their density placed nothing, ./schema.ts). The summary gives the geometric mean of the ratios
 * of the cells compared (the mean of ratios that treats 2× faster and 2× slower alike) and the
 * counts of faster, slower and ~ cells. Runs made with other settings (seed, time budget, machine)
 * are compared all the same, with a note naming what differs.
 */
import Table from 'cli-table3';
import { IovaBitmapError } from '@iovabitmap/core';
import { machineLine } from './document.js';
import { medianIntervalMs, onPool, type BenchFile, type ResultRecord } from './schema.js';
import { formatMs, significant } from '../units.js';

/** Exit status of `bench --compare` when a cell regressed significantly beyond the threshold. */
export const REGRESSION_EXIT_STATUS = 4;
/** Significance level of the tests. */
export const COMPARE_ALPHA = 0.05;
/** Largest pooled sample count for the exact Mann-Whitney distribution. */
export const EXACT_MAX = 60;

/** The verdict on one cell. */
export type Verdict = 'faster' | 'slower' | '~';

/** One cell present in both runs. */
export interface CellComparison {
  /** `scenario impl×threads`. */
  readonly cell: string;
  /** Median walk time in the base run, ms. */
  readonly baseMs: number;
  /** Median walk time in the new run, ms. */
  readonly newMs: number;
  /** newMs ÷ baseMs (> 1: slower). */
  readonly ratio: number;
  /** How significance was judged. */
  readonly method: 'mann-whitney' | 'rme-intervals';
  /** The test's two-sided p-value (`null` for the rme intervals). */
  readonly p: number | null;
  /** The verdict. */
  readonly verdict: Verdict;
  /** Significantly slower by more than the threshold. */
  readonly regressed: boolean;
}

/** The comparison of two runs. */
export interface Comparison {
  /** The cells in both runs, in the base run's order. */
  readonly cells: readonly CellComparison[];
  /** Cells only in the base run. */
  readonly onlyInBase: readonly string[];
  /** Cells only in the new run. */
  readonly onlyInNew: readonly string[];
  /** Cells in both but left out of the ratios, with why. */
  readonly excluded: readonly { readonly cell: string; readonly why: string }[];
  /** Geometric mean of the compared cells' ratios; `null` when none was compared. */
  readonly geomean: number | null;
  /** Cells per verdict. */
  readonly counts: Readonly<Record<Verdict, number>>;
  /** Cells that regressed. */
  readonly regressions: number;
  /** The regression threshold, a fraction (0.1 = 10%). */
  readonly threshold: number;
  /** What differs between the runs' settings, and how significance was judged. */
  readonly notes: readonly string[];
}

const cellKey = (r: ResultRecord): string => `${r.scenario} ${r.impl}${onPool(r.impl) ? `×${r.threads}` : ''}`;

/** Φ, the standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * Two-sided Mann-Whitney U test of samples `a` against `b` (module comment).
 * @returns U of `a` (the number of pairs in which a's value is the larger, ties counting ½) and
 *   the p-value; p = 1 when either set is empty or every value is tied.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): { u: number; p: number } {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: 0, p: 1 };
  const n = n1 + n2;
  const pooled = [...a.map((v) => ({ v, a: true })), ...b.map((v) => ({ v, a: false }))].sort((x, y) => x.v - y.v);
  // Doubled midranks (whole numbers): a tie group over positions i..j-1 (0-based) gets i + j + 1.
  const rank2 = new Array<number>(n);
  const ties: number[] = [];
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && pooled[j]!.v === pooled[i]!.v) j++;
    for (let k = i; k < j; k++) rank2[k] = i + j + 1;
    ties.push(j - i);
    i = j;
  }
  let w2 = 0; // doubled rank sum of a
  for (let k = 0; k < n; k++) if (pooled[k]!.a) w2 += rank2[k]!;
  const u = w2 / 2 - (n1 * (n1 + 1)) / 2;
  const mean2 = n1 * (n + 1); // E[doubled rank sum of a]
  if (ties.length === 1) return { u, p: 1 };
  if (n <= EXACT_MAX) {
    // Exact: count the n1-subsets of the pooled doubled ranks by their sum.
    const max = rank2.reduce((s, r) => s + r, 0);
    const dp: Float64Array[] = Array.from({ length: n1 + 1 }, () => new Float64Array(max + 1));
    dp[0]![0] = 1;
    for (const r of rank2) {
      // In place, k descending: each rank joins a subset at most once.
      for (let k = n1 - 1; k >= 0; k--) {
        const from = dp[k]!;
        const to = dp[k + 1]!;
        for (let s = max - r; s >= 0; s--) if (from[s] !== 0) to[s + r]! += from[s]!;
      }
    }
    const row = dp[n1]!;
    const dev = Math.abs(w2 - mean2);
    let hit = 0;
    let all = 0;
    for (let s = 0; s <= max; s++) {
      if (row[s] === 0) continue;
      all += row[s]!;
      if (Math.abs(s - mean2) >= dev - 1e-9) hit += row[s]!;
    }
    return { u, p: Math.min(1, hit / all) };
  }
  const tieTerm = ties.reduce((s, t) => s + (t * t * t - t), 0) / (n * (n - 1));
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm));
  const z = Math.max(0, Math.abs(u - (n1 * n2) / 2) - 0.5) / sigma;
  return { u, p: Math.min(1, 2 * (1 - normalCdf(z))) };
}

/** One cell's comparison. */
function compareCell(base: ResultRecord, next: ResultRecord, threshold: number): CellComparison {
  const ratio = next.medianMs / base.medianMs;
  let significantDiff: boolean;
  let p: number | null = null;
  let method: CellComparison['method'];
  if (base.samplesMs.length > 0 && next.samplesMs.length > 0) {
    method = 'mann-whitney';
    p = mannWhitneyU(next.samplesMs, base.samplesMs).p;
    significantDiff = p < COMPARE_ALPHA;
  } else {
    method = 'rme-intervals';
    const b = medianIntervalMs({ ...base, samplesMs: [] });
    const n = medianIntervalMs({ ...next, samplesMs: [] });
    significantDiff = n.loMs > b.hiMs || n.hiMs < b.loMs;
  }
  const verdict: Verdict = !significantDiff || ratio === 1 ? '~' : ratio > 1 ? 'slower' : 'faster';
  return { cell: cellKey(base), baseMs: base.medianMs, newMs: next.medianMs, ratio, method, p, verdict, regressed: verdict === 'slower' && ratio > 1 + threshold };
}

/** Settings that differ between the runs, as notes. */
function settingNotes(base: BenchFile, next: BenchFile): string[] {
  const notes: string[] = [];
  const differ = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) notes.push(`${what} differs: base ${JSON.stringify(a)}, new ${JSON.stringify(b)}`);
  };
  differ('seed', base.run.seed, next.run.seed);
  differ('time budget per cell (ms)', base.run.timeMs, next.run.timeMs);
  differ('machine', machineLine({ ...base.machine, date: '' }), machineLine({ ...next.machine, date: '' }));
  if (!base.complete) notes.push('the base run is incomplete (interrupted)');
  if (!next.complete) notes.push('the new run is incomplete (interrupted)');
  return notes;
}

/**
 * Compares two runs (module comment).
 * @param threshold - regression threshold, a fraction in (0, 10] (0.1 = 10%)
 * @throws IovaBitmapError `EINVAL` for a bad threshold.
 */
export function compareRuns(base: BenchFile, next: BenchFile, threshold = 0.1): Comparison {
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 10)) {
    throw IovaBitmapError.bad('EINVAL', 'compareRuns', 'threshold', threshold, 'must be a fraction in (0, 10]');
  }
  const newBy = new Map(next.results.map((r) => [cellKey(r), r]));
  const baseKeys = new Set<string>();
  const cells: CellComparison[] = [];
  const excluded: { cell: string; why: string }[] = [];
  const onlyInBase: string[] = [];
  for (const b of base.results) {
    const key = cellKey(b);
    if (baseKeys.has(key)) continue; // a cell listed in two groups is one measurement
    baseKeys.add(key);
    const n = newBy.get(key);
    if (n === undefined) onlyInBase.push(key);
    else if (b.flags.includes('no-dirty-units') || n.flags.includes('no-dirty-units')) excluded.push({ cell: key, why: 'its density placed no dirty unit' });
    else cells.push(compareCell(b, n, threshold));
  }
  const onlyInNew = [...new Set(next.results.map(cellKey))].filter((k) => !baseKeys.has(k));
  const counts: Record<Verdict, number> = { faster: 0, slower: 0, '~': 0 };
  for (const c of cells) counts[c.verdict]++;
  const geomean = cells.length === 0 ? null : Math.exp(cells.reduce((s, c) => s + Math.log(c.ratio), 0) / cells.length);
  const notes = settingNotes(base, next);
  if (cells.some((c) => c.method === 'rme-intervals')) {
    notes.push('a file without samples (schema v1): those cells are judged by whether median × (1 ± rme) intervals overlap, an approximation');
  }
  return { cells, onlyInBase, onlyInNew, excluded, geomean, counts, regressions: cells.filter((c) => c.regressed).length, threshold, notes };
}

const pct = (ratio: number): string => `${ratio >= 1 ? '+' : ''}${significant((ratio - 1) * 100)}%`;

/** The comparison as text: a table of the cells, what was left out, the summary line. */
export function renderComparison(c: Comparison): string {
  const t = new Table({
    head: ['cell', 'base', 'new', 'time', 'p', 'verdict'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [] },
  });
  for (const x of c.cells) {
    const verdict = x.verdict === '~' ? '~' : `${x.verdict}${x.regressed ? ` (regressed beyond ${significant(c.threshold * 100)}%)` : ''}`;
    t.push([x.cell, formatMs(x.baseMs), formatMs(x.newMs), pct(x.ratio), x.p === null ? 'rme' : significant(x.p, 2), verdict]);
  }
  const out = [c.cells.length > 0 ? t.toString() : 'no cell in both runs'];
  for (const k of c.onlyInBase) out.push(`only in base: ${k}`);
  for (const k of c.onlyInNew) out.push(`only in new: ${k}`);
  for (const x of c.excluded) out.push(`left out: ${x.cell} (${x.why})`);
  for (const n of c.notes) out.push(`note: ${n}`);
  out.push(
    `summary: ${c.cells.length} cells compared, geometric mean of new/base time ${c.geomean === null ? '–' : `${significant(c.geomean)}× (${pct(c.geomean)})`}; ` +
      `${c.counts.faster} faster, ${c.counts.slower} slower, ${c.counts['~']} ~ (no significant difference, p ≥ ${COMPARE_ALPHA}); ` +
      `${c.regressions} regressed beyond ${significant(c.threshold * 100)}%`,
  );
  return out.join('\n') + '\n';
}
