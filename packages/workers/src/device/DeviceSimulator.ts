/// <reference path="../types/comlink-node-adapter.d.ts" />
/**
 * DeviceSimulator: the main-thread handle of the simulated DMA device.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * The device runs in its own `Worker` (./deviceWorkerEntry.ts, a {@link DeviceEngine}) so that it
 * writes truly in parallel with the report pool. This class is the control plane: a comlink proxy
 * on the worker, every call tracked by {@link PendingCalls} so that a dying worker rejects
 * pending calls with `EIO` instead of hanging them (comlink alone would). Errors come back as data
 * and are rebuilt as {@link IovaBitmapError}s with their codes.
 *
 * The data plane is shared memory: `attach` sends descriptors (`share()` output) of the ground
 * truth and the sources; the device rebuilds views over the same SharedArrayBuffers and writes
 * into them with atomics. A small shared control block carries the quiesce fence and live
 * counters (see ./DeviceEngine.ts). A descriptor over a plain ArrayBuffer would reach the worker
 * as a copy, so the device would write where nobody looks: attach refuses it.
 *
 * Arguments are checked here, before anything is posted (start's options with the engine's own
 * ./startOptions.ts, then posted as the clean copy it returns), so a bad value gets its typed
 * error and never reaches the worker; a value that still cannot be cloned is an `EINVAL` too.
 *
 * Quiesce, as seen from here: {@link stop} and {@link pause} resolve only after the worker has
 * replied, i.e. after its last write, and after this thread has `Atomics.load`ed the fence word
 * the worker bumped after that write. Every store of the device is then visible here, so the
 * caller may take the final report and run the checker.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { PAGE_SIZE_BIG } from '@iovabitmap/core/internal';
import { IovaBitmap, IovaBitmapError, type SharedIoPageTable, type SharedIovaBitmap, type SharedVfTracker } from '@iovabitmap/core';
import { MAX_TIMER_MS, checkOptions, isPlainObject, orDefault } from '../checks.js';
import { startWorker } from '../runtime/workerLaunch.js';
import { CONTROL } from './DeviceEngine.js';
import { PendingCalls } from './PendingCalls.js';
import { WriteEpochs } from './WriteEpochs.js';
import { checkStartOptions, startOptionsOf } from './startOptions.js';
import type { DeviceRemote, DeviceReply, DeviceStartOptions, DeviceStats } from './deviceTypes.js';

const WHERE = 'DeviceSimulator';

/** An optional source descriptor of attach(): absent, or a `share()` output of a known kind. */
function checkSourceDescriptor(where: string, role: string, d: unknown): void {
  if (d === undefined) return;
  if (!isPlainObject(d) || (d.kind !== 'IoPageTable' && d.kind !== 'VfTracker')) {
    throw IovaBitmapError.bad('EINVAL', where, role, isPlainObject(d) ? d.kind : d, 'must be the share() descriptor of an IoPageTable or a VfTracker');
  }
}

/** What the device writes into; descriptors from `share()`, memory is shared, not copied. */
export interface DeviceAttachOptions {
  /** The IOMMU page table the device's DMA goes through (`IoPageTable.share()`); optional. */
  readonly pageTable?: SharedIoPageTable;
  /** The device's own dirty tracker (`VfTracker.share()`); optional. */
  readonly tracker?: SharedVfTracker;
  /** Where the device records every page it writes, first (`IovaBitmap.share()`, 4 KiB pages). */
  readonly groundTruth: SharedIovaBitmap;
}

/** Options of {@link DeviceSimulator.create}. */
export interface DeviceSimulatorOptions {
  /** Extra `Worker` options (resourceLimits, env...). @defaultValue none */
  readonly workerOptions?: WorkerOptions;
}

/**
 * The simulated device; see the module comment. Create with {@link DeviceSimulator.create} and
 * always {@link DeviceSimulator.close} it: its worker keeps the process alive until then.
 * @example
 * ```ts
 * import { IoPageTable, IovaBitmap } from '@iovabitmap/core';
 * import { DeviceSimulator } from '@iovabitmap/workers';
 *
 * const GiB = 1n << 30n;
 * const iommu = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
 * iommu.map(0n, GiB, { leaf: 4096n });
 * iommu.setDirtyTracking(true);
 * const groundTruth = new IovaBitmap({ iova: 0n, length: GiB, pageSize: 4096 });
 *
 * // The device writes through the shared page table from its own thread until it is stopped.
 * const device = await DeviceSimulator.create();
 * try {
 *   await device.attach({ pageTable: iommu.share(), groundTruth: groundTruth.share() });
 *   await device.start({ pattern: 'uniform', rate: 50_000, seed: 7 }); // 50,000 pages per second
 *   await new Promise((resolve) => setTimeout(resolve, 100));
 *   const stats = await device.stop();
 *   console.log(stats.pages > 0, groundTruth.count() > 0); // true true
 * } finally {
 *   await device.close();
 * }
 * ```
 */
export class DeviceSimulator {
  readonly #worker: Worker;
  readonly #remote: Comlink.Remote<DeviceRemote>;
  readonly #calls = new PendingCalls(WHERE);
  #ctl: BigInt64Array | undefined;
  #groundTruth: IovaBitmap | undefined;
  #epochs: WriteEpochs | undefined;
  #closed = false;
  #exitCode: number | undefined;
  readonly #exited: Promise<number>;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.#remote = Comlink.wrap<DeviceRemote>(nodeEndpoint(worker));
    worker.on('error', (e: Error) => this.#calls.fail(`the device worker failed: ${e?.message ?? String(e)}`));
    worker.on('messageerror', (e: Error) => this.#calls.fail(`a control message could not be deserialized: ${e?.message ?? String(e)}`));
    this.#exited = new Promise((resolve) => {
      worker.once('exit', (code: number) => {
        this.#exitCode = code;
        this.#calls.fail(this.#closed ? 'the device simulator is closed' : `the device worker exited (code ${code})`);
        resolve(code);
      });
    });
  }

  /**
   * Starts the device worker and waits until it answers.
   * @throws IovaBitmapError `EINVAL` for options (or `workerOptions`) that are not a plain object;
   *   `EIO` when the worker fails to start.
   */
  static async create(options: DeviceSimulatorOptions = {}): Promise<DeviceSimulator> {
    const where = `${WHERE}.create`;
    checkOptions(where, 'options', options);
    const workerOptions = orDefault(options.workerOptions, {});
    checkOptions(where, 'workerOptions', workerOptions);
    const sim = new DeviceSimulator(startWorker(new URL('./deviceWorkerEntry.js', import.meta.url), workerOptions));
    try {
      await sim.ping();
      sim.#ctl = new BigInt64Array(await sim.#call('control', (r) => r.control()));
    } catch (e) {
      await sim.kill();
      throw e;
    }
    return sim;
  }

  #call<T>(method: string, fn: (r: Comlink.Remote<DeviceRemote>) => Promise<DeviceReply<T>>): Promise<T> {
    return this.#calls.track(method, () => fn(this.#remote) as Promise<DeviceReply<T>>).then(
      (reply) => {
        if (reply.ok) return reply.value;
        throw IovaBitmapError.fromData(reply.error);
      },
      (e: unknown) => {
        if (IovaBitmapError.is(e)) throw e;
        // Posting failed before anything reached the worker (structured cloning refused a value).
        const code = e instanceof Error && e.name === 'DataCloneError' ? 'EINVAL' : 'EIO';
        throw new IovaBitmapError(code, `${WHERE}.${method}: the call could not be sent to the device worker: ${IovaBitmapError.dataOf(e).message}`, { cause: e });
      },
    );
  }

  /** True until the worker exits (closed, killed, or crashed). */
  get alive(): boolean {
    return this.#exitCode === undefined && !this.#calls.failed;
  }

  /** Number of control calls in flight. */
  get pendingCalls(): number {
    return this.#calls.size;
  }

  /** Listeners registered on the worker (diagnostics, leak tests: constant over the simulator's life). */
  get listeners(): number {
    const w = this.#worker;
    let n = 0;
    for (const e of w.eventNames()) n += w.listenerCount(e);
    return n;
  }

  /** The worker's thread id (for diagnostics). */
  get threadId(): number {
    return this.#worker.threadId;
  }

  /** A main-thread view of the attached ground truth (same memory), or undefined before attach. */
  get groundTruth(): IovaBitmap | undefined {
    return this.#groundTruth;
  }

  /**
   * The epochs of the device's writes over the attached ground truth (./WriteEpochs.ts; a fresh
   * one per attach), or undefined before attach. migrate() publishes its rounds there.
   */
  get writeEpochs(): WriteEpochs | undefined {
    return this.#epochs;
  }

  /** Pages written so far, read from shared memory without a control call (updated per batch). */
  get pagesWritten(): number {
    return this.#ctl === undefined ? 0 : Number(Atomics.load(this.#ctl, CONTROL.PAGES));
  }

  /**
   * Attaches the ground truth and the sources (descriptors from `share()`); resets the stats and
   * makes fresh write epochs ({@link writeEpochs}: a byte per 4 KiB page of the ground truth).
   * @throws IovaBitmapError `EBUSY` while running or paused; `EINVAL` for a ground truth that is
   *   not over a SharedArrayBuffer (`groundTruth.buffer`) or whose page size is not 4096, or a
   *   source the device cannot write; `ENOMEM` when the epochs cannot be allocated; `EIO` if the
   *   worker died. Nothing is posted after an EINVAL found here.
   */
  async attach(options: DeviceAttachOptions): Promise<void> {
    const where = `${WHERE}.attach`;
    checkOptions(where, 'options', options);
    const { groundTruth, pageTable, tracker } = options;
    if (isPlainObject(groundTruth) && !(groundTruth.buffer instanceof SharedArrayBuffer)) {
      throw IovaBitmapError.bad('EINVAL', where, 'groundTruth.buffer', groundTruth.buffer, 'must be a SharedArrayBuffer (the device writes it from its worker; other memory would be a copy)');
    }
    const gt = IovaBitmap.fromShared(groundTruth);
    checkSourceDescriptor(where, 'pageTable', pageTable);
    checkSourceDescriptor(where, 'tracker', tracker);
    // A ground truth the engine refuses (not 4 KiB pages) gets no epochs: the worker names the error (EBUSY first).
    const epochs = gt.pageSize === PAGE_SIZE_BIG ? WriteEpochs.forGroundTruth(gt) : undefined;
    await this.#call('attach', (r) =>
      r.attach({ groundTruth, ...(epochs === undefined ? {} : { epochs: epochs.share() }), ...(pageTable === undefined ? {} : { pageTable }), ...(tracker === undefined ? {} : { tracker }) }),
    );
    this.#groundTruth = gt;
    this.#epochs = epochs;
  }

  /**
   * Starts writing with a pattern at a rate (see {@link DeviceStartOptions}); resolves once the
   * device is running.
   * @throws IovaBitmapError `EBUSY` if already running or paused; `EINVAL` for bad options or
   *   when nothing is attached; `EIO` if the worker died.
   */
  async start(options: DeviceStartOptions): Promise<void> {
    const checked = startOptionsOf(checkStartOptions(`${WHERE}.start`, options));
    return this.#call('start', (r) => r.start(checked));
  }

  /**
   * Pauses; resolves when the device is quiesced (see the module comment).
   * @throws IovaBitmapError `EINVAL` when not running; `EIO` if the worker died.
   */
  async pause(): Promise<DeviceStats> {
    return this.#fenced(await this.#call('pause', (r) => r.pause()));
  }

  /**
   * While paused: writes what the device's rate writes in `ms` modelled milliseconds, as fast as
   * it can, and resolves quiesced (see ./DeviceEngine.ts, "Modelled time"); the device stays paused.
   * @param ms - modelled milliseconds, a finite number >= 0
   * @throws IovaBitmapError `EINVAL` for a bad `ms`, when not paused, or at rate `'max'`; `EIO` if
   *   the worker died.
   */
  async advance(ms: number): Promise<DeviceStats> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw IovaBitmapError.bad('EINVAL', `${WHERE}.advance`, 'ms', ms, 'must be a finite number of milliseconds >= 0');
    return this.#fenced(await this.#call('advance', (r) => r.advance(ms)));
  }

  /**
   * Resumes after {@link pause}.
   * @throws IovaBitmapError `EINVAL` when not paused; `EIO` if the worker died.
   */
  resume(): Promise<void> {
    return this.#call('resume', (r) => r.resume());
  }

  /**
   * Stops; resolves only when the device has made its last write and that write is visible to
   * this thread (the quiesce protocol). Idempotent.
   * @returns the final stats.
   * @throws IovaBitmapError `EIO` if the worker died (then nothing can be said about its last write).
   */
  async stop(): Promise<DeviceStats> {
    return this.#fenced(await this.#call('stop', (r) => r.stop()));
  }

  /** The device's counters so far. @throws IovaBitmapError `EIO` if the worker died. */
  stats(): Promise<DeviceStats> {
    return this.#call('stats', (r) => r.stats());
  }

  /**
   * A liveness probe: resolves with the worker's clock (ms) after `delayMs` (the call stays
   * pending that long; tests use it to hold a call in flight).
   * @param delayMs - milliseconds, a number in [0, 2^31 - 1] @defaultValue 0
   * @throws IovaBitmapError `EINVAL` for a bad delay; `EIO` if the worker dies first.
   */
  async ping(delayMs = 0): Promise<number> {
    if (typeof delayMs !== 'number' || !(delayMs >= 0 && delayMs <= MAX_TIMER_MS)) {
      throw IovaBitmapError.bad('EINVAL', `${WHERE}.ping`, 'delayMs', delayMs, `must be a number of milliseconds in [0, ${MAX_TIMER_MS}]`);
    }
    return this.#call('ping', (r) => r.ping(delayMs));
  }

  /**
   * Test-only fault injection: makes the worker exit (`'exit'`, code 3) or throw an uncaught error
   * (`'throw'`) a few ms after replying. Pending and later calls then reject with `EIO`.
   * @internal
   */
  async injectFault(kind: 'exit' | 'throw'): Promise<void> {
    if (kind !== 'exit' && kind !== 'throw') throw IovaBitmapError.bad('EINVAL', `${WHERE}.injectFault`, 'kind', kind, "must be 'exit' or 'throw'");
    return this.#call('injectFault', (r) => r.injectFault(kind));
  }

  #fenced(stats: DeviceStats): DeviceStats {
    // Acquire: pairs with the worker's Atomics.add after its last write (see ./DeviceEngine.ts).
    const seen = Number(Atomics.load(this.#ctl!, CONTROL.QUIESCE_SEQ));
    if (seen < stats.quiesceSeq) {
      throw new IovaBitmapError('EIO', `${WHERE}: quiesce fence ${seen} behind the reply's ${stats.quiesceSeq}`);
    }
    return stats;
  }

  /**
   * Stops the device (quiesced) if it still answers, then ends the worker. Idempotent; later
   * calls reject with `EIO`.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      await this.#exited;
      return;
    }
    if (this.alive) {
      try {
        await this.stop();
      } catch {
        // The worker is dying anyway; nothing to quiesce.
      }
    }
    this.#closed = true;
    this.#calls.fail('the device simulator is closed');
    this.#remote[Comlink.releaseProxy]();
    await this.#worker.terminate();
    await this.#exited;
  }

  /**
   * Ends the worker at once, without quiescing (fault injection, emergency). Pending calls reject
   * with `EIO`. Idempotent.
   */
  async kill(): Promise<void> {
    if (this.#exitCode !== undefined) return;
    await this.#worker.terminate();
    await this.#exited;
  }
}
