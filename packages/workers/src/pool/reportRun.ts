/**
 * One report in flight on the pool: posts its tasks, watches them, and settles.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * The run posts min(threads, chunks) tasks, one per worker (./worker/reportTask.ts; a report of a
 * few chunks stays on few workers: posting an extra task has a cost), all sharing one control block
 * (./ControlBlock.ts). With a caller's share (./callerShare.ts) it posts one task fewer, walks
 * chunks on the caller's thread right after posting, and then posts the last task only if chunks
 * are left (else that slot is cancelled unposted). It resolves once every task that *started* has
 * returned. Tasks still queued in piscina are cancelled through the block (CAS PENDING →
 * CANCELLED) as soon as their work is moot, so a report never waits for a worker that is busy
 * with another report's chunks:
 *
 * - A task returns `done` only when the cursor is exhausted (or STOP is set): every chunk is
 *   claimed, so the queued tasks are cancelled and the run waits only for the running ones.
 * - Abort (AbortSignal): STOP = Abort, cancel the queued tasks, wait for the running ones to
 *   finish their current chunk (between-chunk check), then reject `ECANCELED`. We never use
 *   piscina's own abort, which terminates a worker mid-write.
 * - Fault: a task returns `failed` (it caught a throw) or piscina rejects it (the worker thread
 *   died: `process.exit`, a crash). STOP = Fault, cancel the queued tasks, wait for the running
 *   ones, then reject `EIO` naming the source and chunk (read from the dead task's slot). A dead
 *   worker may have left bits unmarked in the bitmap's summary: the run marks it whole. Piscina
 *   replaces a dead worker by itself (minThreads).
 *
 * So when the promise settles, no worker of this report can write to the bitmap again. Whatever
 * was cleared is in the bitmap (sources record before they clear), so after ECANCELED or EIO the
 * caller keeps the bitmap and reports again to get the rest.
 *
 * Streaming (`onChunk`): each task gets its own MessageChannel port; its worker posts the runs of
 * every finished chunk that recorded any there, counting the post in the control block first
 * (./worker/reportTask.ts). The main thread calls `onChunk` as each message arrives, so a consumer
 * sees a chunk's ranges while the report runs. Messages of different ports and piscina's replies
 * are not ordered with each other, so after every task settled the run waits until it has
 * delivered as many chunks as the control block counts posted (final once the tasks settled:
 * each post is counted before it is made), and only then settles.
 * After a failure it waits at most {@link DRAIN_AFTER_FAILURE_MS} (a worker that died may have
 * taken unsent messages with it). Every range handed out was in the bitmap before it was posted;
 * the bitmap may hold more (chunks not handed out, a chunk cut short by the failure).
 *
 * Progress: a timer reads the block's counters every `progressIntervalMs` and once more at the
 * end; workers only do one Atomics.add per chunk for it. `bitsSet` comes from the workers' two
 * counting phases (./ControlBlock.ts), or from their records' bits when the count after is skipped
 * (../poolStats.ts), so the main thread never scans the bitmap.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { IovaBitmapError, type DirtySource, type IovaBitmap, type IovaBitmapErrorData } from '@iovabitmap/core';
import { markWritten } from '@iovabitmap/core/internal';
import type { ChunkPlan } from './ChunkPlan.js';
import { walkCallerShare } from './callerShare.js';
import { ControlBlock, Phase, StopReason, type CountSkip } from './ControlBlock.js';
import { type WorkerReportStats, workerStats } from './poolStats.js';
import type { ReportProgress, ReportedChunk } from './poolTypes.js';
import type { ChunkRunsMessage, ReportTask, ReportTaskResult } from './worker/reportTask.js';

const WHERE = 'ReportPool.report';

/**
 * Streaming: hands chunk `chunk` of source `source`, its recorded `runs` (bit pairs of `bitmap`),
 * to the caller's `onChunk`; a throw becomes a warning (the bits are in the bitmap already).
 * Both paths use it: the workers' (per message) and the caller's thread (./inlineReport.ts).
 */
export function handOver(onChunk: (c: ReportedChunk) => void, bitmap: IovaBitmap, chunk: number, source: string, runs: Float64Array): void {
  const shift = BigInt(bitmap.pageShift);
  try {
    onChunk({
      chunk,
      source,
      runs,
      *ranges() {
        for (let i = 0; i + 1 < runs.length; i += 2) yield { iova: bitmap.iova + (BigInt(runs[i]!) << shift), length: BigInt(runs[i + 1]!) << shift };
      },
    });
  } catch (e) {
    process.emitWarning(`${WHERE}: onChunk threw: ${String(e)}`, 'IovaBitmapWarning');
  }
}

/** Everything a run needs; validated by the caller. */
export interface RunInput {
  readonly piscina: Piscina;
  readonly bitmap: IovaBitmap;
  readonly names: readonly string[];
  readonly plan: ChunkPlan;
  /** Pieces of the counting phases (`countPlan(...).chunks`: the count plan has one source). */
  readonly countPieces: number;
  /**
   * Counting phases the run does without (./ControlBlock.ts, "Skipping"): `before`, the bitmap's
   * summary was clean just before the run; `after`, `bitsSet` is the sum of the records' bits.
   */
  readonly skip: CountSkip;
  readonly threads: number;
  /**
   * The caller's thread may walk chunks in place of the last worker (./callerShare.ts), with these
   * sources (the report's own objects) for at most `budgetMs` (plus one chunk). ReportPool sets it
   * only when that is allowed (no streaming, no fault injection, the count before done).
   */
  readonly callerShare?: { readonly sources: readonly DirtySource[]; readonly budgetMs: number };
  /** The task fields shared by every slot. */
  readonly task: Omit<ReportTask, 'control' | 'slot'>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ReportProgress) => void;
  readonly onChunk?: (c: ReportedChunk) => void;
  readonly progressIntervalMs: number;
}

/** How long a failed streaming run waits for chunk messages still on their way, ms. */
const DRAIN_AFTER_FAILURE_MS = 200;

/** What a successful run gives back (wall time is the caller's). */
export interface RunOutput {
  /** One per task that ran, then the caller's share's when it walked, by slot. */
  readonly workers: WorkerReportStats[];
  /** Tasks posted to the workers. */
  readonly tasks: number;
  /** The workers' count after the walk minus their count before (exactly what poolStats.ts says). */
  readonly bitsSet: number;
  /**
   * The walk phase, ms: from the first worker starting to walk to the last one seeing every chunk
   * done (posting, waking the workers and the two counts excluded, like core's `elapsedMs`; a
   * streamed report's before-counts run inside its walk, ./worker/CountAhead.ts, so they are in).
   */
  readonly elapsedMs: number;
}

/** The IOVA range of chunk `c` as a detail record for errors. */
function chunkDetails(input: RunInput, c: number): Record<string, string | number> {
  if (c < 0 || c >= input.plan.chunks) return { chunk: -1 };
  const at = input.plan.locate(c);
  const shift = BigInt(input.bitmap.pageShift);
  const lo = input.bitmap.iova + (BigInt(at.firstBit) << shift);
  const hi = lo + (BigInt(at.bitCount) << shift);
  return { source: input.names[at.source]!, chunk: c, chunkLo: `0x${lo.toString(16)}`, chunkHi: `0x${hi.toString(16)}` };
}

/** Builds the error of a failed task: its own code and message when it had one, else EIO naming the chunk. */
function faultError(input: RunInput, slot: number, chunk: number, cause: IovaBitmapErrorData, threadId?: number): IovaBitmapError {
  const d = chunkDetails(input, chunk);
  const details: Record<string, string | number> = { ...d, slot, ...(threadId === undefined ? {} : { threadId }) };
  if (cause.code !== 'EIO') return IovaBitmapError.fromData(cause, details);
  const who = threadId === undefined ? `the worker of task ${slot}` : `worker ${threadId} (task ${slot})`;
  const where = d.chunk === -1 ? 'outside any chunk' : `in chunk ${chunk} of source ${JSON.stringify(d.source)} (IOVA [${d.chunkLo}, ${d.chunkHi}))`;
  return new IovaBitmapError('EIO', `${WHERE}: ${who} failed ${where}: ${cause.message}`, { details: { ...cause.details, ...details } });
}

/** Calls a report's onProgress; a throw becomes a process warning (the report goes on). */
export function notifyProgress(cb: (p: ReportProgress) => void, progress: ReportProgress): void {
  try {
    cb(progress);
  } catch (e) {
    process.emitWarning(`${WHERE}: onProgress threw: ${String(e)}`, 'IovaBitmapWarning');
  }
}

function callProgress(input: RunInput, ctrl: ControlBlock): void {
  const cb = input.onProgress;
  if (cb === undefined) return;
  const p = ctrl.progress();
  const shift = BigInt(input.bitmap.pageShift);
  notifyProgress(cb, {
    chunksDone: p.chunksDone,
    chunksTotal: input.plan.chunks,
    bytesScanned: p.bitsDone << shift,
    bytesTotal: input.bitmap.length * BigInt(input.names.length),
  });
}

/**
 * Runs one report on the pool; see the module comment. Rejects with ECANCELED, EIO or a worker's
 * own error, once no worker of the report can write any more.
 */
export async function runReport(input: RunInput): Promise<RunOutput> {
  const run = new ReportRun(input);
  const unwatch = run.watch();
  try {
    await run.postAndWait();
    await run.drainChunks();
  } finally {
    unwatch();
    run.closePorts();
  }
  callProgress(input, run.ctrl);
  return run.outcome();
}

/** The state of one report in flight: its tasks, which of them have settled, what they returned. */
class ReportRun {
  readonly ctrl: ControlBlock;
  readonly #input: RunInput;
  /**
   * Task slots: min(threads, chunks). Every one is posted, but the last after a caller's share
   * that left no chunk unclaimed (then it is cancelled unposted).
   */
  readonly #tasks: number;
  /** Tasks posted so far. */
  #posted = 0;
  /** The caller's share (./callerShare.ts), when this run has one (two task slots or more): it walks in slot #tasks. */
  readonly #share: RunInput['callerShare'];
  /** closed[s] = 1 once task s has settled (returned, died, or was cancelled while queued). */
  readonly #closed: Uint8Array;
  #open: number;
  #allClosed: () => void = () => {};
  readonly #workers: WorkerReportStats[] = [];
  #walkStart = Infinity;
  #walkEnd = -Infinity;
  #failure: IovaBitmapError | undefined;
  /** Streaming: the main thread's end of each task's channel, chunks delivered, and the drain waiter. */
  readonly #ports: MessagePort[] = [];
  #delivered = 0;
  #drained: (() => void) | undefined;

  constructor(input: RunInput) {
    this.#input = input;
    // A task should get at least one full chunk of bits: a smaller report gains nothing from more
    // workers and pays for posting every extra task (its descriptors; docs/bench/limits.md §9.4).
    this.#tasks = Math.min(input.threads, input.plan.chunks);
    this.#share = this.#tasks >= 2 ? input.callerShare : undefined;
    // The caller's share has the slot after the tasks' (slot index #tasks).
    this.ctrl = ControlBlock.create(this.#tasks + (this.#share === undefined ? 0 : 1), input.plan.chunks, input.countPieces, input.skip);
    this.#closed = new Uint8Array(this.#tasks);
    this.#open = this.#tasks;
  }

  /** Starts the abort listener and the progress timer; returns what stops them. */
  watch(): () => void {
    const { signal, onProgress, progressIntervalMs } = this.#input;
    const onAbort = (): void => {
      if (this.ctrl.requestStop(StopReason.Abort)) this.#cancelQueued();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = onProgress === undefined ? undefined : setInterval(() => callProgress(this.#input, this.ctrl), progressIntervalMs);
    return () => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearInterval(timer);
    };
  }

  /**
   * Posts one task per slot (with a caller's share: all but the last, then the share, then the
   * last only if chunks are left) and resolves when every one has settled.
   */
  postAndWait(): Promise<void> {
    const settled = new Promise<void>((resolve) => (this.#allClosed = resolve));
    const share = this.#share;
    const first = share === undefined ? this.#tasks : this.#tasks - 1;
    for (let s = 0; s < first; s++) this.#post(s);
    if (share !== undefined) this.#callerShare(share);
    return settled;
  }

  #post(s: number): void {
    const stream = this.#streamPort();
    const task: ReportTask = { ...this.#input.task, control: this.ctrl.buffer, slot: s, ...(stream === undefined ? {} : { stream }) };
    this.#posted++;
    this.#input.piscina.run(task, stream === undefined ? undefined : { transferList: [stream] as never }).then(
      (r: ReportTaskResult) => this.#onResult(s, r),
      (e: unknown) => this.#onDeath(s, e),
    );
  }

  /**
   * The caller's share (./callerShare.ts) in the slot after the tasks', then the last task: posted
   * when chunks are left, else cancelled unposted. Then the tasks still queued are moot too when
   * nothing is counted after the walk (`skip.after`); else they must still run, to count after it
   * (the caller's thread never waits at the walk's barrier, ./callerShare.ts).
   */
  #callerShare(share: NonNullable<RunInput['callerShare']>): void {
    const { plan, bitmap, names, task } = this.#input;
    const slot = this.#tasks;
    const r = walkCallerShare(this.ctrl, slot, { plan, bitmap, sources: share.sources, names, noClear: task.noClear, budgetMs: share.budgetMs });
    if (r.stats.chunks > 0 || r.failure !== undefined) this.#walked(r.stats, r.walkStartMs, r.walkEndMs);
    if (r.failure !== undefined) this.#fail(faultError(this.#input, slot, r.failure.chunk, r.failure.error, r.stats.threadId));
    const last = this.#tasks - 1;
    if (r.chunksLeft) this.#post(last);
    else if (this.#input.skip.after) this.#cancelQueued();
    else if (this.ctrl.cancel(last)) this.#close(last);
  }

  /** Keeps the stats and walk times of a task (or of the caller's share) that walked. */
  #walked(stats: WorkerReportStats, walkStartMs: number, walkEndMs: number): void {
    this.#workers.push(stats);
    if (walkStartMs < this.#walkStart) this.#walkStart = walkStartMs;
    if (walkEndMs > this.#walkEnd) this.#walkEnd = walkEndMs;
  }

  /** Streaming: a new channel; keeps our end (delivering its messages) and returns the worker's. */
  #streamPort(): MessagePort | undefined {
    const onChunk = this.#input.onChunk;
    if (onChunk === undefined) return undefined;
    const { port1, port2 } = new MessageChannel();
    const { bitmap, names, plan } = this.#input;
    port1.on('message', (m: ChunkRunsMessage) => {
      this.#delivered++;
      handOver(onChunk, bitmap, m.chunk, names[plan.locate(m.chunk).source]!, m.runs);
      if (this.#drained !== undefined && this.#delivered >= this.ctrl.posted()) this.#drained();
    });
    this.#ports.push(port1);
    return port2;
  }

  /** Streaming: waits until every chunk counted posted was delivered (module comment). */
  async drainChunks(): Promise<void> {
    if (this.#ports.length === 0 || this.#delivered >= this.ctrl.posted()) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      if (this.#failure !== undefined || this.ctrl.stopReason() !== StopReason.None) timer = setTimeout(resolve, DRAIN_AFTER_FAILURE_MS);
    });
    if (timer !== undefined) clearTimeout(timer);
    this.#drained = undefined;
  }

  /** Closes the main thread's ends of the channels (a no-op without streaming). */
  closePorts(): void {
    for (const p of this.#ports) p.close();
  }

  /** A task returned: its stats, or its failure. */
  #onResult(s: number, r: ReportTaskResult): void {
    if (r.kind === 'done') {
      this.#walked(workerStats(r.slot, r.threadId, this.#input.names, r.perSource), r.walkStartMs, r.walkEndMs);
      this.#cancelQueued(); // every chunk is claimed: the queued tasks are moot
    } else if (r.kind === 'failed') {
      this.#fail(faultError(this.#input, s, r.chunk, r.error, r.threadId));
    }
    this.#close(s);
  }

  /**
   * A task's worker died (piscina rejected the task). It may have died inside a walk, after writing
   * bits whose summary marks it was still holding back (the sources' recorders make them at the end
   * of a chunk, core's bitSummary.ts "Deferred marks"), with those pages already cleared in the
   * source: so the whole summary is marked (an over-approximation, allowed; 1/512 of the bitmap),
   * and the bitmap's readers (count, dirtyRanges, orInto) still see every bit it wrote.
   */
  #onDeath(s: number, e: unknown): void {
    // A rejection of a task we cancelled (piscina.close() drops queued tasks) is not a fault.
    if (this.#closed[s] === 0) {
      const bitmap = this.#input.bitmap;
      markWritten(bitmap, 0, bitmap.nbits);
      this.#fail(faultError(this.#input, s, this.ctrl.current(s), IovaBitmapError.dataOf(e)));
    }
    this.#close(s);
  }

  /** The first failure wins; STOP makes the running tasks end after their chunk. */
  #fail(err: IovaBitmapError): void {
    this.#failure ??= err;
    this.ctrl.requestStop(StopReason.Fault);
    this.#cancelQueued();
  }

  /** Cancels the tasks still queued in piscina (CAS PENDING → CANCELLED in the control block). */
  #cancelQueued(): void {
    for (let s = 0; s < this.#tasks; s++) if (this.#closed[s] === 0 && this.ctrl.cancel(s)) this.#close(s);
  }

  #close(s: number): void {
    if (this.#closed[s] === 1) return;
    this.#closed[s] = 1;
    if (--this.#open === 0) this.#allClosed();
  }

  /** After every task settled: the stats, or the error (a failure, an abort, chunks left undone). */
  outcome(): RunOutput {
    if (this.#failure !== undefined) throw this.#failure;
    const { plan, signal, countPieces } = this.#input;
    const { chunksDone } = this.ctrl.progress();
    if (chunksDone !== plan.chunks || this.ctrl.done(Phase.CountAfter) !== countPieces) {
      if (this.ctrl.stopReason() === StopReason.Abort) {
        throw new IovaBitmapError('ECANCELED', `${WHERE}: aborted after ${chunksDone} of ${plan.chunks} chunks`, {
          details: { chunksDone, chunksTotal: plan.chunks },
          cause: signal?.reason,
        });
      }
      throw new IovaBitmapError('EIO', `${WHERE}: the workers finished ${chunksDone} of ${plan.chunks} chunks`, {
        details: { chunksDone, chunksTotal: plan.chunks },
      });
    }
    const elapsedMs = this.#walkEnd >= this.#walkStart ? this.#walkEnd - this.#walkStart : 0;
    const workers = this.#workers.sort((a, b) => a.slot - b.slot);
    const bitsSet = this.#input.skip.after ? workers.reduce((n, w) => n + w.total.bitsMarked, 0) : this.ctrl.bitsSet();
    return { workers, tasks: this.#posted, bitsSet, elapsedMs };
  }
}
