/**
 * callerShare: the caller's thread walks chunks of a pool report while the workers wake.
 * Runs on the main thread (the caller's), inside ReportRun (./reportRun.ts).
 *
 * Theory of operation
 * -------------------
 * Why. Before a pool report's last worker walks anything, the caller's thread has posted every
 * task (each `piscina.run` ~0.1–0.2 ms here, half of it the futex wake), and the last worker has
 * woken (0.2–0.4 ms on this VM) and rebuilt its views of the bitmap and the sources (0.1–0.2 ms,
 * cold). Meanwhile the caller's thread sleeps, with the very objects the report is about in its
 * hands, and its core idle. So when it may, the caller takes the place of the last worker:
 * ReportRun posts one task fewer, and the caller claims chunks of the report's walk phase from
 * the same control block (./ControlBlock.ts), in a slot of its own after the tasks' slots, as a
 * worker does (claim, publish the chunk, walk it with core's `reportChunk`, count it done), until
 * the cursor is exhausted, STOP is set, or its budget is spent. Then, if chunks remain (a long
 * report), ReportRun posts the last task after all, so the report still ends up on every worker;
 * if none remain, that task is never posted. A report of 1 TiB of 2 MiB leaves at 1 % dirty went
 * from 1.6–2.6 to 1.0–1.6 ms a call (docs/bench/scale.md, "The caller's share").
 *
 * Same bits. The caller walks with the report's own bitmap and sources (the objects `report()` was
 * given; a worker uses views it rebuilds from their descriptors, over the same memory), one chunk
 * at a time through the same `walkChunk` as a worker; core's ownership rule (DirtySource.ts) makes
 * the bitmap and the sources' state the same whoever walks which chunk.
 *
 * When (ReportPool decides; ./ReportPool.ts): only when the count-before phase is finished as the
 * block is created (the bitmap's summary was clean, `skip.before`). So the caller never waits at a
 * barrier: it must not block in `Atomics.wait` on a worker, since the death of a worker is heard
 * on the caller's own event loop (piscina's rejection), which would then never run. Its loop only
 * claims and walks; a worker that dies meanwhile leaves its chunk unfinished, which the run finds
 * once the caller returns to the event loop. Not with streaming (`onChunk`: the chunks go out as
 * worker messages), nor with fault injection (an 'exit' fault would end the caller's process),
 * nor with one thread (there is no other worker to cover the wake).
 *
 * Long reports. The share pays off when the caller and the workers already posted finish the walk
 * between them; a report much longer than the budget would instead get its last worker a budget
 * late, and lose that worker's wake on top (64 GiB of 4 KiB leaves, ~8 ms: engine ÷ flat 1.05–1.24
 * with a 2 ms share, 0.88–1.02 without). So after each chunk the caller projects the chunks still unclaimed at its own pace
 * on two threads, and stops as soon as that runs past the budget: the last task is then posted
 * after one chunk, about where it would have been without a share.
 *
 * Cost to the caller: its thread is busy for at most the budget plus one chunk
 * (`ReportPoolOptions.callerShareMs`), during which no event of its loop runs: an abort, or a
 * worker's failure or death (all heard on that loop, where STOP is set), is acted on after it, and
 * a progress tick comes late. (The loop still reads STOP before each claim, as a worker's does.) A
 * throw from a source on the caller's thread is a report failure like a worker's.
 */
import { threadId } from 'node:worker_threads';
import { type DirtySource, type IovaBitmap, IovaBitmapError, type IovaBitmapErrorData } from '@iovabitmap/core';
import type { ChunkPlan } from './ChunkPlan.js';
import { type ControlBlock, Phase, StopReason } from './ControlBlock.js';
import { type WorkerReportStats, emptyPoolSourceStats, workerStats } from './poolStats.js';
import { walkChunk } from './worker/reportTask.js';

/** What the caller's share walks with (the report's own objects) and for how long. */
export interface CallerShareInput {
  readonly plan: ChunkPlan;
  readonly bitmap: IovaBitmap;
  readonly sources: readonly DirtySource[];
  readonly names: readonly string[];
  readonly noClear: boolean;
  /** Stop claiming once this many ms have passed (checked before each claim, so one chunk always goes). */
  readonly budgetMs: number;
}

/** What the caller's share did. */
export interface CallerShareResult {
  /** Its counters, as a worker's (threadId: the caller's thread). */
  readonly stats: WorkerReportStats;
  /** When it started and stopped walking, ms since the epoch (as a task's walkStartMs / walkEndMs). */
  readonly walkStartMs: number;
  readonly walkEndMs: number;
  /** Chunks were left unclaimed when it stopped (its budget ran out, nothing failed). */
  readonly chunksLeft: boolean;
  /** A source threw: the chunk it was walking and the error. */
  readonly failure?: { readonly chunk: number; readonly error: IovaBitmapErrorData };
}

/**
 * After `walked` chunks in `elapsedMs`, with `left` chunks unclaimed: would finishing them, at
 * this pace on two threads, run past the budget? Then the caller stops now and the last task is
 * posted at once, not when the budget is spent (module comment, "Long reports").
 */
export function outlastsBudget(elapsedMs: number, walked: number, left: number, budgetMs: number): boolean {
  return left > 0 && elapsedMs + (left * elapsedMs) / (2 * walked) > budgetMs;
}

/**
 * Walks chunks of the report in slot `slot` of `ctrl` on the caller's thread (module comment).
 * The slot is the caller's alone: it starts and finishes it. Never throws.
 */
export function walkCallerShare(ctrl: ControlBlock, slot: number, input: CallerShareInput): CallerShareResult {
  const { plan, bitmap, sources, budgetMs } = input;
  const perSource = sources.map(() => emptyPoolSourceStats());
  const options = { noClear: input.noClear };
  const start = performance.now();
  let failure: CallerShareResult['failure'];
  let c = -1;
  ctrl.tryStart(slot);
  try {
    for (let walked = 0; ctrl.stopReason() === StopReason.None && performance.now() - start < budgetMs; walked++) {
      c = ctrl.claim(Phase.Walk);
      if (c >= plan.chunks) break;
      ctrl.setCurrent(slot, c);
      const at = plan.locate(c);
      walkChunk(sources[at.source]!, bitmap, at, options, perSource[at.source]!);
      ctrl.chunkDone(slot, at.bitCount);
      if (outlastsBudget(performance.now() - start, walked + 1, plan.chunks - ctrl.claimed(Phase.Walk), budgetMs)) break;
    }
  } catch (e) {
    failure = { chunk: c, error: IovaBitmapError.dataOf(e) };
  } finally {
    ctrl.finish(slot);
  }
  const end = performance.now();
  return {
    stats: workerStats(slot, threadId, input.names, perSource),
    walkStartMs: performance.timeOrigin + start,
    walkEndMs: performance.timeOrigin + end,
    chunksLeft: failure === undefined && ctrl.stopReason() === StopReason.None && ctrl.claimed(Phase.Walk) < plan.chunks,
    ...(failure === undefined ? {} : { failure }),
  };
}
