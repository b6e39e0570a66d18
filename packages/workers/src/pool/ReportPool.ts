/**
 * ReportPool: the parallel dirty-page reporter, on a piscina pool of long-lived workers.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * What it does: the same as core's sequential `reportDirty` (read every source over the bitmap's
 * whole range, record into the bitmap, clear unless `noClear`), with the range cut into chunks
 * (./ChunkPlan.ts) that the pool's workers claim dynamically (./ControlBlock.ts). The ownership
 * rule of core's DirtySource.ts makes the bits and the remaining source state identical to the
 * sequential reporter's for any thread count and chunk size.
 *
 * Life of a pool: the constructor starts `threads` piscina workers (minThreads = maxThreads, so
 * none is retired when idle) and posts one warm-up task per worker; each warm-up task waits at a
 * barrier until all have arrived, which forces one onto every worker and proves they are all
 * loaded. Every worker runs its JIT warm-up when it loads the report handler
 * (./worker/poolWorkerEntry.ts, ./worker/warmUp.ts), so a replacement worker (after a fault) warms
 * itself too, before its first task; when the pool may report on the caller's thread
 * (`inlineBelow > 0`), that thread runs the same warm-up while the workers start
 * (./inlineReport.ts `warmUpInline`). Reports wait for that start-up once. More threads than cores
 * is allowed; they time-share. The count is capped at {@link MAX_POOL_THREADS}: each worker costs
 * ~30 MiB and ~0.3 s to start from source, so a typo such as 256 would cost gigabytes and a minute
 * before the first report.
 *
 * Life of a report ({@link ReportPool.report}): validate everything (core's `checkReportRequest`,
 * then our own options) before anything is posted, so a rejected report writes nothing; a report
 * estimated below `inlineBelow` entries of work then runs on the caller's thread
 * (./inlineReport.ts: core's `reportDirty`, without waiting for the workers); any other one runs
 * the tasks (./reportRun.ts: one message per worker, abort and fault handling; the caller's thread
 * walks chunks in place of the last worker for up to `callerShareMs` when it may,
 * ./callerShare.ts; the workers also
 * count the bitmap's bits before and after the walk, for `bitsSet`, reading only the blocks its
 * summary marks, or skip either count when it is known without reading: {@link countsToSkip};
 * ./poolStats.ts has the exact definition). Several reports may run at
 * once on one pool: each has its own control block, and their tasks share piscina's queue.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { type DirtySource, type DirtySourceShared, type IovaBitmap, IovaBitmapError, type WorkProfile } from '@iovabitmap/core';
import { checkInt, checkReportRequest, summaryClean } from '@iovabitmap/core/internal';
import { MAX_TIMER_MS, checkCallback, checkFlag, checkNumber, checkOptions, checkSignal, isPlainObject, orDefault } from '../checks.js';
import { checkChunkBits, chunkBitsFor, reportPlans } from './ChunkPlan.js';
import { type PoolReportStats, poolReportStats } from './poolStats.js';
import type { PoolReportOptions, ReportPoolOptions, ReportPoolStatus } from './poolTypes.js';
import { runReport } from './reportRun.js';
import type { CountSkip } from './ControlBlock.js';
import { DEFAULT_INLINE_BELOW, inlineWork, reportInline, warmUpInline } from './inlineReport.js';
import { piscinaEntry } from '../runtime/workerLaunch.js';
import type { FaultInjection } from './worker/reportTask.js';
import type { WarmupTask } from './worker/warmUp.js';
import type { ReportWorkerData } from './worker/messageHandler.js';

const WHERE = 'ReportPool';

/**
 * Most worker threads a pool (and every `--threads` of the CLI) may have: 4 × the logical CPUs
 * (`os.availableParallelism()`), at least 4. Each worker costs ~30 MiB and ~0.3 s to start from
 * source; threads above the core count time-share the cores (2 × oversubscribed was 15–30% slower
 * than 1 × in the README's measurements), so more than 4 × can only cost.
 */
export const MAX_POOL_THREADS = Math.max(4, 4 * availableParallelism());

/**
 * The descriptor of one source, for the workers. A `share()` that throws or returns something that
 * is not a descriptor is the caller's source at fault: EINVAL naming it (a typed error keeps its
 * code), before anything is posted.
 */
function shareSource(where: string, s: DirtySource): DirtySourceShared {
  let d: unknown;
  try {
    d = s.share();
  } catch (e) {
    const data = IovaBitmapError.dataOf(e, 'EINVAL');
    throw new IovaBitmapError(data.code, `${where}: source ${JSON.stringify(s.name)} could not be shared: ${data.message}`, { param: 'sources', value: JSON.stringify(s.name), cause: e });
  }
  if (!isPlainObject(d) || typeof d.kind !== 'string') {
    throw IovaBitmapError.bad('EINVAL', where, 'sources', s.name, 'holds a source whose share() returned no descriptor ({ kind, ... })');
  }
  return d as unknown as DirtySourceShared;
}

/** ECANCELED when the report's signal is already aborted (nothing has been written yet). */
function throwIfAborted(where: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new IovaBitmapError('ECANCELED', `${where}: aborted before it started`, { cause: signal.reason });
}

function checkFault(v: unknown): FaultInjection | undefined {
  if (v === undefined) return undefined;
  const f = v as FaultInjection;
  if (typeof f !== 'object' || f === null || !Number.isInteger(f.afterChunks) || f.afterChunks < 0 || (f.mode !== 'exit' && f.mode !== 'throw')) {
    throw IovaBitmapError.bad('EINVAL', `${WHERE}.report`, 'faultInjection', v, "must be { afterChunks: integer >= 0, mode: 'exit' | 'throw' }");
  }
  return { afterChunks: f.afterChunks, mode: f.mode };
}

/** Default of `ReportPoolOptions.callerShareMs` (poolTypes.ts says why). */
export const DEFAULT_CALLER_SHARE_MS = 2;

/**
 * The counting phases a report can do without (./ControlBlock.ts, "Skipping"): the count before
 * when the bitmap's summary is clean now (core's `summaryClean`, read just before the tasks are
 * posted); then also the count after when the report has one source whose records are disjoint
 * bits of this bitmap (its work profile's `unitShift` is at least the bitmap's page shift), so
 * that the bits it set are the sum of its records' bits. `profiles` are the sources' work profiles
 * when the caller asked for them already (else the one source is asked here).
 */
function countsToSkip(bitmap: IovaBitmap, sources: readonly DirtySource[], profiles: readonly (WorkProfile | undefined)[]): CountSkip {
  const before = summaryClean(bitmap);
  if (!before || sources.length !== 1) return { before, after: false };
  const unitShift = (profiles.length === 1 ? profiles[0] : sources[0]!.workProfile?.(bitmap.iova, bitmap.length))?.unitShift;
  return { before, after: unitShift !== undefined && unitShift >= bitmap.pageShift };
}

/**
 * The parallel reporter; see the module comment.
 * @example
 * ```ts
 * import { IoPageTable, IovaBitmap } from '@iovabitmap/core';
 * import { ReportPool } from '@iovabitmap/workers';
 *
 * const GiB = 1n << 30n;
 * const iommu = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
 * iommu.map(0n, 4n * GiB, { leaf: 4096n });
 * iommu.setDirtyTracking(true);
 * iommu.dmaWrite(3n * GiB, 1 << 20); // 1 MiB: 256 leaves
 *
 * // Two worker threads, started once and reused by every report; close the pool when done.
 * const pool = new ReportPool({ threads: 2 });
 * const bitmap = new IovaBitmap({ iova: 0n, length: 4n * GiB, pageSize: 4096 });
 * const stats = await pool.report({ bitmap, sources: [iommu] });
 * console.log(stats.bitsSet); // 256
 * await pool.close();
 * ```
 */
export class ReportPool {
  /** Worker threads. */
  readonly threads: number;
  /** Bits per chunk, or `undefined` for the per-bitmap default. */
  readonly chunkBits: number | undefined;
  /** Least ms between onProgress calls. */
  readonly progressIntervalMs: number;
  /** Reports estimated below this many entries of work run on the caller's thread (0: never). */
  readonly inlineBelow: number;
  /** Longest share of a report's walk on the caller's thread, ms (0: never; ./callerShare.ts). */
  readonly callerShareMs: number;
  readonly #piscina: Piscina;
  readonly #ready: Promise<void>;
  readonly #active = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  /**
   * Starts the workers (and their warm-up, unless `warmUp: false`).
   * @throws IovaBitmapError `EINVAL` for a bad option.
   */
  constructor(options: ReportPoolOptions = {}) {
    checkOptions(WHERE, 'options', options);
    const threads = orDefault(options.threads, availableParallelism());
    checkInt(WHERE, 'threads', threads, 1, MAX_POOL_THREADS, `(4 × the ${availableParallelism()} logical CPUs, at least 4; each worker costs ~30 MiB and ~0.3 s to start)`);
    this.threads = threads;
    this.chunkBits = options.chunkBits === undefined ? undefined : checkChunkBits(WHERE, options.chunkBits);
    this.progressIntervalMs = checkNumber(WHERE, 'progressIntervalMs', options.progressIntervalMs, 100, 50, MAX_TIMER_MS, `must be a number of milliseconds in [50, ${MAX_TIMER_MS}]`);
    this.inlineBelow = checkInt(WHERE, 'inlineBelow', orDefault(options.inlineBelow, DEFAULT_INLINE_BELOW), 0, Number.MAX_SAFE_INTEGER, '(entries of work; 0: every report on the workers)');
    this.callerShareMs = checkNumber(WHERE, 'callerShareMs', options.callerShareMs, DEFAULT_CALLER_SHARE_MS, 0, 1000, 'must be a number of milliseconds in [0, 1000]');
    const warm = checkFlag(WHERE, 'warmUp', options.warmUp, true);
    const { filename, execArgv } = piscinaEntry(new URL('./worker/poolWorkerEntry.js', import.meta.url));
    const workerData: ReportWorkerData = { warmUp: warm };
    this.#piscina = new Piscina({ filename, execArgv, workerData, minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1 });
    // A worker that dies with no task of ours is replaced by piscina; without a listener the
    // 'error' event would throw. Faults during a report are reported by the report itself.
    this.#piscina.on('error', () => {});
    this.#ready = warm ? this.#warmUp(this.inlineBelow > 0) : Promise.resolve();
    this.#ready.catch(() => {});
  }

  /**
   * The workers' warm-up tasks, and with `inline` this thread's own (./inlineReport.ts
   * `warmUpInline`), run while the workers start: the short path's first reports were as cold as
   * a fresh worker's (docs/bench/pool.md).
   */
  async #warmUp(inline: boolean): Promise<void> {
    const barrier = new SharedArrayBuffer(4);
    const task: WarmupTask = { kind: 'warmup', barrier, parties: this.threads, timeoutMs: 60_000 };
    const workers = Promise.all(Array.from({ length: this.threads }, () => this.#piscina.run(task)));
    if (inline) {
      await new Promise<void>((resolve) => setImmediate(resolve)); // not inside the constructor
      warmUpInline();
    }
    await workers;
  }

  /**
   * Resolves when every worker has started and warmed up.
   * @throws IovaBitmapError `EIO` when the workers could not start.
   */
  async ready(): Promise<void> {
    try {
      await this.#ready;
    } catch (e) {
      throw new IovaBitmapError('EIO', `${WHERE}: the workers failed to start: ${IovaBitmapError.dataOf(e).message}`, { cause: e });
    }
  }

  /** A snapshot of the pool (see {@link ReportPoolStatus}). */
  get status(): ReportPoolStatus {
    const p = this.#piscina;
    let listeners = 0;
    for (const n of p.eventNames()) listeners += p.listenerCount(n);
    return { workers: p.threads.length, activeReports: this.#active.size, queuedTasks: p.queueSize, listeners, closed: this.#closing !== undefined };
  }

  /**
   * Reports every source over the bitmap's whole range, in parallel; a report below the pool's
   * `inlineBelow` entries of work runs on the caller's thread instead (see
   * {@link ReportPoolOptions.inlineBelow} for what differs). The bitmap and the sources'
   * remaining state end up exactly as core's `reportDirty` leaves them.
   * @returns core's ReportStats, extended per source and per worker ({@link PoolReportStats})
   * @throws IovaBitmapError (as a rejection) — before anything is written: `EINVAL` and the
   *   sources' own codes from validation (a source whose `share()` throws: EINVAL naming it, or
   *   the code of its typed error), `EBUSY` after close(); after workers started:
   *   `ECANCELED` (signal), `EIO` (a worker threw or died; `details` name the source and chunk),
   *   or a source's own error with its code and message. After ECANCELED or EIO every page whose
   *   dirty state was cleared is in the bitmap; report again for the rest.
   */
  async report(options: PoolReportOptions): Promise<PoolReportStats> {
    const run = this.#report(options);
    this.#active.add(run);
    try {
      return await run;
    } finally {
      this.#active.delete(run);
    }
  }

  async #report(options: PoolReportOptions): Promise<PoolReportStats> {
    const tStart = performance.now();
    const where = `${WHERE}.report`;
    if (this.#closing !== undefined) throw new IovaBitmapError('EBUSY', `${where}: the pool is closed`);
    checkOptions(where, 'options', options);
    const { bitmap, sources } = options;
    const noClear = checkFlag(where, 'noClear', options.noClear, false);
    checkReportRequest(where, bitmap, sources, noClear);
    const signal = checkSignal(where, 'signal', options.signal);
    const onProgress = checkCallback(where, 'onProgress', options.onProgress);
    const onChunk = checkCallback(where, 'onChunk', options.onChunk);
    const threads = orDefault(options.threads, this.threads);
    checkInt(where, 'threads', threads, 1, this.threads, "(the pool's threads)");
    const fixed = orDefault(options.chunkBits, this.chunkBits);
    const profiles = fixed === undefined || this.inlineBelow > 0 ? sources.map((s) => s.workProfile?.(bitmap.iova, bitmap.length)) : [];
    const chunkBits =
      fixed !== undefined
        ? sources.map(() => checkChunkBits(where, fixed))
        : profiles.map((p) => chunkBitsFor(p, bitmap.nbits, bitmap.pageShift, threads));
    const fault = checkFault(options.faultInjection);
    const shared = bitmap.share();
    const descriptors = sources.map((s) => shareSource(where, s));
    const { plan, countPieces } = reportPlans(bitmap, chunkBits);
    const names = sources.map((s) => s.name);
    if (fault === undefined && inlineWork(bitmap, profiles) < this.inlineBelow) {
      throwIfAborted(where, signal);
      return reportInline({ bitmap, sources, noClear, onProgress, chunkBits, tStart, onChunk, plan });
    }
    await this.ready();
    throwIfAborted(where, signal);
    const skip = countsToSkip(bitmap, sources, profiles);
    // The caller's share (./callerShare.ts): never waiting for a count before, a stream, a fault.
    const share = this.callerShareMs > 0 && skip.before && threads >= 2 && onChunk === undefined && fault === undefined;
    const out = await runReport({
      piscina: this.#piscina,
      bitmap,
      names,
      plan,
      countPieces,
      skip,
      ...(share ? { callerShare: { sources, budgetMs: this.callerShareMs } } : {}),
      threads,
      task: { kind: 'report', bitmap: shared, sources: descriptors, noClear, chunkBits, ...(fault ? { fault } : {}) },
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...(onChunk ? { onChunk } : {}),
      progressIntervalMs: this.progressIntervalMs,
    });
    return poolReportStats(names, out.workers, {
      bitsSet: out.bitsSet,
      elapsedMs: out.elapsedMs,
      wallMs: performance.now() - tStart,
      tasks: out.tasks,
      chunkBits,
    });
  }

  /**
   * Waits for the reports in flight, then stops the workers. Later reports reject with `EBUSY`.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#active, this.#ready]);
      await this.#piscina.close();
    })();
    return this.#closing;
  }
}
