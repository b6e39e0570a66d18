/**
 * DeviceEngine: the simulated DMA device, as it runs inside its worker (./deviceWorkerEntry.ts).
 * Runs on the device worker (and in-process in the tests).
 *
 * Theory of operation
 * -------------------
 * What it models. A PCI device doing DMA writes into guest memory while the VMM migrates: every
 * write dirties IOVA pages in the IOMMU page table (PTE dirty bit / SMMU DBM, through
 * `IoPageTable.dmaWritePages`) and in the device's own dirty tracker (VFIO DMA logging, through
 * `VfTracker.dmaWritePages`). The writes come from a pattern (./patterns.ts) at a target rate.
 *
 * Ground truth first. For every run of pages the device writes, it
 *   0. records the epoch of the write in each page (./WriteEpochs.ts: the rounds the migration
 *      had completed when the write began, read atomically),
 *   1. records the pages in the shared ground-truth bitmap (4 KiB pages, `setUnits`, atomic on
 *      shared words), and only then
 *   2. marks them in each source (`dmaWritePages`).
 * Hence the invariant, at every instant and seen from any thread:
 *     dirty(source) ⊆ widen(groundTruth)
 * (widen = round out to the source's unit: leaf PTE or tracker page). A report can only find a
 * page the device already put in the ground truth, so a reported page outside the widened ground
 * truth is a reporter bug, never a timing artefact, and the "unexpected" check of the migration
 * checker (../migrate/verifyMigration.ts) is sound even for rounds taken while the device
 * writes. The reverse order would let a report see a mark whose ground-truth bit is not yet
 * written.
 * The "missing" check needs one more step: a page can be in the ground truth and not yet marked
 * (between steps 1 and 2), so it is only checked after the quiesce below, when step 2 has run for
 * every step 1.
 * Memory ordering: after the quiesce, the fence below makes every device store visible, so the
 * final check is sound under the JS memory model alone. A check of a round taken *while* the device
 * writes also relies on the hardware keeping the device's stores in order as seen by the walker's
 * plain PTE loads (ground-truth stores, then the atomic mark): true on x86-64 (TSO) and ARMv8
 * (the mark is a release; multi-copy atomic), as for any shared-memory dirty tracking.
 *
 * Where the device may write. Ground truth must not hold a page that no source can report (that
 * would be a false "missing"). Step 1 runs before step 2, so the device cannot learn from
 * `dmaWritePages` whether a page was writable; instead the *region* is the contract: the device
 * writes only inside `start({ region })` (default: the ground truth's range), which must be mapped
 * writable in the page table and tracked by the tracker; start() rejects a region with a hole in
 * any source's coverage (`firstUncovered`: the page table's mapped areas, the tracker's ranges)
 * and then one with a page a source maps read-only (`firstReadOnly`: the page table's writable
 * areas; the IOMMU refuses to mark a read-only leaf dirty while the ground truth gets the page,
 * so every such write would be a false "missing"). As a tripwire, the pages of any write a source took nothing of (`dmaWritePages` returning 0) are
 * counted in `stats().unmarkedPages`; the tests assert it stays 0. (Sources count what they took in their own units, tracker pages or
 * leaves, so a partial take cannot be told from the return value; the region check is the rule.)
 *
 * Loop. Writes happen in batches of at most `batchPages` pages; between batches the engine yields
 * to the worker's event loop (setImmediate, or a setTimeout when it is ahead of `rate`), which is
 * when comlink calls (pause, stop, stats) run. A batch is synchronous, so a control call never
 * observes a half-written run.
 *
 * Quiesce protocol (pause/stop). The control call runs between batches, so when it runs the last
 * write is complete; it cancels the pending timer, so no further batch can start, then publishes
 * the fence `Atomics.add(control[QUIESCE_SEQ], 1)` (a sequentially consistent RMW, ordered after
 * every store of the batches) and replies with the new sequence number. The main thread (see
 * ./DeviceSimulator.ts) `Atomics.load`s the same word and requires it to be at least the replied
 * value before it resolves: an acquire that makes every device store, including the plain
 * whole-word stores of the ground truth, visible to the main thread and to workers it signals
 * afterwards. Only then does the caller take the final report.
 *
 * Modelled time (`advance`). A migration that models its link (../migrate/migrate.ts) does not
 * sleep through a round's transfer: it pauses the device after the round's harvest and calls
 * advance(ms), which writes, as fast as it can, what the device's rate writes in `ms`
 * milliseconds (a fractional page is carried to the next call; runs are never split, so the
 * carry may go negative), with the same pattern and the same ground-truth-first rule, then
 * returns quiesced like pause() (fence bumped) and still paused. The writes during harvests stay
 * real-time, so reports still race with device writes. `stats().modelledMs` sums the ms advanced.
 *
 * Rate. Pages per second, any positive finite number (fractions too: 1/4096 is one page every
 * 4096 s), or 'max' (checked in ./startOptions.ts). A token bucket: after t ms of running, the
 * device may have written rate·t/1000 pages; when that is less than one page ahead it sleeps until
 * the next page is due (at most MAX_WAIT_MS at a time). The bucket is reset on resume so that a
 * pause does not turn into a burst. Runs are never split, so a 512-page burst can overdraw the
 * bucket; the next batch then waits longer. 'max' skips the bucket: a batch per event-loop turn.
 */
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { PAGE_SIZE_BIG, lastAtOrBefore, pageIova, pageOf } from '@iovabitmap/core/internal';
import { WriteEpochs } from './WriteEpochs.js';
import { DEVICE_PATTERNS, createPattern, type DevicePatternName, type PageRegion, type PatternGenerator } from './patterns.js';
import { DEFAULT_BATCH_PAGES, checkStartOptions } from './startOptions.js';
import type { DevicePatternStats, DeviceStartOptions, DeviceState, DeviceStats } from './deviceTypes.js';

const WHERE = 'DeviceSimulator';

/** What the device writes into: a dirty source seen as DMA target (IoPageTable, VfTracker). */
export interface DmaTarget {
  /** The source's name (for stats). */
  readonly name: string;
  /**
   * Marks 4 KiB pages [page4k, page4k + count) dirty, as a DMA write would.
   * @returns how much of the write the source recorded, in its own units (tracker pages, leaves,
   *   pages); 0 when it recorded nothing.
   */
  dmaWritePages(page4k: number, count: number): number;
  /**
   * Where the source can record writes: the first 4 KiB page of [firstPage, firstPage + count)
   * it does not cover (unmapped in the page table, untracked by the tracker), or -1 when it covers
   * all of it. Optional; start() checks the region with it.
   */
  firstUncovered?(firstPage: number, count: number): number;
  /**
   * The first 4 KiB page of [firstPage, firstPage + count), wholly covered, that the source maps
   * read-only (a device write there marks nothing), or -1 when none is. Optional; start() checks
   * the region with it after {@link firstUncovered}.
   */
  firstReadOnly?(firstPage: number, count: number): number;
}

/**
 * A {@link DmaTarget.firstUncovered} over sorted, disjoint runs [starts[i], ends[i]) of 4 KiB
 * pages (adjacent runs are fine).
 */
export function coverageOfRuns(starts: readonly number[], ends: readonly number[]): (firstPage: number, count: number) => number {
  return (firstPage: number, count: number): number => {
    let p = firstPage;
    const end = firstPage + count;
    while (p < end) {
      const i = lastAtOrBefore(starts, p);
      if (i < 0 || ends[i]! <= p) return p;
      p = ends[i]!;
    }
    return -1;
  };
}

/** Indices of the shared control words (BigInt64Array over {@link DeviceEngine.control}). */
export const CONTROL = Object.freeze({
  /** Bumped by every pause/stop after the last write: the quiesce fence. */
  QUIESCE_SEQ: 0,
  /** Pages written so far (stored after every batch; for progress without a control call). */
  PAGES: 1,
  /** DMA writes (runs) so far. */
  WRITES: 2,
  /** Batches so far. */
  BATCHES: 3,
});
const CONTROL_WORDS = 4;

/** Most pages advance() writes per batch (a batch's counters are published after it). */
const ADVANCE_SLICE_PAGES = 1 << 16;

/** Longest sleep of the rate limiter before it looks at the clock again, ms. */
const MAX_WAIT_MS = 60_000;


/** The device; see the module comment. One engine per worker. */
export class DeviceEngine {
  /** The shared control words; see {@link CONTROL}. */
  readonly control = new SharedArrayBuffer(CONTROL_WORDS * 8);
  readonly #ctl = new BigInt64Array(this.control);
  #state: DeviceState = 'detached';
  #groundTruth: IovaBitmap | undefined;
  #epochs: WriteEpochs | undefined;
  #gtRegion: PageRegion | undefined;
  #targets: DmaTarget[] = [];
  #gen: PatternGenerator | undefined;
  #pattern: DevicePatternStats | undefined;
  /** Pages per second; Infinity for 'max'. */
  #rate = Number.POSITIVE_INFINITY;
  #batchPages = DEFAULT_BATCH_PAGES;
  #immediate: NodeJS.Immediate | undefined;
  #timeout: NodeJS.Timeout | undefined;
  #bucketT0 = 0;
  #bucketPages = 0;
  #runningSince = 0;
  #runningMs = 0;
  #modelledMs = 0;
  /** Pages advance() owes (fractional, may be negative after a run overdrew it). */
  #owedPages = 0;
  #writes = 0;
  #pages = 0;
  #batches = 0;
  #unmarked: Record<string, number> = {};
  #perPattern = DeviceEngine.#zeroPatterns();

  static #zeroPatterns(): Record<DevicePatternName, DevicePatternStats> {
    const o = {} as Record<DevicePatternName, DevicePatternStats>;
    for (const p of DEVICE_PATTERNS) o[p] = { writes: 0, pages: 0 };
    return o;
  }

  /** The current state. */
  get state(): DeviceState {
    return this.#state;
  }

  /** The epochs of the writes (./WriteEpochs.ts), or undefined before attach. */
  get writeEpochs(): WriteEpochs | undefined {
    return this.#epochs;
  }

  /**
   * Attaches the ground truth, the DMA targets and the write epochs (resets the stats). Allowed
   * unless running or paused.
   * @param epochs - where to record each write's epoch, over the ground truth's pages
   *   @defaultValue fresh ones (`WriteEpochs.forGroundTruth`)
   * @throws IovaBitmapError `EBUSY` while running/paused; `EINVAL` for a ground truth whose page
   *   size is not 4096, two targets with the same name, or epochs over other pages.
   */
  attach(groundTruth: IovaBitmap, targets: readonly DmaTarget[], epochs?: WriteEpochs): void {
    if (this.#state === 'running' || this.#state === 'paused') {
      throw new IovaBitmapError('EBUSY', `${WHERE}.attach: the device is ${this.#state}; stop() it first`);
    }
    if (!(groundTruth instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', WHERE + '.attach', 'groundTruth', groundTruth, 'must be an IovaBitmap');
    if (groundTruth.pageSize !== PAGE_SIZE_BIG) {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.attach', 'groundTruth.pageSize', groundTruth.pageSize, 'must be 4096 (the ground truth is kept in 4 KiB pages)');
    }
    const names = new Set<string>();
    for (const t of targets) {
      if (typeof t?.dmaWritePages !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE + '.attach', 'source', t, 'has no dmaWritePages method');
      if (names.has(t.name)) throw IovaBitmapError.bad('EINVAL', WHERE + '.attach', 'source', t.name, 'is attached twice (names must be unique)');
      names.add(t.name);
    }
    const e = epochs ?? WriteEpochs.forGroundTruth(groundTruth);
    if (!(e instanceof WriteEpochs) || e.firstPage !== pageOf(groundTruth.iova) || e.pages !== groundTruth.nbits) {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.attach', 'epochs', e, "must cover the ground truth's pages");
    }
    this.#groundTruth = groundTruth;
    this.#epochs = e;
    this.#gtRegion = { firstPage: pageOf(groundTruth.iova), pageCount: groundTruth.nbits };
    this.#targets = [...targets];
    this.#writes = this.#pages = this.#batches = 0;
    this.#runningMs = 0;
    this.#modelledMs = 0;
    this.#owedPages = 0;
    this.#unmarked = {};
    for (const t of targets) this.#unmarked[t.name] = 0;
    this.#perPattern = DeviceEngine.#zeroPatterns();
    this.#state = 'ready';
    this.#publishCounters();
  }

  /**
   * Starts writing. Allowed when attached and not running/paused.
   * @throws IovaBitmapError `EBUSY` (running/paused), `EINVAL` (detached, bad options as
   *   ./startOptions.ts checks them, a region outside the ground truth, with a hole in a source or
   *   a page a source maps read-only).
   */
  start(o: DeviceStartOptions): void {
    const where = WHERE + '.start';
    if (this.#state === 'running' || this.#state === 'paused') throw new IovaBitmapError('EBUSY', `${where}: the device is already ${this.#state}`);
    const gt = this.#groundTruth;
    const gtRegion = this.#gtRegion;
    if (gt === undefined || gtRegion === undefined) throw new IovaBitmapError('EINVAL', `${where}: attach() a ground truth first`);
    const c = checkStartOptions(where, o);
    let region = gtRegion;
    if (c.region !== undefined) {
      const { iova, length } = c.region;
      if (iova < gt.iova || iova + length > gt.end) {
        throw IovaBitmapError.bad('EINVAL', where, 'region', `0x${iova.toString(16)}+0x${length.toString(16)}`, `must lie inside the ground truth [0x${gt.iova.toString(16)}, 0x${gt.end.toString(16)})`);
      }
      region = { firstPage: pageOf(iova), pageCount: pageOf(length) };
    }
    this.#checkCoverage(where, region);
    const gen = createPattern(c.pattern, region, c.seed, c);
    this.#gen = gen;
    this.#pattern = this.#perPattern[gen.name];
    this.#rate = c.pagesPerSec;
    this.#batchPages = c.batchPages;
    this.#enterRunning();
  }

  /** Refuses a region with a page some target does not cover, or covers read-only (module comment). */
  #checkCoverage(where: string, region: PageRegion): void {
    const shown = `0x${pageIova(region.firstPage).toString(16)}+0x${pageIova(region.pageCount).toString(16)}`;
    for (const t of this.#targets) {
      const hole = t.firstUncovered?.(region.firstPage, region.pageCount) ?? -1;
      if (hole >= 0) {
        throw IovaBitmapError.bad('EINVAL', where, 'region', shown, `must be wholly covered by source ${JSON.stringify(t.name)}, which does not map or track IOVA 0x${pageIova(hole).toString(16)}`);
      }
      const ro = t.firstReadOnly?.(region.firstPage, region.pageCount) ?? -1;
      if (ro >= 0) {
        throw IovaBitmapError.bad('EINVAL', where, 'region', shown, `must be writable in source ${JSON.stringify(t.name)}, which maps IOVA 0x${pageIova(ro).toString(16)} read-only`);
      }
    }
  }

  /**
   * Pauses: quiesced on return (no write in flight, none will start until resume()). A no-op
   * when already paused.
   * @returns the stats, with the new quiesce sequence number.
   * @throws IovaBitmapError `EINVAL` when neither running nor paused.
   */
  pause(): DeviceStats {
    if (this.#state === 'paused') return this.stats();
    if (this.#state !== 'running') throw new IovaBitmapError('EINVAL', `${WHERE}.pause: the device is ${this.#state}, not running`);
    this.#quiesce('paused');
    return this.stats();
  }

  /**
   * Resumes after pause(); the rate bucket starts afresh.
   * @throws IovaBitmapError `EINVAL` when not paused.
   */
  resume(): void {
    if (this.#state !== 'paused') throw new IovaBitmapError('EINVAL', `${WHERE}.resume: the device is ${this.#state}, not paused`);
    this.#enterRunning();
  }

  /**
   * Writes what the device's rate writes in `ms` modelled milliseconds, as fast as it can, while
   * paused (see "Modelled time" in the module comment); returns quiesced and still paused.
   * @param ms - modelled milliseconds, a finite number >= 0
   * @returns the stats, with the new quiesce sequence number.
   * @throws IovaBitmapError `EINVAL` when not paused, for a bad `ms`, or when the rate is 'max'
   *   (no rate to model time with).
   */
  advance(ms: number): DeviceStats {
    const where = WHERE + '.advance';
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw IovaBitmapError.bad('EINVAL', where, 'ms', ms, 'must be a finite number of milliseconds >= 0');
    if (this.#state !== 'paused') throw new IovaBitmapError('EINVAL', `${where}: the device is ${this.#state}, not paused`);
    if (this.#rate === Number.POSITIVE_INFINITY) throw IovaBitmapError.bad('EINVAL', where, 'rate', 'max', 'must be a number of pages per second to model time with');
    this.#owedPages += (this.#rate * ms) / 1000;
    this.#modelledMs += ms;
    while (this.#owedPages >= 1) this.#owedPages -= this.#writeBatch(Math.min(Math.floor(this.#owedPages), ADVANCE_SLICE_PAGES));
    Atomics.add(this.#ctl, CONTROL.QUIESCE_SEQ, 1n);
    return this.stats();
  }

  /**
   * Stops: quiesced on return (the last write is complete and fenced, see the module comment).
   * Idempotent: stopping a device that is not running or paused just returns the stats.
   */
  stop(): DeviceStats {
    if (this.#state === 'running' || this.#state === 'paused') this.#quiesce('stopped');
    return this.stats();
  }

  /** The counters so far (a consistent snapshot: no batch runs while this does). */
  stats(): DeviceStats {
    const perPattern = {} as Record<DevicePatternName, DevicePatternStats>;
    for (const p of DEVICE_PATTERNS) perPattern[p] = { ...this.#perPattern[p] };
    const runningMs = this.#runningMs + (this.#state === 'running' ? performance.now() - this.#runningSince : 0);
    return {
      state: this.#state,
      writes: this.#writes,
      pages: this.#pages,
      batches: this.#batches,
      perPattern,
      unmarkedPages: { ...this.#unmarked },
      quiesceSeq: Number(Atomics.load(this.#ctl, CONTROL.QUIESCE_SEQ)),
      runningMs,
      modelledMs: this.#modelledMs,
    };
  }

  #enterRunning(): void {
    this.#state = 'running';
    this.#runningSince = performance.now();
    this.#bucketT0 = this.#runningSince;
    this.#bucketPages = 0;
    this.#schedule(0);
  }

  #quiesce(next: 'paused' | 'stopped'): void {
    // Clear with the matching function: clearImmediate on a Timeout corrupts Node's immediate
    // bookkeeping (it decrements the immediate counters), which stalled later batches.
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    this.#immediate = undefined;
    this.#timeout = undefined;
    this.#runningMs += performance.now() - this.#runningSince;
    this.#state = next;
    this.#publishCounters();
    Atomics.add(this.#ctl, CONTROL.QUIESCE_SEQ, 1n);
  }

  #schedule(delayMs: number): void {
    if (delayMs <= 0) this.#immediate = setImmediate(this.#tick);
    else this.#timeout = setTimeout(this.#tick, delayMs);
  }

  /** One batch, then yield. An arrow so that it can be passed to timers without binding. */
  readonly #tick = (): void => {
    this.#immediate = undefined;
    this.#timeout = undefined;
    if (this.#state !== 'running') return;
    let budget = this.#batchPages;
    if (this.#rate !== Number.POSITIVE_INFINITY) {
      const allowed = (this.#rate * (performance.now() - this.#bucketT0)) / 1000 - this.#bucketPages;
      if (allowed < 1) {
        // Wake when the next page is due, or after MAX_WAIT_MS to look again (a very slow rate
        // would overflow the timer: Node turns a delay above 2^31 - 1 ms into 1 ms).
        this.#schedule(Math.min(MAX_WAIT_MS, Math.max(1, Math.ceil(((1 - allowed) * 1000) / this.#rate))));
        return;
      }
      budget = Math.min(budget, Math.floor(allowed));
    }
    this.#bucketPages += this.#writeBatch(budget);
    this.#schedule(0);
  };

  /** Writes runs until at least `budget` pages are written (the last run is never split). */
  #writeBatch(budget: number): number {
    const gt = this.#groundTruth!;
    const epochs = this.#epochs!;
    const gen = this.#gen!;
    const targets = this.#targets;
    const nt = targets.length;
    let done = 0;
    let writes = 0;
    while (done < budget) {
      const run = gen.next();
      const page = run.page;
      const count = run.count;
      // 0. The epoch, 1. the ground truth, first (see the module comment).
      epochs.recordWrite(page, count);
      gt.setUnits(page, count, 12);
      // 2. Then the sources.
      for (let i = 0; i < nt; i++) {
        const t = targets[i]!;
        // A source counts in its own units (tracker pages, leaves), so only "took nothing" is a
        // reliable sign of a write outside what it covers.
        if (t.dmaWritePages(page, count) === 0) this.#unmarked[t.name]! += count;
      }
      done += count;
      writes++;
    }
    this.#writes += writes;
    this.#pages += done;
    this.#batches++;
    this.#pattern!.writes += writes;
    this.#pattern!.pages += done;
    this.#publishCounters();
    return done;
  }

  #publishCounters(): void {
    Atomics.store(this.#ctl, CONTROL.PAGES, BigInt(this.#pages));
    Atomics.store(this.#ctl, CONTROL.WRITES, BigInt(this.#writes));
    Atomics.store(this.#ctl, CONTROL.BATCHES, BigInt(this.#batches));
  }
}
