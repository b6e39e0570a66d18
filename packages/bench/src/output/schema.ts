/**
 * The benchmark result format: one versioned JSON document per run.
 *
 * Theory of operation
 * -------------------
 * A run measures a list of *scenarios* (one synthetic workload each: IOVA space, leaf size, dirty
 * density and pattern, sources, PTE format) with several *implementations* (the parallel engine
 * at several thread counts, the sequential reporter, a per-bit atomic writer, and the memory-read
 * limit). Every measurement becomes one {@link ResultRecord}; the derived ratios
 * (`speedupVs1Thread`, `speedupVsSequential`, `pctOfReadLimit`, `poolOverheadPct`) compare
 * records of the *same scenario in the same run* only, and are `null` where the comparison does
 * not exist (no sequential record, a single-threaded implementation...).
 *
 * The file is {@link BenchFile}: `schemaVersion` (bump it on any incompatible change), the
 * {@link MachineInfo} block, the options of the run, and the records. Values that can exceed 2^53
 * (byte sizes) are bigints in memory and decimal strings in JSON; {@link toJson} and
 * {@link parseBenchFile} convert, and the reader refuses an unknown schema version.
 *
 * Units are in the field names or their TSDoc: bytes, milliseconds, nanoseconds, GiB (2^30 bytes)
 * per second, percent (already ×100) or a fraction in [0, 1].
 */
import { availableParallelism, arch, cpus, release, totalmem, type as osType } from 'node:os';
import { IovaBitmapError } from '@iovabitmap/core';

/** The version of this format. Readers must refuse any other value. */
export const SCHEMA_VERSION = 1;

/** The implementations a run can measure. */
export type ImplName =
  /** The parallel engine: `ReportPool.report` on worker threads. */
  | 'engine'
  /** The sequential reference reporter, `reportDirty`, on the main thread. */
  | 'sequential'
  /** `reportDirty` writing the bitmap one `Atomics.or` per page (like rust-vmm's AtomicBitmap). */
  | 'per-bit-atomic'
  /** An OR-reduce read of the same page-table memory on one thread: the memory-read limit. */
  | 'read-limit';

/** All implementation names, in display order. */
export const IMPL_NAMES: readonly ImplName[] = ['engine', 'sequential', 'per-bit-atomic', 'read-limit'];

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
  /** Worker threads (`engine`); 1 for the single-threaded implementations. */
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
}

/** Where the run happened. */
export interface MachineInfo {
  /** CPU model string of the first logical CPU, e.g. `"AMD EPYC 9R45"`. */
  readonly cpuModel: string;
  /** Logical CPUs available to this process (`os.availableParallelism()`). */
  readonly cores: number;
  /** Installed memory, bytes. JSON: decimal string. */
  readonly totalMemoryBytes: bigint;
  /** Node.js version, e.g. `"v20.20.2"`. */
  readonly node: string;
  /** V8 version, e.g. `"11.3.244.8-node.33"`. */
  readonly v8: string;
  /** Operating system: type, release and architecture, e.g. `"Linux 6.1.0 x64"`. */
  readonly os: string;
  /** When the run started, ISO 8601 UTC. */
  readonly date: string;
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
}

/** The whole JSON document. */
export interface BenchFile {
  /** Always {@link SCHEMA_VERSION}. */
  readonly schemaVersion: typeof SCHEMA_VERSION;
  /** The producer, `"iovabitmap bench"`. */
  readonly tool: string;
  /** Where it ran. */
  readonly machine: MachineInfo;
  /** How it ran. */
  readonly run: RunInfo;
  /** One record per measurement, in run order. */
  readonly results: readonly ResultRecord[];
}

/** Describes this machine now. */
export function machineInfo(now: Date = new Date()): MachineInfo {
  const cpu = cpus()[0];
  return {
    cpuModel: cpu?.model.trim() || 'unknown',
    cores: availableParallelism(),
    totalMemoryBytes: BigInt(totalmem()),
    node: process.version,
    v8: process.versions.v8,
    os: `${osType()} ${release()} ${arch()}`,
    date: now.toISOString(),
  };
}

/** One line describing the machine, for tables and Markdown. */
export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} logical CPUs, Node ${m.node} (V8 ${m.v8}), ${m.os}, ${m.date}`;
}

/** Serializes a bench file: bigints become decimal strings; two-space indentation. */
export function toJson(file: BenchFile): string {
  return JSON.stringify(file, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
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

/**
 * Reads a bench file back: checks the version and the required fields, and turns the byte-size
 * strings into bigints.
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
  if (doc?.schemaVersion !== SCHEMA_VERSION) {
    throw IovaBitmapError.bad('EOPNOTSUPP', 'parseBenchFile', 'schemaVersion', doc?.schemaVersion, `must be ${SCHEMA_VERSION}`);
  }
  const m = field('parseBenchFile', doc, 'machine', 'object') as Record<string, unknown>;
  const machine: MachineInfo = { ...(m as unknown as MachineInfo), totalMemoryBytes: big('parseBenchFile.machine', m, 'totalMemoryBytes') };
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
    return out as unknown as ResultRecord;
  });
  return { ...(doc as unknown as BenchFile), machine, results };
}
