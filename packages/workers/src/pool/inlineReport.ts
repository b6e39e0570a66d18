/**
 * inlineReport: a small report done on the caller's thread, ReportPool.report's short path.
 * Runs on the main thread (the caller's).
 *
 * Theory of operation
 * -------------------
 * A report on the pool pays a fixed price before any work: posting a task per worker, waking the
 * sleeping threads (futex + IPI in a VM), the two counting phases' barriers and collecting the
 * results: ~0.3–0.4 ms when the workers are warm, ~0.9–1.2 ms when they have idled 100 ms or 1 s
 * (figures: docs/bench/pool.md). Two workers at best halve the work, so a report whose work
 * costs less than about twice that price is faster on the caller's thread: measured, up to ~2^21
 * entries of 4 KiB leaves clearly (1.7–3× faster), a tie of the medians at ~2^22 (where the
 * caller's thread still has the smaller spread), the workers ahead above. ReportPool decides with
 * {@link inlineWork}, an estimate in *entries of work*: the sum of the sources' work-profile
 * entries (PTEs read at the leaf level, tracker record words) plus one per 32-bit word of the
 * bitmap (the words a walk of huge leaves may fill: over a fine-grained bitmap it does little
 * else; the counts before and after the walk cost the dirty blocks only, core's bitmap summary).
 * The threshold was measured before the summary layer, after it, and again on 2026-12-01 with
 * the spread beside the medians (docs/bench/pool.md): the crossover stayed between 2^20 and 2^22
 * entries, and the default is now 2^22. Entries rather than bitmap bits because the walk's cost
 * follows the entries: 1 TiB of 1 GiB leaves is 1,024 PTEs however fine the bitmap, and 2 MiB of
 * 4 KiB leaves behind a 2 MiB-page bitmap is 512 PTEs for 1 bit. A source without a profile
 * (a page-table view, a source of the caller's own) has a cost we cannot bound, so the estimate
 * is `Infinity` and the report goes to the pool: the caller's thread is never blocked for long.
 *
 * The work itself is core's one-thread reporter, `reportDirty`, once per source (the ownership
 * rule makes the per-source order give the same bits and source state as any other cut), after
 * ReportPool has run every check of the pool path, so the two paths refuse the same input with
 * the same errors and nothing written. What differs from the pool path, all of it because the
 * work runs in one synchronous step:
 * - abort: the signal is read once, before the step (ECANCELED, nothing written); an abort that
 *   comes later finds the report done;
 * - onProgress: called once, at the end (the pool also calls it every progressIntervalMs);
 * - stats: `tasks` is 0 and `workers` is empty (no task ran on a worker); per source, `chunks` is
 *   the bitmap's windows (the plan's chunks when streamed) and `busyMs` that source's walk on the
 *   caller's thread; `chunkBits` is what the pool would have used; `elapsedMs` is the sum of the
 *   walks;
 * - streaming (`onChunk`): the pool's plan is walked chunk by chunk on this thread, each chunk
 *   recorded through a capturing view of the bitmap (./worker/RunCapture.ts) and its runs handed
 *   to `onChunk` as soon as it is recorded, so the caller sees the same chunks, numbered the
 *   same, as from the workers; `bitsSet` is the bitmap's count after minus before (reportDirty's
 *   rule). The caller's link model overlaps its send with the harvest as on the workers; its own
 *   code (onChunk) runs between chunks instead of beside them.
 */
import { type DirtySource, type IovaBitmap, reportDirty } from '@iovabitmap/core';
import { type ChunkPlan, reportPlans } from './ChunkPlan.js';
import { type PoolReportStats, type PoolSourceStats, emptyPoolSourceStats, poolReportStats, workerStats } from './poolStats.js';
import type { ReportProgress, ReportedChunk } from './poolTypes.js';
import { handOver, notifyProgress } from './reportRun.js';
import { RunCapture } from './worker/RunCapture.js';
import { walkChunk } from './worker/reportTask.js';
import { warmUpKernels } from './worker/warmUp.js';

/**
 * The default of `ReportPoolOptions.inlineBelow`, in entries of work ({@link inlineWork}): 2^22,
 * just below the tie of the two paths' medians (4.3 M entries, 16 GiB of 4 KiB leaves: 4.3–4.5 ms
 * both, 1 % dirty), where the caller's thread still has the smaller spread (90th percentile
 * 4.5–4.9 against 6.9–7.1 ms); at 2^21 (8 GiB) it wins clearly, 2.1–2.2 against 3.8–4.1 ms, dense
 * reports too. Above the tie the workers are preferred: they leave the caller's thread free.
 * Measured 2026-12-01 (docs/bench/pool.md); it was 2^21 before, chosen from medians alone.
 */
export const DEFAULT_INLINE_BELOW = 2 ** 22;

/**
 * The estimated work of reporting `sources` into `bitmap`, in entries (see the module comment):
 * the sum of the sources' work-profile entries over the bitmap's range plus the bitmap's 32-bit
 * words; `Infinity` when a source has no profile.
 * @param profiles - each source's `workProfile` over the bitmap's range (already asked by the caller)
 */
export function inlineWork(bitmap: IovaBitmap, profiles: readonly ({ entries: number } | undefined)[]): number {
  let work = Math.ceil(bitmap.nbits / 32);
  for (const p of profiles) {
    if (p === undefined) return Infinity;
    work += p.entries;
  }
  return work;
}

/** What {@link reportInline} needs; validated by ReportPool. */
export interface InlineInput {
  readonly bitmap: IovaBitmap;
  readonly sources: readonly DirtySource[];
  readonly noClear: boolean;
  readonly onProgress: ((p: ReportProgress) => void) | undefined;
  /** The chunk sizes the pool would have used (reported as they are in the stats). */
  readonly chunkBits: readonly number[];
  /** Streaming: the caller's onChunk, and the plan whose chunks it is handed (the pool's). */
  readonly onChunk: ((c: ReportedChunk) => void) | undefined;
  readonly plan: ChunkPlan;
  /** When the `report()` call started, `performance.now()` ms (for `wallMs`). */
  readonly tStart: number;
}

/** Reports on this thread with core's `reportDirty`; see the module comment. */
export function reportInline(input: InlineInput): PoolReportStats {
  const { bitmap, sources, noClear } = input;
  const names = sources.map((s) => s.name);
  let bitsSet = 0;
  let elapsedMs = 0;
  let perSource: PoolSourceStats[];
  if (input.onChunk === undefined) {
    perSource = sources.map((s) => {
      const r = reportDirty({ bitmap, sources: [s], noClear });
      bitsSet += r.bitsSet;
      elapsedMs += r.elapsedMs;
      return { ...r.total, chunks: r.chunks, busyMs: r.elapsedMs };
    });
  } else {
    const before = bitmap.count();
    perSource = reportChunksStreamed(input, input.onChunk);
    bitsSet = bitmap.count() - before;
    for (const p of perSource) elapsedMs += p.busyMs;
  }
  // Fold the per-source rows as the pool folds its workers' rows, then drop the one pseudo-worker:
  // no task ran on a worker.
  const stats = poolReportStats(names, [workerStats(0, 0, names, perSource)], {
    bitsSet,
    elapsedMs,
    wallMs: 0,
    tasks: 0,
    chunkBits: input.chunkBits,
  });
  if (input.onProgress !== undefined) {
    notifyProgress(input.onProgress, {
      chunksDone: stats.chunks,
      chunksTotal: stats.chunks,
      bytesScanned: bitmap.length * BigInt(sources.length),
      bytesTotal: bitmap.length * BigInt(sources.length),
    });
  }
  return { ...stats, workers: [], wallMs: performance.now() - input.tStart };
}

/**
 * The streamed short path: the plan's chunks in order, each recorded through a capturing view of
 * the bitmap (./worker/RunCapture.ts, as a worker records a streamed report) and its runs handed
 * to `onChunk` right after it, when it recorded any (module comment).
 */
function reportChunksStreamed(input: InlineInput, onChunk: (c: ReportedChunk) => void): PoolSourceStats[] {
  const { bitmap, sources, plan } = input;
  const capture = RunCapture.fromSharedCapturing(bitmap.share());
  const options = { noClear: input.noClear };
  const perSource = sources.map(() => emptyPoolSourceStats());
  for (let c = 0; c < plan.chunks; c++) {
    const at = plan.locate(c);
    walkChunk(sources[at.source]!, capture, at, options, perSource[at.source]!);
    const runs = capture.take();
    if (runs.length > 0) handOver(onChunk, bitmap, c, sources[at.source]!.name, runs);
  }
  return perSource;
}

/**
 * The JIT warm-up of this thread for the short path (./worker/warmUp.ts): the workers' synthetic
 * workload, ended by whole reports through {@link reportInline}, plain and streamed. Once per
 * thread; ReportPool runs it on the caller's thread while its workers start, when it may report
 * there (`inlineBelow > 0` and `warmUp` on).
 * @returns the time it took, ms (NaN when it failed)
 */
export function warmUpInline(): number {
  return warmUpKernels((bitmap, sources, chunkBits, stream) => {
    const bits = sources.map(() => chunkBits);
    const { plan } = reportPlans(bitmap, bits);
    reportInline({ bitmap, sources, noClear: false, onProgress: undefined, chunkBits: bits, onChunk: stream ? () => {} : undefined, plan, tStart: performance.now() });
  });
}
