/**
 * The per-chunk loop one worker runs for one report: a plain function, so that tests can run it
 * in-process (vitest does not see code inside worker threads) and the piscina entry
 * (./poolWorkerEntry.ts) only adds the source factory.
 * Runs on a pool worker (and in-process in the tests).
 *
 * Theory of operation
 * -------------------
 * A task is the *one* message a worker gets per report. It carries descriptors only (the bitmap's
 * and the sources' SharedArrayBuffers are shared, not copied): the worker rebuilds views, builds
 * the same {@link ChunkPlan} as the main thread, and then takes part in the report's three phases
 * (../ControlBlock.ts): count the bitmap's bits piece by piece, walk the chunks, count again; in
 * each it claims items from the phase's cursor until none is left or STOP is set, then waits at
 * the phase barrier. One message per worker, not one per chunk, because a piscina task costs
 * about as much as a chunk of work (figures: docs/bench/limits.md §5, §6): per-chunk messages
 * would double the cost of a clean walk.
 *
 * For each chunk: publish its index in the slot (so a worker that dies is named), report it with
 * the source's `reportChunk` (record before clear is the source's rule: a death anywhere leaves
 * every cleared unit in the bitmap), then count it. STOP is read between chunks, so a stop takes
 * effect within one chunk (or one counted piece).
 *
 * Streaming (`stream`, a MessagePort, when the caller passed `onChunk`): the worker records into
 * a ./RunCapture.ts view of the bitmap, and after each chunk that recorded something posts
 * `{ chunk, runs }` (the runs the chunk recorded, copied, never transferred) on the port,
 * counting the post in the control block (`chunkPosted`) first and the chunk done after, so once
 * every task has settled the main thread knows how many messages are on their way. A chunk that
 * recorded nothing posts nothing: at 64 GiB of a sparse round, 512 chunks of which a few dozen
 * recorded anything, the empty messages made the streamed report 2-4 times slower than the plain
 * one (docs/migrate.md, "Measured"). A streamed report does not count the bitmap before its
 * walk: the capture counts each piece just before its first write there (./CountAhead.ts), and
 * the walk barrier is followed by the count of the pieces no write touched and the CountBefore
 * barrier. The worker that posts the report's first message (`chunkPosted` returns 0) then
 * steps off its core for 0.1 ms (a timed `Atomics.wait`): when the workers hold every core, the
 * main thread that must hand that chunk over otherwise waits for the scheduler to preempt one,
 * and the first range reached the caller up to ~5 ms late (p90 at 1 TiB: 5.2–5.5 ms without,
 * 2.4–3.0 ms with; docs/migrate.md, "Measured"). Without `stream` nothing of this runs.
 *
 * Nothing escapes: any throw becomes `{ kind: 'failed', error: IovaBitmapError.dataOf(e) }`
 * (code and message kept; a plain Error becomes `EIO`), because piscina drops an Error
 * subclass's own fields on the way back.
 *
 * Fault injection (test-only): the worker that claims chunk `afterChunks` reports the first half
 * of it, then exits its thread or throws, as a worker dying mid-chunk would.
 */
import { threadId, type MessagePort } from 'node:worker_threads';
import {
  IovaBitmap,
  IovaBitmapError,
  type DirtySource,
  type DirtySourceShared,
  type IovaBitmapErrorData,
  type ReportOptions,
  type SharedIovaBitmap,
} from '@iovabitmap/core';
import { addSourceStats, bitmapViews, deferMarks } from '@iovabitmap/core/internal';
import { ChunkPlan, countPlan, reportChunkOf, type ChunkLocation } from '../ChunkPlan.js';
import { ControlBlock, Phase, StopReason } from '../ControlBlock.js';
import { emptyPoolSourceStats, type PoolSourceStats } from '../poolStats.js';
import { CountAhead } from './CountAhead.js';
import { RunCapture } from './RunCapture.js';

/**
 * Test-only: makes one worker of a report die mid-chunk. Never use it in production.
 */
export interface FaultInjection {
  /** The worker that claims chunk number `afterChunks` (0-based; i.e. after that many claims) dies. */
  readonly afterChunks: number;
  /** `'exit'`: `process.exit(1)` in the worker thread; `'throw'`: an Error thrown from the chunk loop. */
  readonly mode: 'exit' | 'throw';
}

/** The one message a worker gets per report. Structured-cloneable. */
export interface ReportTask {
  readonly kind: 'report';
  /** The report's control block (../ControlBlock.ts). */
  readonly control: SharedArrayBuffer;
  /** This task's slot in the control block. */
  readonly slot: number;
  /** The caller's bitmap. */
  readonly bitmap: SharedIovaBitmap;
  /** The sources, in report order. */
  readonly sources: readonly DirtySourceShared[];
  /** Read without clearing. */
  readonly noClear: boolean;
  /** Piece size in bits of each source (../ChunkPlan.ts). */
  readonly chunkBits: readonly number[];
  /** Test-only fault injection. */
  readonly fault?: FaultInjection;
  /** Where to post each finished chunk's runs (streaming); absent: no capture, no message. */
  readonly stream?: MessagePort;
}

/** What a streaming worker posts per finished chunk. */
export interface ChunkRunsMessage {
  /** The chunk's index in the report's plan. */
  readonly chunk: number;
  /** (first bit, bit count) pairs, bits of the bitmap, as recorded. */
  readonly runs: Float64Array;
}

/** What a report task returns (never throws). */
export type ReportTaskResult =
  | {
      readonly kind: 'done';
      readonly slot: number;
      readonly threadId: number;
      /** Counters per source, indexed like the task's sources. */
      readonly perSource: readonly PoolSourceStats[];
      /**
       * When this task entered and left the walk phase, ms since the epoch with sub-ms precision
       * (`performance.timeOrigin + performance.now()`, comparable across threads); NaN when it
       * did not walk (stopped before).
       */
      readonly walkStartMs: number;
      readonly walkEndMs: number;
    }
  | { readonly kind: 'cancelled'; readonly slot: number }
  | {
      readonly kind: 'failed';
      readonly slot: number;
      readonly threadId: number;
      /** The chunk being walked when it failed, or -1 (while rebuilding the views). */
      readonly chunk: number;
      readonly error: IovaBitmapErrorData;
    };

/**
 * The body of the chunk loop: reports chunk `at` of `source` into `bitmap` and adds to `counters`
 * what it did (its stats, one chunk, the time inside `reportChunk`). Shared with the caller's-thread
 * streamed path (../inlineReport.ts), which walks the same plan.
 */
export function walkChunk(source: DirtySource, bitmap: IovaBitmap, at: ChunkLocation, options: ReportOptions, counters: PoolSourceStats): void {
  const t0 = performance.now();
  const st = source.reportChunk(bitmap, reportChunkOf(bitmap, at), options);
  counters.busyMs += performance.now() - t0;
  addSourceStats(counters, st);
  counters.chunks++;
}

/** Rebuilds a source from its descriptor (core's `dirtySourceFromShared` in the real worker). */
export type SourceFactory = (d: DirtySourceShared) => DirtySource;

/**
 * Claims and counts bitmap pieces of the CountAfter phase (the `countPlan` cut) until none is
 * left or STOP is set.
 */
function countAfter(ctrl: ControlBlock, plan: ChunkPlan, bitmap: IovaBitmap): void {
  for (;;) {
    if (ctrl.stopReason() !== StopReason.None) return;
    const i = ctrl.claim(Phase.CountAfter);
    if (i >= plan.chunks) return;
    const at = plan.locate(i);
    ctrl.pieceCounted(Phase.CountAfter, i, bitmap.countBits(at.firstBit, at.bitCount));
  }
}

/**
 * The CountBefore phase's loop: claims pieces from its cursor and counts each one no write has
 * counted ahead (./CountAhead.ts) yet, until none is left or STOP is set.
 */
function countBefore(ctrl: ControlBlock, plan: ChunkPlan, ahead: CountAhead): void {
  for (;;) {
    if (ctrl.stopReason() !== StopReason.None) return;
    const i = ctrl.claim(Phase.CountBefore);
    if (i >= plan.chunks) return;
    ahead.countIfFree(i);
  }
}

/**
 * How long the worker that posted a streamed report's first chunk steps off its core, ms (module
 * comment, "Streaming"): 0.1 ms once per report.
 */
const FIRST_POST_STEP_OFF_MS = 0.1;
const stepOffCell = new Int32Array(new SharedArrayBuffer(4));

/** A timed wait nobody wakes: the kernel gives the core to another thread for that long. */
function stepOffCore(): void {
  Atomics.wait(stepOffCell, 0, 0, FIRST_POST_STEP_OFF_MS);
}

/** Runs one report task; see the module comment. */
export function runReportTask(task: ReportTask, rebuild: SourceFactory): ReportTaskResult {
  const ctrl = ControlBlock.attach(task.control);
  const slot = task.slot;
  if (!ctrl.tryStart(slot)) {
    task.stream?.close();
    return { kind: 'cancelled', slot };
  }
  let c = -1;
  const perSource = task.sources.map(() => emptyPoolSourceStats());
  try {
    const stream = task.stream;
    const plain = IovaBitmap.fromShared(task.bitmap);
    const { bitBase } = bitmapViews(plain);
    const counts = countPlan(plain.nbits, bitBase);
    const ahead = new CountAhead(ctrl, counts, bitBase, (first, n) => plain.countBits(first, n));
    // Streaming: every write goes through the capture, which counts each piece ahead of it. The
    // counts read through `plain`, a second view of the same memory: a summary read on the capture
    // itself would first make the marks held back on it (deferMarks, the injected 'exit' fault).
    const capture = stream === undefined ? undefined : RunCapture.fromSharedCapturing(task.bitmap, ahead);
    const bitmap = capture ?? plain;
    const sources = task.sources.map(rebuild);
    const plan = new ChunkPlan(bitmap.windows(), bitBase, task.chunkBits);
    if (plan.chunks !== ctrl.chunks || counts.chunks !== ctrl.total(Phase.CountBefore) || plan.sources !== sources.length) {
      throw new IovaBitmapError('EIO', `reportWorker: the worker planned ${plan.chunks} chunks and ${counts.chunks} count pieces, the main thread ${ctrl.chunks} and ${ctrl.total(Phase.CountBefore)}`);
    }
    if (capture === undefined) {
      countBefore(ctrl, counts, ahead);
      if (!ctrl.waitPhase(Phase.CountBefore)) return { kind: 'done', slot, threadId, perSource, walkStartMs: NaN, walkEndMs: NaN };
    }
    const walkStartMs = performance.timeOrigin + performance.now();
    const options = { noClear: task.noClear };
    const fault = task.fault;
    for (;;) {
      if (ctrl.stopReason() !== StopReason.None) break;
      c = ctrl.claim(Phase.Walk);
      if (c >= plan.chunks) {
        c = -1;
        break;
      }
      ctrl.setCurrent(slot, c);
      const at = plan.locate(c);
      const source = sources[at.source]!;
      if (fault !== undefined && c === fault.afterChunks) {
        const chunk = reportChunkOf(bitmap, at);
        const mid = chunk.chunkLo + (BigInt(at.bitCount >>> 1) << BigInt(bitmap.pageShift));
        // 'exit' dies as a crash inside a walk would: holding back the summary marks of what the
        // half chunk recorded (a deferral scope never closed; the pool marks the summary whole).
        if (fault.mode === 'exit') deferMarks(bitmap, true);
        if (mid > chunk.chunkLo) source.reportChunk(bitmap, { ...chunk, chunkHi: mid }, options);
        if (fault.mode === 'exit') process.exit(1);
        throw new Error(`injected fault in chunk ${c}`);
      }
      walkChunk(source, bitmap, at, options, perSource[at.source]!);
      if (capture !== undefined) {
        const runs = capture.take();
        // A chunk that recorded nothing is not posted: a sparse report of a big bitmap is mostly
        // such chunks, and a message costs more than walking a clean chunk (module comment).
        if (runs.length > 0) {
          const first = ctrl.chunkPosted() === 0;
          stream!.postMessage({ chunk: c, runs } satisfies ChunkRunsMessage); // copied, never transferred (./RunCapture.ts take)
          if (first) stepOffCore();
        }
      }
      ctrl.chunkDone(slot, at.bitCount);
    }
    let walked = ctrl.waitPhase(Phase.Walk);
    const walkEndMs = performance.timeOrigin + performance.now();
    if (walked && capture !== undefined) {
      // The pieces no write counted ahead, before any piece is counted after.
      countBefore(ctrl, counts, ahead);
      walked = ctrl.waitPhase(Phase.CountBefore);
    }
    if (walked) countAfter(ctrl, counts, bitmap);
    return { kind: 'done', slot, threadId, perSource, walkStartMs, walkEndMs };
  } catch (e) {
    return { kind: 'failed', slot, threadId, chunk: c, error: IovaBitmapError.dataOf(e) };
  } finally {
    task.stream?.close();
    ctrl.finish(slot);
  }
}
