/**
 * Derived metrics: from the medians of one scenario's measurements to its result records.
 *
 * Theory of operation
 * -------------------
 * A {@link Measurement} is what the runner got from tinybench for one implementation at one
 * thread count: the median latency of one report and its relative margin of error. Everything
 * else in a {@link ResultRecord} is arithmetic on medians *of the same scenario*:
 *
 *   nsPerPte            = median × 10^6 / leafEntries          (ns per leaf entry walked)
 *   gibPerSec           = iovaBytes / 2^30 / (median / 1000)    (IOVA reported per second)
 *   speedupVs1Thread    = median(engine, 1 thread) / median     (engine records only)
 *   speedupVsSequential = median(sequential) / median
 *   pctOfReadLimit      = median(read-limit) / median × 100     (not on read-limit itself)
 *   poolOverheadPct     = (median(engine, 1) − median(sequential)) / median(sequential) × 100
 *                         (on the engine record with 1 thread)
 *
 * A ratio whose reference was not measured (filtered out, engine unavailable...) is `null`, never
 * a guess; so is every ratio of a cell flagged `no-dirty-units` (a density that placed nothing: the
 * cell did not measure what its scenario says, ../output/schema.ts RecordFlag). Ratios of two medians are what the run supports; no confidence interval is claimed for
 * them (each median carries its own `rme`).
 */
import { GIB } from '@iovabitmap/core/internal';
import { keptSamples, recordFlags, type ImplName, type ResultRecord } from '../output/schema.js';
import type { Scenario } from './scenarios.js';

/** One tinybench result. */
export interface Measurement {
  /** The implementation measured. */
  readonly impl: ImplName;
  /** Threads (engine); 1 otherwise. */
  readonly threads: number;
  /** Median time of one report, milliseconds: the walk as the reporter times it. */
  readonly medianMs: number;
  /** Median wall time of the whole call (validation and bit counting included), milliseconds. */
  readonly medianCallMs: number;
  /** Relative margin of error of the mean, percent. */
  readonly rme: number;
  /** Timed samples (count). */
  readonly samples: number;
  /** Walk time of every timed sample, milliseconds. */
  readonly samplesMs: readonly number[];
}

/** Facts about the workload that the records repeat. */
export interface WorkloadFacts {
  /** Leaf entries walked per report (count). */
  readonly leafEntries: number;
  /** Units placed dirty (count). */
  readonly dirtyUnits: number;
  /** Bits set by a report in a clear bitmap (count). */
  readonly bitsExpected: number;
  /** Tracker page size, bytes, or `null`. */
  readonly trackerPageBytes: bigint | null;
  /** Bitmap page size, bytes. */
  readonly bitmapPageBytes: bigint;
}


/**
 * The records of one scenario, one per measurement, in the order given.
 * @param scenario - the scenario measured
 * @param facts - workload facts
 * @param measurements - its measurements (at most one per impl and thread count)
 */
export function deriveRecords(scenario: Scenario, facts: WorkloadFacts, measurements: readonly Measurement[]): ResultRecord[] {
  const find = (impl: ImplName, threads?: number) => measurements.find((m) => m.impl === impl && (threads === undefined || m.threads === threads));
  const engine1 = find('engine', 1)?.medianMs;
  const seq = find('sequential')?.medianMs;
  const readLimit = find('read-limit')?.medianMs;
  const w = scenario.workload;
  const iovaGiB = Number(w.iovaBytes) / GIB;
  const ratios = !(w.density > 0 && facts.dirtyUnits === 0);
  return measurements.map((m) => {
    const flags = recordFlags({ density: w.density, dirtyUnits: facts.dirtyUnits, rme: m.rme });
    return {
    scenario: scenario.id,
    group: scenario.group,
    impl: m.impl,
    source: w.source,
    format: w.source === 'vf' ? null : w.format,
    leafBytes: w.leafBytes,
    trackerPageBytes: facts.trackerPageBytes,
    bitmapPageBytes: facts.bitmapPageBytes,
    iovaBytes: w.iovaBytes,
    density: w.density,
    pattern: w.pattern,
    threads: m.threads,
    leafEntries: facts.leafEntries,
    dirtyUnits: facts.dirtyUnits,
    bitsExpected: facts.bitsExpected,
    medianMs: m.medianMs,
    medianCallMs: m.medianCallMs,
    nsPerPte: (m.medianMs * 1e6) / facts.leafEntries,
    gibPerSec: iovaGiB / (m.medianMs / 1000),
    rme: m.rme,
    speedupVs1Thread: ratios && m.impl === 'engine' && engine1 !== undefined ? engine1 / m.medianMs : null,
    speedupVsSequential: ratios && seq !== undefined ? seq / m.medianMs : null,
    pctOfReadLimit: ratios && m.impl !== 'read-limit' && readLimit !== undefined ? (readLimit / m.medianMs) * 100 : null,
    poolOverheadPct: ratios && m.impl === 'engine' && m.threads === 1 && seq !== undefined ? ((m.medianMs - seq) / seq) * 100 : null,
    samples: m.samples,
    samplesMs: keptSamples([...m.samplesMs].sort((a, b) => a - b)),
    flags,
    };
  });
}
