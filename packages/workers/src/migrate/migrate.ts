/**
 * migrate(): the live-migration loop — pre-copy rounds of parallel reports while the device
 * writes, each sent over a modelled link, until the expected downtime fits; a quiesce, a final
 * report, and the end-to-end check.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * What it models. The dirty-page side of a VMM's live migration with a passthrough device:
 *   pre-copy rounds 0, 1, ...: report every source (IOMMU page table, device tracker) into a
 *       bitmap while the device keeps writing, and send the pages found over the link (with
 *       `bulkStage`, round 0 sends the whole range instead, as a real first pass does);
 *   stop-and-copy: stop the device (quiesce: ../device/DeviceSimulator.ts resolves stop() only
 *       after the device's last write is visible here), then one final report and its transfer:
 *       the downtime.
 * Every report reads and clears (record before clear, core's DirtySource.ts), so each round holds
 * what was dirtied since the previous one, and the union of the rounds holds every page dirtied
 * since tracking began. Time, the link, the prediction and the convergence rule:
 * ./linkModel.ts (what is modelled and what is measured is said there).
 *
 * Steps ({@link Migration}): check everything and allocate (before any round: plain
 * IovaBitmapErrors); then per pre-copy round: harvest (the report, streamed into the transfer
 * when `stream`), publish "rounds completed", transfer (modelled: the device writes the rest of
 * the round, DeviceSimulator.advance), record the round, decide whether to stop (./linkModel.ts);
 * then stop the device, harvest and transfer the final round, and verify.
 *
 * Data flow. One round bitmap R (the migration range at `bitmapPageSize`) is cleared before each
 * round but the first (bitmap.clear(), proportional to the dirty set: core's summary layer) and
 * the pool reports into it. The round's dirty set reaches the union U and the per-page "last
 * round that reported it" bytes (./ReportedRounds.ts) run by run: streamed, each chunk's runs as
 * the pool hands them over (ReportPool's onChunk), during the harvest; otherwise R's dirtyRanges
 * after it, and U gets R word-wise (IovaBitmap.orInto). Never a loop over the whole bitmap.
 * ReportedRounds also removes the duplicates (two sources, a unit recorded whole by its owning
 * chunk), so a round's pages are distinct and its bytes are what a sender sends.
 *
 * Correctness of the migration (the check of ./verifyMigration.ts with the epochs). The device
 * records, per 4 KiB page, the epoch e of its last write: the number of rounds whose report had
 * completed when the write began (../device/WriteEpochs.ts; migrate stores r + 1 with an atomic
 * store right after round r's report resolves, the device loads it atomically before it writes the
 * ground truth and marks the sources). Claim: some round >= e reports the page, after the mark.
 * - No round < e can have consumed this write's mark: rounds 0..e-1 had resolved before the
 *   store the device's load saw, and a report resolves only after every worker of it stopped
 *   reading (ReportPool settles after its last worker), so all their reads happen-before the mark.
 * - Round e may be running when the write begins (a write racing with a harvest): its walk reads
 *   the unit either after the mark (round e reports the page) or before it (the mark stays set
 *   for a later round). A mark is cleared only by a report that recorded it first (record before
 *   clear), and only a round >= e can clear it (above).
 * - The quiesce: stop() resolves after the device's last write is visible, and the final round's
 *   report starts after it, so every mark is in place before the final report; a mark no
 *   pre-copy round took is taken by the final round (index F >= e: every epoch is at most the
 *   rounds completed before the stop, F).
 * So a migration is correct iff every written page's bitmap page was reported by a round >= its
 * last write's epoch; a page reported in round 1 and written again in round 4 must be reported
 * in round 4 or later. The checker visits the written pages (the ground truth's dirtyRanges) and
 * compares epoch and last report; it keeps the union check (missing, and unexpected, which bounds
 * invented pages). Epochs are bytes: at most 255 rounds (254 pre-copy + the final), so
 * `maxRounds` and `rounds` are capped at 254 (the wrap rule of ../device/WriteEpochs.ts).
 *
 * A failed verification is a result, not an exception: the caller (the CLI, a test) prints or
 * asserts it. Exceptions are for bad arguments and failed reports (EIO, ECANCELED), after which
 * the device is left as it was (running, paused or stopped) for the caller to stop.
 *
 * Failure keeps the data. Every report reads *and clears*, so a round that fails (its report
 * aborted, a worker fault, a source's error, the device's pause, advance or stop) has already
 * taken some pages out of the sources, and the pool leaves exactly those pages in the round bitmap
 * when it rejects (ReportPool: "after ECANCELED or EIO, keep the bitmap"). So on any failure once
 * the first round has begun, migrate() folds the round bitmap into U and into the last-report
 * bytes one more time (idempotent: a round already folded in adds nothing) and rejects with a
 * {@link MigrateError} carrying U, those bytes and the completed rounds. U ∪ (what is still dirty
 * in the sources) then holds every page the device wrote: nothing cleared is ever dropped. Bad
 * arguments, found before the first round (including bitmaps that cannot be allocated: ENOMEM),
 * are plain IovaBitmapErrors and nothing has run.
 */
import { IovaBitmap, IovaBitmapError, type DirtySource, type SourceStats, type U64Like } from '@iovabitmap/core';
import { GIB, PAGE_SHIFT, addSourceStats, checkInt, checkReportRequest, emptySourceStats, log2Exact, toU64 } from '@iovabitmap/core/internal';
import { checkChunkBits } from '../pool/ChunkPlan.js';
import { MAX_TIMER_MS, checkCallback, checkFlag, checkNumber, checkOptions, checkSignal, orDefault } from '../checks.js';
import type { DeviceStats } from '../device/deviceTypes.js';
import { MAX_ROUNDS, WriteEpochs } from '../device/WriteEpochs.js';
import type { PoolReportOptions, ReportedChunk } from '../pool/poolTypes.js';
import type { PoolReportStats } from '../pool/poolStats.js';
import { LinkQueue, ModelClock, convergenceStop, downtime, predictDowntime, transferMs, type ConvergenceReason, type DowntimeParts } from './linkModel.js';
import { ReportedRounds } from './ReportedRounds.js';
import { checkUnitMaps, unitMapOf, type UnitMap } from './unitMaps.js';
import { verifyMigration, type VerifyResult } from './verifyMigration.js';

const WHERE = 'migrate';

/** Most pre-copy rounds (`maxRounds`, `rounds`): 254, so that with the final one a migration has at most 255 (WriteEpochs). */
export const MAX_PRECOPY_ROUNDS = MAX_ROUNDS - 1;

/** What migrate() needs of the device (a {@link DeviceSimulator} has it). */
export interface MigrateDevice {
  /** The ground truth the device records every write in first (4 KiB pages); set by attach(). */
  readonly groundTruth: IovaBitmap | undefined;
  /** The epochs of the device's writes (fresh per attach; rounds completed 0). */
  readonly writeEpochs: WriteEpochs | undefined;
  /** Pages written so far (all time), read without a call; optional. */
  readonly pagesWritten?: number;
  /** Stops the device; resolves after its last write is visible (the quiesce protocol). */
  stop(): Promise<DeviceStats>;
  /** With a finite `bandwidth`: pauses the device, quiesced. */
  pause?(): Promise<DeviceStats>;
  /** With a finite `bandwidth`: writes `ms` modelled ms while paused, quiesced (DeviceSimulator.advance). */
  advance?(ms: number): Promise<DeviceStats>;
  /** With a finite `bandwidth`: resumes after pause. */
  resume?(): Promise<void>;
}

/** What migrate() needs of the report engine (a `ReportPool` has it). */
export interface MigratePool {
  report(options: PoolReportOptions): Promise<PoolReportStats>;
}

/** Per-source counters of one round: core's SourceStats, from the pool's stats. */
export type MigrateSourceStats = Readonly<SourceStats>;

/** One round of the migration. */
export interface MigrateRound {
  /** 0-based; the final round is last. */
  readonly index: number;
  /** True for the stop-and-copy round, taken after the device was quiesced. */
  readonly final: boolean;
  /** Distinct bitmap pages (bits) dirtied since the previous round: the pages this round sends. */
  readonly pagesDirtied: number;
  /** The same in 4 KiB pages: pagesDirtied × bitmapPageSize / 4096. */
  readonly pages4KiBDirtied: number;
  /** The same in bytes: pagesDirtied × bitmapPageSize. */
  readonly bytesDirtied: bigint;
  /** Bytes sent over the link: bytesDirtied, or with `bulkStage` the whole range in round 0. */
  readonly bytesSent: bigint;
  /** Harvest, ms: the report's wall time, measured (streamed chunks delivered included). */
  readonly harvestMs: number;
  /** Transfer of bytesSent at the bandwidth, ms, modelled (0 without a link). */
  readonly transferMs: number;
  /**
   * The round's modelled time, ms: harvest + transfer, or with streaming until both the harvest
   * and the link are done (./linkModel.ts).
   */
  readonly roundMs: number;
  /** Modelled ms the dirty set accumulated over (since the previous harvest began); null for round 0. */
  readonly dirtiedOverMs: number | null;
  /** Dirty rate: pagesDirtied per second of dirtiedOverMs (bitmap pages/s); null for round 0. */
  readonly dirtyPagesPerSec: number | null;
  /** Dirty rate: bytesDirtied per second of dirtiedOverMs (bytes/s); null for round 0. */
  readonly dirtyBytesPerSec: number | null;
  /** After a pre-copy round: the downtime expected if pre-copy stopped here; null for the final round. */
  readonly expectedDowntime: DowntimeParts | null;
  /** Streaming: ms from the start of the report to the first chunk handed over; null without streaming or when no chunk recorded anything (nothing is handed over then). */
  readonly firstChunkMs: number | null;
  /** Main-thread work of the round besides the report, ms, measured: clearing R, folding R in when not streaming, the bookkeeping. */
  readonly bookkeepingMs: number;
  /** Streaming: main-thread ms spent in the chunk handler, during the harvest (overlapped with it). */
  readonly streamWorkMs: number;
  /** IOVA scanned per second: the migration range's length (GiB) / harvest (s). Each source scans that range. */
  readonly gibPerSec: number;
  /** Per source name. */
  readonly sources: Readonly<Record<string, MigrateSourceStats>>;
  /** Pages the device had written (all time) at the end of the round, its modelled transfer included; read from shared memory. */
  readonly devicePagesWritten: number;
  /** With `verifyEachRound`: this round's bits outside the widened ground truth (should be 0). */
  readonly unexpected?: number;
}

/** Arguments of {@link migrate}. */
export interface MigrateOptions {
  /** IOVA bytes per bitmap bit: a power of two >= 4096. */
  readonly bitmapPageSize: U64Like;
  /** The sources to report, in order (unique names); the device writes into them. */
  readonly sources: readonly DirtySource[];
  /** The device, attached (its ground truth and write epochs set) and usually running. migrate() stops it. */
  readonly device: MigrateDevice;
  /** The report engine. */
  readonly pool: MigratePool;
  /**
   * Pre-copy rounds at most, in [0, 254]; pre-copy ends earlier when the expected downtime fits
   * `downtimeLimit` or the dirty set stops shrinking (./linkModel.ts). Not with `rounds`.
   * @defaultValue 30
   */
  readonly maxRounds?: number;
  /** Exactly this many pre-copy rounds, in [0, 254], whatever the prediction says. Not with `maxRounds`. */
  readonly rounds?: number;
  /**
   * Link bandwidth, bytes per second: a positive number (Infinity: no link, transfers take no
   * time). A finite bandwidth needs a device with pause, advance and resume, at a finite rate.
   * @defaultValue Infinity
   */
  readonly bandwidth?: number;
  /** The downtime pre-copy aims for, ms, a number >= 0 (QEMU's downtime-limit). @defaultValue 300 */
  readonly downtimeLimit?: number;
  /** Send each chunk's pages as the report hands them over (ReportPool's onChunk), overlapping the transfer with the harvest. @defaultValue true */
  readonly stream?: boolean;
  /**
   * Round 0 sends the whole migration range, as the first pass of a real pre-copy does (QEMU's
   * bulk stage: the destination has nothing yet, so every page is sent once whatever its dirty
   * state), so the device writes for that long before round 1 (./linkModel.ts). Its report still
   * runs: it starts the dirty log's first epoch. With an infinite bandwidth it changes nothing.
   * @defaultValue false
   */
  readonly bulkStage?: boolean;
  /**
   * Called after each completed round with its stats and the round's bitmap (valid only during
   * the call: it is cleared for the next round). Exceptions become warnings.
   */
  readonly onRound?: (round: MigrateRound, bitmap: IovaBitmap) => void;
  /** First IOVA of the migration range, bytes, aligned to bitmapPageSize. @defaultValue the ground truth's iova */
  readonly iova?: U64Like;
  /** Length of the migration range, bytes, aligned. @defaultValue the ground truth's length */
  readonly length?: U64Like;
  /** Pause between pre-copy rounds, ms in [0, 2^31 - 1] (real time; the device keeps writing). @defaultValue 0 */
  readonly roundIntervalMs?: number;
  /** Check each round's bitmap for unexpected pages as it completes (costs a widening per round). @defaultValue false */
  readonly verifyEachRound?: boolean;
  /**
   * Widening geometry per source (./unitMaps.ts). @defaultValue derived from each source by
   * `unitMapOf`: a started tracker from its page size and ranges, an IoPageTable from its leaf
   * lookup (`leafAt`); a warning names every source left without one.
   */
  readonly units?: readonly UnitMap[];
  /** Bitmap bits per chunk of every report. @defaultValue the pool's */
  readonly chunkBits?: number;
  /**
   * Aborts the migration: the current report stops within a chunk and migrate() rejects with a
   * {@link MigrateError} of code `ECANCELED` holding everything recorded so far; the device is
   * left as it was.
   */
  readonly signal?: AbortSignal;
}

/** How pre-copy ended. */
export interface MigrateConvergence {
  /** True when pre-copy ended because the expected downtime fit the limit. */
  readonly converged: boolean;
  /**
   * `downtime-limit` (converged), `not-converging` (the dirty set stopped shrinking: the guest
   * dirties faster than the link sends), `max-rounds`, or `fixed-rounds` (`rounds` given;
   * converged then says whether the last prediction fit).
   */
  readonly reason: ConvergenceReason;
  /** Pre-copy rounds run. */
  readonly precopyRounds: number;
}

/** What {@link migrate} returns. */
export interface MigrateResult {
  /** Pre-copy rounds, then the final round. */
  readonly rounds: readonly MigrateRound[];
  /** The end-to-end check (union and epochs); `verification.ok` is the verdict. */
  readonly verification: VerifyResult;
  /** Wall time of the check, ms. */
  readonly verifyMs: number;
  /** How pre-copy ended. */
  readonly convergence: MigrateConvergence;
  /**
   * The downtime: `expected` as predicted after the last pre-copy round (null without one),
   * `actual` the final round's (its harvest measured, its transfer modelled), and `limitMs`.
   * `actual.totalMs` is harvest + transfer, like the prediction; with streaming the final round's
   * `roundMs` may be shorter.
   */
  readonly downtime: { readonly limitMs: number; readonly expected: DowntimeParts | null; readonly actual: DowntimeParts };
  /** Bytes sent over the link in all rounds. */
  readonly bytesTransferred: bigint;
  /** The link: bandwidth in bytes/s (Infinity: none) and whether rounds streamed. */
  readonly link: { readonly bandwidth: number; readonly stream: boolean };
  /** The device's stats when it was stopped. */
  readonly device: DeviceStats;
  /** First IOVA of the migration range, bytes. */
  readonly iova: bigint;
  /** Length of the migration range, bytes. */
  readonly length: bigint;
  /** IOVA bytes per bitmap bit. */
  readonly bitmapPageSize: bigint;
  /** Wall time of the whole migration, ms. */
  readonly totalMs: number;
}

const MIGRATE_FOOTPRINT = Symbol.for('iovabitmap.MigrateError');

/**
 * A migration that failed once its first round had begun: everything recorded so far, so that no
 * page the reports cleared is lost (see the module comment). Its `code` is the failure's own
 * (`ECANCELED` for an abort, `EIO` for a worker fault, a source's or the device's own code) and
 * its `cause` the original error.
 */
export class MigrateError extends IovaBitmapError {
  /**
   * Every bitmap page of the completed rounds plus every page the failed round recorded (in the
   * migration's geometry). With what is still dirty in the sources, it holds every page the device
   * wrote.
   */
  readonly union: IovaBitmap;
  /**
   * Per bitmap page, the last round that reported it (the completed rounds and the failed one),
   * for the epoch check of whatever finishes the migration.
   */
  readonly reported: ReportedRounds;
  /** The rounds that completed, as `onRound` saw them. */
  readonly rounds: readonly MigrateRound[];
  /** Index of the round that failed: `rounds.length` (the final round when stopping the device failed). */
  readonly failedRound: number;

  constructor(cause: unknown, union: IovaBitmap, reported: ReportedRounds, rounds: readonly MigrateRound[]) {
    const data = IovaBitmapError.dataOf(cause);
    const failedRound = rounds.length;
    super(data.code, `${WHERE}: round ${failedRound} failed, the error's union keeps what was recorded: ${data.message}`, {
      param: data.param,
      value: data.value,
      details: { ...data.details, failedRound, roundsCompleted: rounds.length },
      cause,
    });
    this.union = union;
    this.reported = reported;
    this.rounds = rounds;
    this.failedRound = failedRound;
    Object.defineProperty(this, MIGRATE_FOOTPRINT, { value: true });
  }

  /** True for a MigrateError (from any copy of this package). */
  static override is(e: unknown): e is MigrateError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[MIGRATE_FOOTPRINT] === true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The options, checked; see {@link checkMigrate}. */
interface Checked {
  readonly o: MigrateOptions;
  readonly pageSize: bigint;
  readonly groundTruth: IovaBitmap;
  readonly epochs: WriteEpochs;
  readonly limitRounds: number;
  readonly fixed: boolean;
  readonly bandwidth: number;
  readonly downtimeLimitMs: number;
  readonly stream: boolean;
  readonly bulk: boolean;
  readonly interval: number;
  readonly onRound: MigrateOptions['onRound'];
  readonly verifyEachRound: boolean;
  readonly chunkBits: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly iova: bigint;
  readonly length: bigint;
}

/** Step 1: every check that needs nothing allocated (module comment: bad arguments run nothing). */
function checkMigrate(o: MigrateOptions): Checked {
  checkOptions(WHERE, 'options', o);
  const pageSize = toU64(WHERE, 'bitmapPageSize', o.bitmapPageSize);
  if (log2Exact(pageSize) < PAGE_SHIFT) throw IovaBitmapError.bad('EINVAL', WHERE, 'bitmapPageSize', pageSize, 'must be a power of two >= 4096');
  if (o.rounds !== undefined && o.maxRounds !== undefined) throw IovaBitmapError.bad('EINVAL', WHERE, 'rounds', o.rounds, 'must not be given with maxRounds');
  const fixed = o.rounds !== undefined;
  const limitRounds = fixed
    ? checkInt(WHERE, 'rounds', o.rounds, 0, MAX_PRECOPY_ROUNDS, '(epochs are bytes: 255 rounds with the final one)')
    : checkInt(WHERE, 'maxRounds', orDefault(o.maxRounds, 30), 0, MAX_PRECOPY_ROUNDS, '(epochs are bytes: 255 rounds with the final one)');
  if (!Array.isArray(o.sources) || o.sources.length === 0) throw IovaBitmapError.bad('EINVAL', WHERE, 'sources', o.sources, 'must be a non-empty array');
  if (typeof o.pool?.report !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'pool', o.pool, 'must have a report() method');
  if (typeof o.device?.stop !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'device', o.device, 'must have a stop() method');
  const gt = o.device.groundTruth;
  if (gt === undefined) throw IovaBitmapError.bad('EINVAL', WHERE, 'device', 'detached', 'must be attached to a ground truth first');
  if (!(gt instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', WHERE, 'device.groundTruth', gt, 'must be an IovaBitmap');
  const epochs = o.device.writeEpochs;
  if (!(epochs instanceof WriteEpochs)) throw IovaBitmapError.bad('EINVAL', WHERE, 'device.writeEpochs', epochs, 'must be the WriteEpochs of the attached device');
  if (epochs.roundsCompleted !== 0) throw IovaBitmapError.bad('EINVAL', WHERE, 'device.writeEpochs', `${epochs.roundsCompleted} rounds completed`, 'must be fresh: attach() the device again for a new migration');
  const bandwidth = checkNumber(WHERE, 'bandwidth', o.bandwidth, Number.POSITIVE_INFINITY, Number.MIN_VALUE, Number.POSITIVE_INFINITY, 'must be a positive number of bytes per second (Infinity: no link)');
  if (bandwidth !== Number.POSITIVE_INFINITY) {
    for (const m of ['pause', 'advance', 'resume'] as const) {
      if (typeof o.device[m] !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, `device.${m}`, o.device[m], 'must be a method: a finite bandwidth models time with the device');
    }
  }
  const downtimeLimitMs = checkNumber(WHERE, 'downtimeLimit', o.downtimeLimit, 300, 0, Number.MAX_VALUE, 'must be a finite number of milliseconds >= 0');
  const interval = checkNumber(WHERE, 'roundIntervalMs', o.roundIntervalMs, 0, 0, MAX_TIMER_MS, `must be a number of milliseconds in [0, ${MAX_TIMER_MS}]`);
  if (o.device.pagesWritten !== undefined && typeof o.device.pagesWritten !== 'number') {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'device.pagesWritten', o.device.pagesWritten, 'must be a number when present');
  }
  const onRound = checkCallback(WHERE, 'onRound', o.onRound);
  const verifyEachRound = checkFlag(WHERE, 'verifyEachRound', o.verifyEachRound, false);
  const stream = checkFlag(WHERE, 'stream', o.stream, true);
  const bulk = checkFlag(WHERE, 'bulkStage', o.bulkStage, false);
  const chunkBits = o.chunkBits === undefined ? undefined : checkChunkBits(WHERE, o.chunkBits);
  const signal = checkSignal(WHERE, 'signal', o.signal);
  if (o.units !== undefined) checkUnitMaps(WHERE, 'units', o.units);
  const iova = o.iova === undefined ? gt.iova : toU64(WHERE, 'iova', o.iova);
  const length = o.length === undefined ? gt.length : toU64(WHERE, 'length', o.length);
  return { o, pageSize, groundTruth: gt, epochs, limitRounds, fixed, bandwidth, downtimeLimitMs, stream, bulk, interval, onRound, verifyEachRound, chunkBits, signal, iova, length };
}

/** The unit maps of the check: the caller's, or derived from the sources (with a warning for any left without). */
function unitsOf(o: MigrateOptions): readonly UnitMap[] {
  if (o.units !== undefined) return o.units;
  const derived = o.sources.map((s) => ({ name: s.name, map: unitMapOf(s) }));
  const blind = derived.filter((d) => d.map === undefined).map((d) => d.name);
  if (blind.length > 0) {
    process.emitWarning(
      `${WHERE}: no unit geometry for source(s) ${blind.join(', ')}; their whole-leaf reports may be counted as unexpected. ` +
        'Pass options.units (e.g. mappingUnitMap(name, mappings) for a page table without leafAt).',
      'IovaBitmapWarning',
    );
  }
  return derived.flatMap((d) => (d.map === undefined ? [] : [d.map]));
}

/** What one harvest found, before it becomes a {@link MigrateRound}. */
interface Harvest {
  readonly stats: PoolReportStats;
  readonly harvestMs: number;
  /** Distinct bits of the round. */
  readonly bits: number;
  readonly roundMs: number;
  readonly firstChunkMs: number | null;
  readonly streamWorkMs: number;
  readonly foldMs: number;
}

/** One migration in progress: the state the steps share (module comment). */
class Migration {
  readonly #c: Checked;
  readonly #units: readonly UnitMap[];
  readonly #bitmap: IovaBitmap;
  readonly #union: IovaBitmap;
  readonly #reported: ReportedRounds;
  readonly #rounds: MigrateRound[] = [];
  readonly #clock = new ModelClock();
  readonly #bitBytes: number;
  #lastHarvestAt: number | undefined;
  /** True once a report has written into R (before that R is as allocated: clean). */
  #reportedInto = false;
  /** The round whose report may have left pages in R that are not folded in yet (a failure then folds them). */
  #unfolded: number | undefined;

  /** Step 2: allocations (the round bitmap, the union, the last-report bytes); ENOMEM before any round. */
  constructor(c: Checked) {
    this.#c = c;
    // The bitmap constructor checks alignment, overflow and size (EINVAL / EOVERFLOW / E2BIG) and
    // turns a failed allocation into ENOMEM: for the union too, before anything runs.
    this.#bitmap = new IovaBitmap({ iova: c.iova, length: c.length, pageSize: c.pageSize });
    checkReportRequest(WHERE, this.#bitmap, c.o.sources, false); // what the pool would refuse, refused before any round
    // No fault-in of R here: since core's summary layer, clear() touches only the blocks a report
    // marked (pages the report wrote, so already mapped), not every page of R.
    this.#union = new IovaBitmap({ iova: c.iova, length: c.length, pageSize: c.pageSize });
    this.#reported = new ReportedRounds(this.#bitmap.nbits);
    this.#units = unitsOf(c.o);
    this.#bitBytes = Number(c.pageSize);
  }

  /** Runs every step; see the module comment. */
  async run(): Promise<MigrateResult> {
    const t0 = performance.now();
    const c = this.#c;
    let device: DeviceStats;
    let reason: ConvergenceReason;
    let expected: DowntimeParts | null = null;
    try {
      for (;;) {
        if (this.#rounds.length >= c.limitRounds && (c.fixed || c.limitRounds === 0)) {
          reason = c.fixed ? 'fixed-rounds' : 'max-rounds';
          break;
        }
        expected = await this.#precopyRound();
        const stop = convergenceStop({
          dirtyBytes: this.#rounds.map((r) => Number(r.bytesDirtied)),
          expected,
          downtimeLimitMs: c.downtimeLimitMs,
          limitRounds: c.limitRounds,
          fixed: c.fixed,
        });
        if (stop !== undefined) {
          reason = stop;
          break;
        }
        if (c.interval > 0) {
          await this.#resume();
          await sleep(c.interval);
        }
      }
      device = await c.o.device.stop(); // quiesced: the last write is visible from here on
      this.#clock.paused();
      await this.#round(true);
    } catch (e) {
      // The failed round's bitmap holds what its report cleared (the pool settles only after every
      // worker stopped writing): fold it in, and hand everything over (module comment).
      if (this.#unfolded !== undefined) this.#foldBitmap(this.#unfolded);
      throw new MigrateError(e, this.#union, this.#reported, this.#rounds.slice());
    }
    const tv = performance.now();
    const verification = verifyMigration({ groundTruth: c.groundTruth, reported: this.#union, units: this.#units, epochs: { written: c.epochs, reported: this.#reported } });
    const verifyMs = performance.now() - tv;
    const final = this.#rounds[this.#rounds.length - 1]!;
    const precopyRounds = this.#rounds.length - 1;
    const converged = reason === 'downtime-limit' || (reason === 'fixed-rounds' && expected !== null && expected.totalMs <= c.downtimeLimitMs);
    return {
      rounds: this.#rounds,
      verification,
      verifyMs,
      convergence: { converged, reason, precopyRounds },
      downtime: { limitMs: c.downtimeLimitMs, expected, actual: downtime(final.harvestMs, final.transferMs) },
      bytesTransferred: this.#rounds.reduce((s, r) => s + r.bytesSent, 0n),
      link: { bandwidth: c.bandwidth, stream: c.stream },
      device,
      iova: c.iova,
      length: c.length,
      bitmapPageSize: c.pageSize,
      totalMs: performance.now() - t0,
    };
  }

  /** A pre-copy round: harvest and transfer while the device writes; returns the expected downtime after it. */
  async #precopyRound(): Promise<DowntimeParts> {
    await this.#resume();
    const round = await this.#round(false);
    return round.expectedDowntime!;
  }

  /** With a link: the device runs (real time) for the harvest. */
  async #resume(): Promise<void> {
    if (this.#c.bandwidth === Number.POSITIVE_INFINITY || this.#clock.running) return;
    await this.#c.o.device.resume!();
    this.#clock.resumed();
  }

  /**
   * With a link, after a pre-copy harvest: the device pauses and writes the rest of the round's
   * modelled time (the transfer the harvest did not cover), ./linkModel.ts.
   */
  async #transfer(restMs: number): Promise<void> {
    if (this.#c.bandwidth === Number.POSITIVE_INFINITY) return;
    const device = this.#c.o.device;
    await device.pause!();
    this.#clock.paused();
    await device.advance!(restMs);
    this.#clock.advanced(restMs);
  }

  /** One round: clear R, harvest, publish, transfer, record (and onRound). */
  async #round(final: boolean): Promise<MigrateRound> {
    const c = this.#c;
    const index = this.#rounds.length;
    const tc = performance.now();
    // Proportional to the dirty set once core's bitmap has its summary layer; R is clean before round 0.
    if (this.#reportedInto) this.#bitmap.clear();
    this.#reportedInto = true;
    const clearMs = performance.now() - tc;
    const startedAt = this.#clock.now();
    const dirtiedOverMs = this.#lastHarvestAt === undefined ? null : startedAt - this.#lastHarvestAt;
    this.#lastHarvestAt = startedAt;
    // A bulk round 0 sends the whole range (its dirty pages among them), any other round its dirty
    // pages: decided here, once, for the link (#harvest) and for the round's figures (below).
    const bulkBytes = c.bulk && index === 0 ? c.length : undefined;
    const h = await this.#harvest(index, bulkBytes === undefined ? undefined : Number(bulkBytes));
    c.epochs.publishRoundsCompleted(index + 1); // right after the report resolved (module comment)
    if (!final) await this.#transfer(h.roundMs - h.harvestMs);
    const tb = performance.now();
    const bytes = h.bits * this.#bitBytes;
    const sources: Record<string, MigrateSourceStats> = {};
    for (const [name, s] of Object.entries(h.stats.sources)) sources[name] = addSourceStats(emptySourceStats(), s);
    const bytesDirtied = BigInt(h.bits) * c.pageSize;
    const bytesSent = bulkBytes ?? bytesDirtied;
    const transfer = transferMs(Number(bytesSent), c.bandwidth);
    const base = {
      index,
      final,
      pagesDirtied: h.bits,
      pages4KiBDirtied: h.bits * (this.#bitBytes / 4096),
      bytesDirtied,
      bytesSent,
      harvestMs: h.harvestMs,
      transferMs: transfer,
      roundMs: h.roundMs,
      dirtiedOverMs,
      dirtyPagesPerSec: dirtiedOverMs !== null && dirtiedOverMs > 0 ? h.bits / (dirtiedOverMs / 1000) : null,
      dirtyBytesPerSec: dirtiedOverMs !== null && dirtiedOverMs > 0 ? bytes / (dirtiedOverMs / 1000) : null,
    };
    const expectedDowntime = final ? null : predictDowntime([...this.#rounds.map((r) => ({ ...r, bytesDirtied: Number(r.bytesDirtied) })), { ...base, bytesDirtied: bytes }], c.bandwidth);
    const bookkeepingMs = clearMs + h.foldMs + (performance.now() - tb);
    const round: MigrateRound = {
      ...base,
      expectedDowntime,
      firstChunkMs: h.firstChunkMs,
      bookkeepingMs,
      streamWorkMs: h.streamWorkMs,
      gibPerSec: h.harvestMs > 0 ? Number(c.length) / GIB / (h.harvestMs / 1000) : Number.POSITIVE_INFINITY,
      sources,
      devicePagesWritten: orDefault(c.o.device.pagesWritten, 0),
      ...(c.verifyEachRound ? { unexpected: verifyMigration({ groundTruth: c.groundTruth, reported: this.#bitmap, units: this.#units }).unexpected } : {}),
    };
    this.#rounds.push(round);
    if (c.onRound !== undefined) {
      try {
        c.onRound(round, this.#bitmap);
      } catch (e) {
        process.emitWarning(`${WHERE}: onRound threw: ${String(e)}`, 'IovaBitmapWarning');
      }
    }
    return round;
  }

  /**
   * The report of round `index` and the round's dirty set into U and the last-report bytes:
   * streamed chunk by chunk into the link (`stream`), or from R's runs after the report. With
   * `bulkBytes` (a bulk round 0) the link sends that many bytes from the round's start instead of
   * the chunks' pages.
   */
  async #harvest(index: number, bulkBytes: number | undefined): Promise<Harvest> {
    const c = this.#c;
    const link = new LinkQueue(c.bandwidth);
    let bits = 0;
    let firstChunkMs: number | null = null;
    let streamWorkMs = 0;
    this.#unfolded = index;
    // A bulk round sends the whole range from its start.
    if (bulkBytes !== undefined && c.stream) link.send(0, bulkBytes);
    const t0 = performance.now();
    const onChunk = (chunk: ReportedChunk): void => {
      const t = performance.now();
      firstChunkMs ??= t - t0;
      const added = this.#foldRuns(chunk.runs, index);
      bits += added;
      if (bulkBytes === undefined) link.send(t - t0, added * this.#bitBytes);
      streamWorkMs += performance.now() - t;
    };
    const stats = await c.o.pool.report({
      bitmap: this.#bitmap,
      sources: c.o.sources,
      ...(c.signal === undefined ? {} : { signal: c.signal }),
      ...(c.chunkBits === undefined ? {} : { chunkBits: c.chunkBits }),
      ...(c.stream ? { onChunk } : {}),
    });
    const harvestMs = performance.now() - t0;
    let foldMs = 0;
    let roundMs: number;
    if (c.stream) {
      roundMs = Math.max(harvestMs, link.doneMs);
    } else {
      const tf = performance.now();
      bits = this.#foldBitmap(index);
      foldMs = performance.now() - tf;
      roundMs = harvestMs + transferMs(bulkBytes ?? bits * this.#bitBytes, c.bandwidth);
    }
    this.#unfolded = undefined;
    return { stats, harvestMs, bits, roundMs, firstChunkMs, streamWorkMs, foldMs };
  }

  /** Runs (first bit, count pairs) of round `index` into the last-report bytes and U; returns the bits new to the round. */
  #foldRuns(runs: Float64Array, index: number): number {
    let added = 0;
    for (let i = 0; i + 1 < runs.length; i += 2) {
      const a = runs[i]!;
      const n = runs[i + 1]!;
      added += this.#reported.recordNew(a, a + n, index);
      this.#union.setBits(a, n); // the numeric form of union.set(iova, length)
    }
    return added;
  }

  /**
   * R into the last-report bytes (run by run) and U (word-wise, IovaBitmap.orInto): a round not
   * streamed, or a failed round. Both cost R's dirty blocks, not its size (the summary layer).
   * Returns the bits new to round `index`.
   */
  #foldBitmap(index: number): number {
    const b = this.#bitmap;
    const shift = BigInt(b.pageShift);
    let added = 0;
    for (const r of b.dirtyRanges()) {
      const a = Number((r.iova - b.iova) >> shift);
      added += this.#reported.recordNew(a, a + Number(r.length >> shift), index);
    }
    b.orInto(this.#union);
    return added;
  }
}

/**
 * Runs a live migration; see the module comment.
 * @throws IovaBitmapError before the first round, with nothing run: `EINVAL` (and the sources'
 *   own codes from their report checks) for bad arguments, `ENOMEM` when the bitmaps cannot be
 *   allocated. Once the first round has begun: a {@link MigrateError} with the failure's code
 *   (`ECANCELED`, `EIO`, a source's or the device's own) and everything recorded so far.
 * @example
 * ```ts
 * import { IoPageTable, IovaBitmap } from '@iovabitmap/core';
 * import { DeviceSimulator, MigrateError, ReportPool, mappingUnitMap, migrate } from '@iovabitmap/workers';
 *
 * const mapping = { iova: 0n, length: 1n << 30n, leaf: 2n << 20n };
 * const iommu = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
 * iommu.map(mapping.iova, mapping.length, { leaf: mapping.leaf });
 * iommu.setDirtyTracking(true);
 * const groundTruth = new IovaBitmap({ iova: mapping.iova, length: mapping.length, pageSize: 4096 });
 * const device = await DeviceSimulator.create();
 * const pool = new ReportPool({ threads: 2 });
 * try {
 *   await device.attach({ pageTable: iommu.share(), groundTruth: groundTruth.share() });
 *   await device.start({ pattern: 'hotset', rate: 'max', seed: 1 });
 *   // Two pre-copy rounds while the device writes; then migrate stops it and runs the final round.
 *   const result = await migrate({ bitmapPageSize: 4096, rounds: 2, sources: [iommu], units: [mappingUnitMap('iommu', [mapping])], device, pool });
 *   console.log(result.rounds.length, result.verification.ok); // 3 true
 * } catch (e) {
 *   if (MigrateError.is(e)) console.log(`round ${e.failedRound} failed: ${e.message}; ${e.union.count()} pages recorded`);
 *   throw e;
 * } finally {
 *   await pool.close();
 *   await device.close();
 * }
 * ```
 */
export async function migrate(o: MigrateOptions): Promise<MigrateResult> {
  return new Migration(checkMigrate(o)).run();
}
