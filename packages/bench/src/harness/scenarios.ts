/**
 * The scenario matrix: which workloads a benchmark run measures, and with which implementations.
 *
 * Theory of operation
 * -------------------
 * The axes:
 * - IOVA space and leaf size, in three steps of the same shape: 64 GiB of 4 KiB leaves (2^24
 *   PTEs, 128 MiB of PTEs), 1 TiB of 2 MiB leaves (2^19) and 16 TiB of 1 GiB leaves (2^14). The
 *   bitmap page size is always 4 KiB, so the bitmaps are 2 MiB, 32 MiB and 512 MiB.
 * - dirty density 0, 1%, 50%, 100%, and pattern uniform or clustered (see ./workload.ts);
 * - sources: the IOMMU walk, the VF tracker, or both in one report;
 * - PTE format (VT-d, AMD v1, SMMUv3; the names come from ./impls.ts);
 * - threads 1..cores and 2 × cores (oversubscribed), for the engine;
 * - implementations `engine`, `engine-flat`, `sequential`, `per-bit-atomic`, `read-limit` and the
 *   yardsticks `bitmap-pass`, `dirty-fill` (see ../output/schema.ts).
 *
 * The full cross product would be thousands of cells, most of them uninformative, so the matrix is
 * a set of *groups*, each varying one or two axes around the baseline (64 GiB at 4 KiB leaves, 1%
 * uniform, IOMMU walk, first PTE format): `threads`, `density`, `leaf`, `sources`, `format`, and
 * `scale`: the report *call* at {@link SCALE_THREADS} workers over {@link BENCH_SCALE_SPACES} at
 * {@link BENCH_SCALE_DENSITIES}, with the summary layer (`engine`) and without (`engine-flat`), and
 * the two yardsticks per size (`bitmap-pass`, `dirty-fill`): what a report costs against the
 * guest's size and its dirty set (docs/bench/scale.md). `--full` adds 64 TiB of 1 GiB leaves
 * (2 GiB bitmaps, two of them).
 * One Markdown table per group; charts for `threads`, `density` and `scale`. The quick matrix (the
 * default) measures the groups on the baseline space with few cells and must finish in under three
 * minutes on 2 cores; `--full` adds every space, both patterns and every thread count everywhere.
 *
 * A scenario's `workloadKey` identifies its workload; the runner builds each workload once and
 * measures each (workload, implementation, threads) once even when several groups list it.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { type DirtyPattern, type ImplName, type SourceKind } from '../output/schema.js';
import { formatBytes, formatRate } from '../units.js';

/** The bitmap page size of every scenario: 4 KiB (bytes). */
export const BENCH_BITMAP_PAGE_BYTES = 4096n;
/** The VF tracker's page size in every scenario: 4 KiB (bytes). */
export const BENCH_TRACKER_PAGE_BYTES = 4096n;
/** IOVA of bit 0 of every scenario's bitmap: 4 GiB (bytes), the kernel comment's example, 1 GiB aligned. */
export const BENCH_IOVA_BASE = 4n << 30n;

/** An IOVA space with its leaf size. */
export interface SpaceSpec {
  /** IOVA span, bytes. */
  readonly iovaBytes: bigint;
  /** IOMMU leaf size, bytes. */
  readonly leafBytes: bigint;
}

/** The three IOVA spaces, smallest leaves first. */
export const BENCH_SPACES: readonly SpaceSpec[] = [
  { iovaBytes: 64n << 30n, leafBytes: 4n << 10n },
  { iovaBytes: 1n << 40n, leafBytes: 2n << 20n },
  { iovaBytes: 16n << 40n, leafBytes: 1n << 30n },
];
/** The spaces of the `scale` group: the three of {@link BENCH_SPACES}; `--full` adds 64 TiB of 1 GiB leaves. */
export const BENCH_SCALE_SPACES: readonly SpaceSpec[] = [...BENCH_SPACES, { iovaBytes: 64n << 40n, leafBytes: 1n << 30n }];
/** The dirty densities of the `scale` group (fractions): 0.01 %, 1 %, 100 %. */
export const BENCH_SCALE_DENSITIES: readonly number[] = [0.0001, 0.01, 1];
/** Worker threads of the `scale` group's reports (its targets are stated at 2 workers). */
export const SCALE_THREADS = 2;
/** The dirty densities (fractions). */
export const BENCH_DENSITIES: readonly number[] = [0, 0.01, 0.5, 1];
/** The patterns. */
export const BENCH_PATTERNS: readonly DirtyPattern[] = ['uniform', 'clustered'];
/** The source combinations. */
export const BENCH_SOURCES: readonly SourceKind[] = ['iommu', 'vf', 'both'];

/** Everything that determines a synthetic workload (the report's inputs). */
export interface WorkloadSpec {
  /** IOVA span, bytes. */
  readonly iovaBytes: bigint;
  /** IOMMU leaf size, bytes. */
  readonly leafBytes: bigint;
  /** Fraction of units dirty, [0, 1]. */
  readonly density: number;
  /** Placement of the dirty units. */
  readonly pattern: DirtyPattern;
  /** Sources the report reads. */
  readonly source: SourceKind;
  /** PTE format of the page table. */
  readonly format: string;
  /** Seed of the placement. */
  readonly seed: number;
}

/** One measurement to make on a scenario's workload. */
export interface RunSpec {
  /** The implementation. */
  readonly impl: ImplName;
  /** Threads (engine); 1 for the others. */
  readonly threads: number;
}

/** A workload and the measurements to make on it, in one group. */
export interface Scenario {
  /** Unique id, `group/space/density/pattern/source[/format]`. */
  readonly id: string;
  /** The group (Markdown table, chart). */
  readonly group: string;
  /** The workload. */
  readonly workload: WorkloadSpec;
  /** Identity of the workload (same key = same workload, built once). */
  readonly workloadKey: string;
  /** What to measure. */
  readonly runs: readonly RunSpec[];
}

/** Options of {@link buildMatrix}. */
export interface MatrixOptions {
  /** The full matrix instead of the quick one. @defaultValue false */
  readonly full?: boolean;
  /** Logical CPUs (sets the default thread list). */
  readonly cores: number;
  /** Engine thread counts. @defaultValue 1..cores and 2 × cores */
  readonly threads?: readonly number[];
  /** PTE formats, the first one is the baseline. */
  readonly formats: readonly string[];
  /** Keep only the scenarios whose id (or `id impl`) contains this text or matches it as a /regex/. */
  readonly filter?: string;
  /** Workload seed. @defaultValue 1 */
  readonly seed?: number;
}

/** Default engine thread counts: 1..cores, then 2 × cores (oversubscribed). */
export function defaultThreadCounts(cores: number): number[] {
  const out: number[] = [];
  for (let t = 1; t <= cores; t++) out.push(t);
  out.push(2 * cores);
  return out;
}

/** `64GiB@4KiB` */
export function spaceLabel(s: SpaceSpec): string {
  return `${formatBytes(s.iovaBytes).replace(' ', '')}@${formatBytes(s.leafBytes).replace(' ', '')}`;
}

/** The key that identifies a workload: `space/density/pattern/source[/format]/seedN` (no format for the VF tracker alone). */
export function workloadKey(w: WorkloadSpec): string {
  const format = w.source === 'vf' ? '' : `/${w.format}`;
  return `${spaceLabel(w)}/${formatRate(w.density)}/${w.pattern}/${w.source}${format}/seed${w.seed}`;
}

/**
 * Builds the scenario list; an empty list means the filter matched nothing.
 * @throws IovaBitmapError `EINVAL` for a bad `/regex/` filter.
 */
export function buildMatrix(options: MatrixOptions): Scenario[] {
  const full = options.full ?? false;
  const seed = options.seed ?? 1;
  const threads = [...(options.threads ?? defaultThreadCounts(options.cores))];
  const atCores = threads.includes(options.cores) ? options.cores : threads[threads.length - 1]!;
  const baseFormat = options.formats[0]!;
  const base: WorkloadSpec = { ...BENCH_SPACES[0]!, density: 0.01, pattern: 'uniform', source: 'iommu', format: baseFormat, seed };
  const singles = (...impls: ImplName[]): RunSpec[] => impls.map((impl) => ({ impl, threads: 1 }));
  const engineAt = (ts: readonly number[]): RunSpec[] => ts.map((t) => ({ impl: 'engine' as const, threads: t }));
  const all = singles('sequential', 'per-bit-atomic', 'read-limit');
  const out: Scenario[] = [];
  const add = (group: string, workload: WorkloadSpec, runs: RunSpec[]): void => {
    const key = workloadKey(workload);
    out.push({ id: `${group}/${key.replace(/\/seed\d+$/, '')}`, group, workload, workloadKey: key, runs });
  };

  const spaces = full ? BENCH_SPACES : BENCH_SPACES.slice(0, 1);
  for (const space of spaces) add('threads', { ...base, ...space }, [...engineAt(threads), ...all]);

  const patterns = full ? BENCH_PATTERNS : (['uniform'] as const);
  for (const space of spaces) {
    for (const pattern of patterns) {
      for (const density of BENCH_DENSITIES) {
        add('density', { ...base, ...space, pattern, density }, [...engineAt(full ? threads : [atCores]), ...all]);
      }
    }
  }

  for (const space of BENCH_SPACES) add('leaf', { ...base, ...space }, [...engineAt(full ? threads : [atCores]), ...all]);

  for (const source of BENCH_SOURCES) {
    add('sources', { ...base, source }, [...engineAt(full ? threads : [...new Set([1, atCores])]), ...singles('sequential')]);
  }

  for (const format of options.formats) {
    add('format', { ...base, format }, [...engineAt(full ? threads : [atCores]), ...singles('sequential', 'read-limit')]);
  }

  const scaleRuns: RunSpec[] = [{ impl: 'engine', threads: SCALE_THREADS }, { impl: 'engine-flat', threads: SCALE_THREADS }, ...singles('bitmap-pass', 'dirty-fill')];
  for (const space of full ? BENCH_SCALE_SPACES : BENCH_SCALE_SPACES.slice(0, 3)) {
    for (const density of BENCH_SCALE_DENSITIES) add('scale', { ...base, ...space, density }, scaleRuns);
  }

  return applyFilter(out, options.filter);
}

/**
 * Keeps the runs whose `"<scenario id> <impl>"` contains `filter` (case-insensitive), or matches
 * it as a regular expression when written `/.../`. Scenarios left without runs are dropped.
 * @throws IovaBitmapError `EINVAL` for a `/.../` filter that is not a valid regular expression.
 */
export function applyFilter(scenarios: Scenario[], filter: string | undefined): Scenario[] {
  if (filter === undefined || filter === '') return scenarios;
  const m = /^\/(.*)\/([a-z]*)$/.exec(filter);
  let test: (s: string) => boolean;
  if (m === null) {
    const needle = filter.toLowerCase();
    test = (s) => s.toLowerCase().includes(needle);
  } else {
    let re: RegExp;
    try {
      re = new RegExp(m[1]!, m[2]!.includes('i') ? m[2] : m[2] + 'i');
    } catch (e) {
      throw IovaBitmapError.bad('EINVAL', 'applyFilter', 'filter', filter, `is not a valid regular expression (${(e as Error).message})`);
    }
    test = (s) => re.test(s);
  }
  const out: Scenario[] = [];
  for (const sc of scenarios) {
    const runs = sc.runs.filter((r) => test(`${sc.id} ${r.impl}`));
    if (runs.length > 0) out.push({ ...sc, runs });
  }
  return out;
}
