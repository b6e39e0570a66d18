/**
 * Statistics of a parallel report: core's ReportStats, extended per source and per worker.
 * Runs on the main thread (folding the results); a pool worker fills the counter rows.
 *
 * Theory of operation
 * -------------------
 * Per-source counters have one shape everywhere: core's {@link SourceStats} (entries visited,
 * dirty leaves, bits marked), which {@link PoolSourceStats} extends with chunks and busy time. Each
 * task (one per worker per report) counts what it did per source in PoolSourceStats, and returns
 * them in its one result message as a list indexed like the report's source list. The main
 * thread folds them into per-source totals (same shape) and keeps one {@link WorkerReportStats}
 * per task.
 *
 * `bitsSet`. With no other writer or clear of the bitmap during the report it is exactly the bits
 * that went 0 → 1, as in core's `reportDirty`, by one of two rules:
 * - In general, the bitmap's count after the walk minus its count before (a unit may be recorded
 *   outside the chunk that owns it and two sources may mark the same bits, so the records cannot
 *   be summed); the workers do both counts in parallel, piece by piece (./ControlBlock.ts), each
 *   piece read through the bitmap's summary, so a count costs the dirty blocks, not the bitmap.
 *   The count before is 0 without reading when the summary was clean as the report started (read
 *   by the main thread before posting). With other writers it is the sum over pieces of (set bits
 *   of the piece when a worker counted it after the walk) − (when it was counted before): another
 *   writer's bits that land in a piece between its two counts are included, a racing clear's
 *   removals subtracted.
 * - When the summary was clean as the report started and the report has one source whose records
 *   are disjoint bits of this bitmap (its work profile's `unitShift` at least the bitmap's page
 *   shift: an IoPageTable into a bitmap of pages up to 4 KiB, a VfTracker into one of pages up to
 *   its own), the sum of its records' bits (`total.bitsMarked`), and nothing is counted after the
 *   walk. With other writers it is the bits the report's records covered: another writer's bits
 *   outside them are not included, and a bit it set first that a record also covers is.
 */
import { type ReportStats, type SourceStats } from '@iovabitmap/core';
import { addSourceStats, emptySourceStats } from '@iovabitmap/core/internal';

/** Counters of one source: core's {@link SourceStats} plus the pool's own. */
export interface PoolSourceStats extends SourceStats {
  /** Chunks of this source walked. */
  chunks: number;
  /** Time spent inside this source's `reportChunk`, summed over workers, milliseconds. */
  busyMs: number;
}

/** What one worker (one task), or the caller's share of the walk, did during a report. */
export interface WorkerReportStats {
  /** The task's slot in the report's control block (0-based). */
  readonly slot: number;
  /** `worker_threads.threadId` of the worker that ran the task (of the caller's thread, for its share). */
  readonly threadId: number;
  /** Chunks this worker walked. */
  readonly chunks: number;
  /** Time inside `reportChunk` calls, milliseconds. */
  readonly busyMs: number;
  /** Sum over sources. */
  readonly total: SourceStats;
  /** Per source name. */
  readonly sources: Readonly<Record<string, PoolSourceStats>>;
}

/** What {@link ReportPool.report} returns: core's {@link ReportStats} plus the pool's counters. */
export interface PoolReportStats extends ReportStats {
  /**
   * Bits the report set: with no other writer or clear of the bitmap during the report, exactly
   * the bits that went 0 → 1 (as `reportDirty`'s). With other writers, by the rule that applies
   * (module comment of this file): the count after minus the count before, or, for a report of
   * one source into a bitmap whose summary was clean, the bits its records covered.
   */
  readonly bitsSet: number;
  /** Per source name, summed over workers. */
  readonly sources: Readonly<Record<string, PoolSourceStats>>;
  /**
   * One entry per task that ran (tasks cancelled before they started are left out), by slot, and
   * one for the caller's share when the caller's thread walked chunks (`ReportPoolOptions.callerShareMs`:
   * its `threadId`, and the slot after the tasks', min(threads, chunks)).
   */
  readonly workers: readonly WorkerReportStats[];
  /**
   * Tasks posted to the workers for the report: min(threads, chunks), or one fewer when the
   * caller's share walked every chunk it did not leave to the others.
   */
  readonly tasks: number;
  /** Bits per chunk of each source, in the order of the report's sources. */
  readonly chunkBits: readonly number[];
  /**
   * Wall time of the whole `report()` call, ms: validation, waiting for the workers, posting, the
   * two bit counts and collecting the results included. (`elapsedMs` is the walk phase only.)
   */
  readonly wallMs: number;
}

/** A fresh zeroed {@link PoolSourceStats}. */
export function emptyPoolSourceStats(): PoolSourceStats {
  return { ...emptySourceStats(), chunks: 0, busyMs: 0 };
}

/** Adds `b` into `a` (core's fields through core's `addSourceStats`, then the pool's) and returns `a`. */
function addPoolSourceStats(a: PoolSourceStats, b: PoolSourceStats): PoolSourceStats {
  addSourceStats(a, b);
  a.chunks += b.chunks;
  a.busyMs += b.busyMs;
  return a;
}

/** Builds one worker's stats from its per-source counters (indexed like `names`). */
export function workerStats(slot: number, threadId: number, names: readonly string[], perSource: readonly PoolSourceStats[]): WorkerReportStats {
  const sources: Record<string, PoolSourceStats> = {};
  const total = emptySourceStats();
  let chunks = 0;
  let busyMs = 0;
  names.forEach((name, i) => {
    const s = addPoolSourceStats(emptyPoolSourceStats(), perSource[i] ?? emptyPoolSourceStats());
    sources[name] = s;
    addSourceStats(total, s);
    chunks += s.chunks;
    busyMs += s.busyMs;
  });
  return { slot, threadId, chunks, busyMs, total, sources };
}

/** Folds the workers' stats into a {@link PoolReportStats}. */
export function poolReportStats(
  names: readonly string[],
  workers: readonly WorkerReportStats[],
  extra: { bitsSet: number; elapsedMs: number; wallMs: number; tasks: number; chunkBits: readonly number[] },
): PoolReportStats {
  const sources: Record<string, PoolSourceStats> = {};
  for (const n of names) sources[n] = emptyPoolSourceStats();
  const total = emptySourceStats();
  let chunks = 0;
  for (const w of workers) {
    for (const n of names) addPoolSourceStats(sources[n]!, w.sources[n]!);
    chunks += w.chunks;
  }
  for (const n of names) addSourceStats(total, sources[n]!);
  return { sources, total, chunks, workers, ...extra };
}
