/**
 * The benchmark result format: one versioned JSON document per run.
 *
 * Theory of operation
 * -------------------
 * A run measures a list of *scenarios* (one synthetic workload each: IOVA space, leaf size, dirty
 * density and pattern, sources, PTE format) with several *implementations* (the parallel engine
 * at several thread counts, on bitmaps with and without their summary layer, the sequential
 * reporter, a per-bit atomic writer, the memory-read limit, and the `scale` group's yardsticks:
 * a read pass over the bitmap and the fill of its dirty bytes). Adding `engine-flat`,
 * `bitmap-pass` and `dirty-fill` to the names kept version 2: every v2 file written before them
 * is still valid. Every measurement becomes one {@link ResultRecord}; the derived ratios
 * (`speedupVs1Thread`, `speedupVsSequential`, `pctOfReadLimit`, `poolOverheadPct`) compare
 * records of the *same scenario in the same run* only, and are `null` where the comparison does
 * not exist (no sequential record, a single-threaded implementation...).
 *
 * The file is {@link BenchFile}: the header every document of the CLI has (./document.ts:
 * `document`, `schemaVersion`, `tool` with its version, the {@link MachineInfo} block,
 * `complete`), the options of the run, and the records. Its JSON Schema ships with the package:
 * `schemas/bench.schema.json`. Values that can exceed 2^53 (byte sizes) are bigints in memory and
 * decimal strings in JSON; {@link toJson} and {@link parseBenchFile} convert.
 *
 * Versions. v1 had no header besides `schemaVersion`, `tool` (a string) and `machine`, and kept
 * only each cell's median and `rme`. v2 (this one) adds the header, `complete` (false for a run
 * interrupted by Ctrl-C: the cells measured so far), each cell's timed samples (`samplesMs`, for
 * the Mann-Whitney test of `bench --compare` and the charts' error bars) and its `flags`.
 * {@link parseBenchFile} reads both and returns v2 (a v1 file gets `samplesMs: []`, flags derived
 * from its fields, `complete: true` and a tool version of `null`); any other version is refused.
 *
 * Units are in the field names or their TSDoc: bytes, milliseconds, nanoseconds, GiB (2^30 bytes)
 * per second, percent (already ×100) or a fraction in [0, 1].
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { toJsonText, type DocumentHeader, type MachineInfo } from './document.js';

export type { MachineInfo } from './document.js';

/** The version of the bench document written now. {@link parseBenchFile} also reads version 1. */
export const SCHEMA_VERSION = 2;

/** Relative margin of error above which a cell is flagged `noisy` (percent). */
export const NOISY_RME_PCT = 30;

/**
 * A caveat on one cell:
 * - `no-dirty-units`: the density asked for (> 0) placed no dirty unit at all (e.g. 0.5% of the 64
 *   leaves of 64 GiB at 1 GiB): the cell measured a clean walk, not that density. Its ratios are
 *   `null`, charts and `bench --compare` leave it out.
 * - `noisy`: its relative margin of error is above 30 % (`NOISY_RME_PCT`): do not quote its figure.
 */
export type RecordFlag = 'no-dirty-units' | 'noisy';

/** The implementations a run can measure. */
export type ImplName =
  /** The parallel engine: `ReportPool.report` on worker threads. */
  | 'engine'
  /** The same engine on a bitmap built without its summary layer (core/internal `[BITMAP_SUMMARY]: false`): the flat design. */
  | 'engine-flat'
  /** The sequential reference reporter, `reportDirty`, on the main thread. */
  | 'sequential'
  /** `reportDirty` writing the bitmap one `Atomics.or` per page (like rust-vmm's AtomicBitmap). */
  | 'per-bit-atomic'
  /** An OR-reduce read of the same page-table memory on one thread: the memory-read limit. */
  | 'read-limit'
  /** Yardstick: one plain read pass over the bitmap's memory (an OR of every word) on one thread. */
  | 'bitmap-pass'
  /** Yardstick: `fill(0xff)` of the bitmap bytes the dirty set covers, on one thread: writing the dirty set alone. */
  | 'dirty-fill';

/** All implementation names, in display order. */
export const IMPL_NAMES: readonly ImplName[] = ['engine', 'engine-flat', 'sequential', 'per-bit-atomic', 'read-limit', 'bitmap-pass', 'dirty-fill'];

/** True for the implementations that run on the worker pool (`engine`, `engine-flat`): they have a thread count. */
export function onPool(impl: ImplName): boolean {
  return impl === 'engine' || impl === 'engine-flat';
}

/**
 * What one report costs in a record, milliseconds: the whole call (`medianCallMs`) for the pool
 * implementations, whose call adds argument checks, the pool's dispatch and the bit counting to
 * the walk; the timed loop (`medianMs`) for the others (the yardsticks' loops are their call).
 */
export function costMs(r: Pick<ResultRecord, 'impl' | 'medianMs' | 'medianCallMs'>): number {
  return onPool(r.impl) ? r.medianCallMs : r.medianMs;
}

/** Which dirty sources a scenario reports. */
export type SourceKind =
  /** The IOMMU page table walk (PTE dirty bits). */
  | 'iommu'
  /** The device's own tracker (VFIO DMA logging). */
  | 'vf'
  /** Both, in one report. */
  | 'both';

/** How the dirty units are placed. */
export type DirtyPattern =
  /** Each unit dirty independently with probability `density`. */
  | 'uniform'
  /** Runs of consecutive units: each aligned cluster is dirty, whole, with probability `density`. */
  | 'clustered';

/** One measurement: one implementation at one thread count on one scenario. */
export interface ResultRecord {
  /** Scenario id, unique in the run, e.g. `"threads/64GiB@4KiB/1%/uniform/iommu/vtd"`. */
  readonly scenario: string;
  /** The group the scenario belongs to (one Markdown table and chart per group), e.g. `"threads"`. */
  readonly group: string;
  /** The implementation measured. */
  readonly impl: ImplName;
  /** The dirty sources of the report. */
  readonly source: SourceKind;
  /** PTE format of the IOMMU page table (`"vtd"`, `"amd"`...); `null` when only the VF tracker is read. */
  readonly format: string | null;
  /** Leaf size of the IOMMU page table, bytes (4 KiB, 2 MiB, 1 GiB). JSON: decimal string. */
  readonly leafBytes: bigint;
  /** Dirty-tracking unit of the VF tracker, bytes; `null` when the tracker is not read. JSON: decimal string. */
  readonly trackerPageBytes: bigint | null;
  /** Bitmap page size (IOVA bytes per bit), bytes. JSON: decimal string. */
  readonly bitmapPageBytes: bigint;
  /** IOVA space reported, bytes. JSON: decimal string. */
  readonly iovaBytes: bigint;
  /** Requested dirty density: fraction of units dirty, in [0, 1]. */
  readonly density: number;
  /** Placement of the dirty units. */
  readonly pattern: DirtyPattern;
  /** Worker threads (`engine`, `engine-flat`); 1 for the single-threaded implementations. */
  readonly threads: number;
  /** Leaf entries a report walks: IOMMU leaf PTEs plus VF tracker pages over the space (count). */
  readonly leafEntries: number;
  /** Dirty units actually placed by the workload generator (count). */
  readonly dirtyUnits: number;
  /** Bits a report sets in a clear bitmap (count); checked against the bitmap after a report. */
  readonly bitsExpected: number;
  /**
   * Median time of one report's walk, milliseconds (tinybench `latency.p50`): the `elapsedMs` the
   * reporter returns (argument checks and the bitmap's before/after bit count left out); for
   * `read-limit`, the read loop.
   */
  readonly medianMs: number;
  /** Median wall time of the whole report call (checks and bit counting included), milliseconds. */
  readonly medianCallMs: number;
  /** Median wall time per leaf entry, nanoseconds per PTE: medianMs × 10^6 / leafEntries. */
  readonly nsPerPte: number;
  /** IOVA reported per second at the median: GiB (2^30 bytes) per second. */
  readonly gibPerSec: number;
  /** Relative margin of error of the mean latency at 95%, percent (tinybench `latency.rme`). */
  readonly rme: number;
  /** Median of `engine` at 1 thread ÷ this median (same scenario); `null` for single-threaded implementations or when not measured. */
  readonly speedupVs1Thread: number | null;
  /** Median of `sequential` ÷ this median (same scenario); `null` when `sequential` was not measured. */
  readonly speedupVsSequential: number | null;
  /**
   * Throughput as a percentage of `read-limit` (= read-limit median ÷ this median × 100); `null`
   * for `read-limit` itself or when it was not measured. Meaningful for 4 KiB leaves, where a
   * walk reads 8 bytes per 4 KiB page; with 2 MiB or 1 GiB leaves the table is tiny and the time
   * goes into bitmap writes (512 or 262144 bits per dirty leaf), so the figure is small by nature.
   */
  readonly pctOfReadLimit: number | null;
  /** Pool overhead: (engine at 1 thread − sequential) ÷ sequential × 100, percent; on `engine` records with 1 thread only, else `null`. */
  readonly poolOverheadPct: number | null;
  /** Timed samples behind the median (count). */
  readonly samples: number;
  /**
   * Walk times of the timed samples, milliseconds, ascending: every sample up to 2048
   * (`MAX_KEPT_SAMPLES` in `@iovabitmap/bench/internal`), else 2048 order statistics evenly spaced
   * by rank, the fastest and the slowest included (`samples` keeps the true count). `[]` when
   * read from a v1 file.
   */
  readonly samplesMs: readonly number[];
  /** Caveats on this cell ({@link RecordFlag}); empty for a cell to take at face value. */
  readonly flags: readonly RecordFlag[];
}

/**
 * Most samples a record keeps. A yardstick of a few microseconds gathers 10^5 samples in half a
 * second: kept whole, one cell was 4 MB of JSON. 2048 order statistics keep the shape (every
 * percentile to within 1/2047 of rank) and make the median's interval wider, never narrower.
 */
export const MAX_KEPT_SAMPLES = 2048;

/**
 * The samples a record keeps, from `sorted` (ascending): all of them up to
 * {@link MAX_KEPT_SAMPLES}, else the order statistics at ranks round(i × (n − 1) / (K − 1)),
 * i = 0 … K − 1 (K = MAX_KEPT_SAMPLES), so the first and last are the fastest and slowest.
 */
export function keptSamples(sorted: readonly number[]): number[] {
  const n = sorted.length;
  const k = MAX_KEPT_SAMPLES;
  if (n <= k) return [...sorted];
  return Array.from({ length: k }, (_, i) => sorted[Math.round((i * (n - 1)) / (k - 1))]!);
}

/**
 * A 95% interval of a cell's median walk time, milliseconds. From the samples when there are any
 * (v2; thinned ones give a wider interval, never a narrower one): the distribution-free interval between the order statistics n/2 ∓ 0.98√n (the binomial
 * interval of the median, normal approximation; the whole range below 6 samples). Without samples
 * (v1): median × (1 ± rme/100), tinybench's margin of the mean used for the median (an
 * approximation).
 */
export function medianIntervalMs(r: Pick<ResultRecord, 'medianMs' | 'rme' | 'samplesMs'>): { readonly loMs: number; readonly hiMs: number } {
  const s = r.samplesMs;
  const n = s.length;
  if (n === 0) {
    const half = (r.medianMs * (Number.isFinite(r.rme) ? r.rme : Infinity)) / 100;
    return { loMs: Math.max(0, r.medianMs - half), hiMs: r.medianMs + half };
  }
  if (n < 6) return { loMs: s[0]!, hiMs: s[n - 1]! };
  const lo = Math.max(0, Math.floor(n / 2 - 0.98 * Math.sqrt(n)) - 1);
  const hi = Math.min(n - 1, Math.ceil(n / 2 + 0.98 * Math.sqrt(n)));
  return { loMs: s[lo]!, hiMs: s[hi]! };
}

/** The caveats of a cell, from its fields (see {@link RecordFlag}). */
export function recordFlags(r: Pick<ResultRecord, 'density' | 'dirtyUnits' | 'rme'>): RecordFlag[] {
  const flags: RecordFlag[] = [];
  if (r.density > 0 && r.dirtyUnits === 0) flags.push('no-dirty-units');
  if (!(r.rme <= NOISY_RME_PCT)) flags.push('noisy');
  return flags;
}

/** The options a run was made with (so that two files can be compared knowingly). */
export interface RunInfo {
  /** `true` for the full matrix, `false` for the quick one. */
  readonly full: boolean;
  /** The `--filter` text, or `null`. */
  readonly filter: string | null;
  /** Thread counts measured for the engine. */
  readonly threads: readonly number[];
  /** tinybench time budget per task, milliseconds. */
  readonly timeMs: number;
  /** Minimum timed iterations per task (count). */
  readonly minIterations: number;
  /** Seed of the workload generator. */
  readonly seed: number;
  /** Wall time of the whole run, setup included, milliseconds. */
  readonly wallMs: number;
  /** Warnings collected during the run (skipped implementations, unavailable engine...). */
  readonly notes: readonly string[];
  /** Warm-up budget per cell, milliseconds (`null` in a v1 file). */
  readonly warmupMs: number | null;
}

/** The whole JSON document: the common header (./document.ts), the run's options, the records. */
export interface BenchFile extends DocumentHeader<'bench', typeof SCHEMA_VERSION> {
  /** How it ran. */
  readonly run: RunInfo;
  /** One record per measurement, in run order. */
  readonly results: readonly ResultRecord[];
}

/** Serializes a bench file: bigints become decimal strings; two-space indentation. */
export function toJson(file: BenchFile): string {
  return toJsonText(file);
}

const BIGINT_RECORD_FIELDS = ['leafBytes', 'bitmapPageBytes', 'iovaBytes'] as const;

function field(where: string, obj: Record<string, unknown>, name: string, type: 'string' | 'number' | 'object'): unknown {
  const v = obj[name];
  if (typeof v !== type || v === null) throw IovaBitmapError.bad('EINVAL', where, name, v, `must be a ${type}`);
  return v;
}

function big(where: string, obj: Record<string, unknown>, name: string): bigint {
  const v = field(where, obj, name, 'string') as string;
  if (!/^\d+$/.test(v)) throw IovaBitmapError.bad('EINVAL', where, name, v, 'must be a decimal string');
  return BigInt(v);
}

/** The samples of a v2 record: an array of finite non-negative numbers. */
function samplesOf(where: string, r: Record<string, unknown>): number[] {
  const v = r.samplesMs;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
    throw IovaBitmapError.bad('EINVAL', where, 'samplesMs', v, 'must be an array of finite non-negative numbers');
  }
  return [...(v as number[])].sort((a, b) => a - b);
}

/**
 * Reads a bench file back, version 1 or 2 (see the module comment), as a v2 {@link BenchFile}:
 * checks the version and the fields the readers use, and turns the byte-size strings into bigints.
 * @throws IovaBitmapError `EOPNOTSUPP` for another schema version; `EINVAL` for text that is not
 *   JSON, or a missing or mistyped field (named in the message).
 */
export function parseBenchFile(text: string): BenchFile {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw IovaBitmapError.bad('EINVAL', 'parseBenchFile', 'text', String(text).slice(0, 40), `is not JSON (${(e as Error).message})`);
  }
  const version = doc?.schemaVersion;
  if (version !== 1 && version !== SCHEMA_VERSION) {
    throw IovaBitmapError.bad('EOPNOTSUPP', 'parseBenchFile', 'schemaVersion', version, `must be 1 or ${SCHEMA_VERSION}`);
  }
  const v1 = version === 1;
  const m = field('parseBenchFile', doc, 'machine', 'object') as Record<string, unknown>;
  const machine: MachineInfo = { ...(m as unknown as MachineInfo), totalMemoryBytes: big('parseBenchFile.machine', m, 'totalMemoryBytes') };
  const run = field('parseBenchFile', doc, 'run', 'object') as unknown as RunInfo;
  if (!Array.isArray(doc.results)) throw IovaBitmapError.bad('EINVAL', 'parseBenchFile', 'results', doc.results, 'must be an array');
  const results = (doc.results as Record<string, unknown>[]).map((r, i) => {
    const where = `parseBenchFile.results[${i}]`;
    for (const f of ['scenario', 'group', 'impl', 'source', 'pattern'] as const) field(where, r, f, 'string');
    for (const f of ['density', 'threads', 'leafEntries', 'dirtyUnits', 'bitsExpected', 'medianMs', 'medianCallMs', 'nsPerPte', 'gibPerSec', 'rme', 'samples'] as const) {
      field(where, r, f, 'number');
    }
    const out: Record<string, unknown> = { ...r };
    for (const f of BIGINT_RECORD_FIELDS) out[f] = big(where, r, f);
    out.trackerPageBytes = r.trackerPageBytes === null ? null : big(where, r, 'trackerPageBytes');
    out.samplesMs = v1 ? [] : samplesOf(where, r);
    out.flags = recordFlags(out as unknown as ResultRecord);
    return out as unknown as ResultRecord;
  });
  if (v1) {
    return {
      document: 'bench',
      schemaVersion: SCHEMA_VERSION,
      tool: { name: 'iovabitmap', command: 'bench', version: null },
      machine,
      complete: true,
      run: { ...run, warmupMs: null },
      results,
    };
  }
  return { ...(doc as unknown as BenchFile), machine, results };
}
