/**
 * migrate(): the live-migration loop — pre-copy rounds of parallel reports while the device
 * writes, a quiesce, a final report, and the no-loss check.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * What it models. The dirty-page side of a VMM's live migration with a passthrough device:
 *   round 0..rounds-1 (pre-copy): report every source (IOMMU page table, device tracker) into a
 *       bitmap while the device keeps writing; the VMM would copy those pages;
 *   stop-and-copy: stop the device (quiesce: ../device/DeviceSimulator.ts resolves stop() only
 *       after the device's last write is visible here), then one final report.
 * Every report reads and clears (record before clear, ../../../core/src/DirtySource.ts), so each
 * round holds what was dirtied since the previous one, and the union of the rounds holds every page
 * dirtied since tracking began.
 *
 * Data flow. One round bitmap R (the migration range at `bitmapPageSize`) is reused: before each
 * round it is cleared, the pool reports into it, its bits are counted, `onRound` sees it, and its
 * bytes are ORed into the union U (a plain buffer, main thread only). After the final round, U is
 * compared with the device's ground truth by ./verifyMigration.ts, which also widens the ground
 * truth to each source's units (./unitMaps.ts).
 *
 * Soundness of the final check. The device records a page in the ground truth before it marks
 * the page in any source; stop() returns after the last mark; the final report runs after stop().
 * So every ground-truth page was marked before the final report began, and was therefore either
 * cleared by an earlier round (which recorded it first) or is found by the final report: a page
 * in the ground truth and not in U was lost. Conversely every mark a report reads was preceded by
 * its ground-truth write, so a reported page outside the widened ground truth was invented — in any
 * round, which is what `verifyEachRound` checks on each round's bitmap alone.
 *
 * A failed verification is a result, not an exception: the caller (the CLI, a test) prints or
 * asserts it. Exceptions are for bad arguments and failed reports (EIO, ECANCELED), after which
 * the device is left as it was (running or not) for the caller to stop.
 *
 * Failure keeps the data. Every report reads *and clears*, so a round that fails (its report
 * aborted, a worker fault, a source's error, or the device's stop() after the pre-copy rounds) has
 * already taken some pages out of the sources, and the pool leaves exactly those pages in the
 * round bitmap when it rejects (ReportPool: "after ECANCELED or EIO, keep the bitmap"). So on any
 * failure once the first round has begun, migrate() ORs the round bitmap into U one more time (OR is
 * idempotent: a round already folded in adds nothing) and rejects with a {@link MigrateError}
 * carrying U and the completed rounds. U ∪ (what is still dirty in the sources) then holds every
 * page the device wrote: nothing cleared is ever dropped. Bad arguments, found before the first
 * round (including a union that cannot be allocated: ENOMEM), are plain IovaBitmapErrors and
 * nothing has run.
 */
import { IovaBitmap, IovaBitmapError, type DirtySource, type SourceStats, type U64Like } from '@iovabitmap/core';
import { GIB, PAGE_SHIFT, addSourceStats, checkInt, checkReportRequest, emptySourceStats, log2Exact, toU64 } from '@iovabitmap/core/internal';
import { checkChunkBits } from '../pool/ChunkPlan.js';
import { MAX_TIMER_MS, checkCallback, checkFlag, checkOptions, checkSignal, orDefault } from '../checks.js';
import type { DeviceStats } from '../device/deviceTypes.js';
import type { PoolReportOptions } from '../pool/poolTypes.js';
import type { PoolReportStats } from '../pool/poolStats.js';
import { checkUnitMaps, unitMapOf, type UnitMap } from './unitMaps.js';
import { verifyMigration, type VerifyResult } from './verifyMigration.js';

const WHERE = 'migrate';

/** What migrate() needs of the device (a {@link DeviceSimulator} has it). */
export interface MigrateDevice {
  /** The ground truth the device records every write in first (4 KiB pages); set by attach(). */
  readonly groundTruth: IovaBitmap | undefined;
  /** Stops the device; resolves after its last write is visible (the quiesce protocol). */
  stop(): Promise<DeviceStats>;
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
  /** Bitmap pages (bits) dirtied since the previous round: the pages this round would copy. */
  readonly pagesDirtied: number;
  /** The same in bytes: pagesDirtied × bitmapPageSize. */
  readonly bytesDirtied: bigint;
  /** Wall time of the report, ms (the pool's wallMs). */
  readonly wallMs: number;
  /** IOVA scanned per second: the migration range's length (GiB) / wall time (s). Each source scans that range. */
  readonly gibPerSec: number;
  /** Per source name. */
  readonly sources: Readonly<Record<string, MigrateSourceStats>>;
  /** Pages the device had written (all time) when the report ended; read from shared memory. */
  readonly devicePagesWritten: number;
  /** With `verifyEachRound`: this round's bits outside the widened ground truth (should be 0). */
  readonly unexpected?: number;
}

/** Arguments of {@link migrate}. */
export interface MigrateOptions {
  /** IOVA bytes per bitmap bit: a power of two >= 4096. */
  readonly bitmapPageSize: U64Like;
  /** Pre-copy rounds before the stop-and-copy round, >= 0. */
  readonly rounds: number;
  /** The sources to report, in order (unique names); the device writes into them. */
  readonly sources: readonly DirtySource[];
  /** The device, attached (its ground truth set) and usually running. migrate() stops it. */
  readonly device: MigrateDevice & { readonly pagesWritten?: number };
  /** The report engine. */
  readonly pool: MigratePool;
  /**
   * Called after each completed round with its stats and the round's bitmap (valid only during
   * the call: it is cleared for the next round). Exceptions become warnings.
   */
  readonly onRound?: (round: MigrateRound, bitmap: IovaBitmap) => void;
  /** First IOVA of the migration range, bytes, aligned to bitmapPageSize. @defaultValue the ground truth's iova */
  readonly iova?: U64Like;
  /** Length of the migration range, bytes, aligned. @defaultValue the ground truth's length */
  readonly length?: U64Like;
  /** Pause between pre-copy rounds, ms in [0, 2^31 - 1] (the device keeps writing). @defaultValue 0 */
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
   * left running.
   */
  readonly signal?: AbortSignal;
}

/** What {@link migrate} returns. */
export interface MigrateResult {
  /** Pre-copy rounds, then the final round. */
  readonly rounds: readonly MigrateRound[];
  /** The check of the union of the rounds against the ground truth; `verification.ok` is the verdict. */
  readonly verification: VerifyResult;
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
  /** The rounds that completed, as `onRound` saw them. */
  readonly rounds: readonly MigrateRound[];
  /** Index of the round that failed: `rounds.length` (the final round when stopping the device failed). */
  readonly failedRound: number;

  constructor(cause: unknown, union: IovaBitmap, rounds: readonly MigrateRound[]) {
    const data = IovaBitmapError.dataOf(cause);
    const failedRound = rounds.length;
    super(data.code, `${WHERE}: round ${failedRound} failed, the error's union keeps what was recorded: ${data.message}`, {
      param: data.param,
      value: data.value,
      details: { ...data.details, failedRound, roundsCompleted: rounds.length },
      cause,
    });
    this.union = union;
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
  checkOptions(WHERE, 'options', o);
  const pageSize = toU64(WHERE, 'bitmapPageSize', o.bitmapPageSize);
  if (log2Exact(pageSize) < PAGE_SHIFT) throw IovaBitmapError.bad('EINVAL', WHERE, 'bitmapPageSize', pageSize, 'must be a power of two >= 4096');
  const rounds = checkInt(WHERE, 'rounds', o.rounds, 0, 1_000_000);
  if (!Array.isArray(o.sources) || o.sources.length === 0) throw IovaBitmapError.bad('EINVAL', WHERE, 'sources', o.sources, 'must be a non-empty array');
  if (typeof o.pool?.report !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'pool', o.pool, 'must have a report() method');
  if (typeof o.device?.stop !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'device', o.device, 'must have a stop() method');
  const gt = o.device.groundTruth;
  if (gt === undefined) throw IovaBitmapError.bad('EINVAL', WHERE, 'device', 'detached', 'must be attached to a ground truth first');
  if (!(gt instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', WHERE, 'device.groundTruth', gt, 'must be an IovaBitmap');
  const interval = orDefault(o.roundIntervalMs, 0);
  if (typeof interval !== 'number' || !(interval >= 0 && interval <= MAX_TIMER_MS)) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'roundIntervalMs', interval, `must be a number of milliseconds in [0, ${MAX_TIMER_MS}]`);
  }
  if (o.device.pagesWritten !== undefined && typeof o.device.pagesWritten !== 'number') {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'device.pagesWritten', o.device.pagesWritten, 'must be a number when present');
  }
  const onRound = checkCallback(WHERE, 'onRound', o.onRound);
  const verifyEachRound = checkFlag(WHERE, 'verifyEachRound', o.verifyEachRound, false);
  const chunkBits = o.chunkBits === undefined ? undefined : checkChunkBits(WHERE, o.chunkBits);
  const signal = checkSignal(WHERE, 'signal', o.signal);
  if (o.units !== undefined) checkUnitMaps(WHERE, 'units', o.units);
  const iova = o.iova === undefined ? gt.iova : toU64(WHERE, 'iova', o.iova);
  const length = o.length === undefined ? gt.length : toU64(WHERE, 'length', o.length);
  // The bitmap constructor checks alignment, overflow and size (EINVAL / EOVERFLOW / E2BIG) and
  // turns a failed allocation into ENOMEM: for the union too, before anything runs.
  const bitmap = new IovaBitmap({ iova, length, pageSize });
  checkReportRequest(WHERE, bitmap, o.sources, false); // what the pool would refuse, refused before any round
  const union = new IovaBitmap({ iova, length, pageSize });
  const unionBytes = new Uint8Array(union.buffer, union.byteOffset, union.byteLength);
  const roundBytes = new Uint8Array(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength);
  const foldRound = (): void => {
    for (let i = 0; i < unionBytes.length; i++) unionBytes[i]! |= roundBytes[i]!;
  };
  const lengthGiB = Number(length) / GIB;
  let units = o.units;
  if (units === undefined) {
    const derived = o.sources.map((s) => ({ name: s.name, map: unitMapOf(s) }));
    const blind = derived.filter((d) => d.map === undefined).map((d) => d.name);
    if (blind.length > 0) {
      process.emitWarning(
        `${WHERE}: no unit geometry for source(s) ${blind.join(', ')}; their whole-leaf reports may be counted as unexpected. ` +
          'Pass options.units (e.g. mappingUnitMap(name, mappings) for a page table without leafAt).',
        'IovaBitmapWarning',
      );
    }
    units = derived.flatMap((d) => (d.map === undefined ? [] : [d.map]));
  }

  const out: MigrateRound[] = [];
  const t0 = performance.now();
  const runRound = async (final: boolean): Promise<void> => {
    bitmap.clear();
    const stats = await o.pool.report({ bitmap, sources: o.sources, ...(signal === undefined ? {} : { signal }), ...(chunkBits === undefined ? {} : { chunkBits }) });
    const pagesDirtied = bitmap.count();
    foldRound();
    const sources: Record<string, MigrateSourceStats> = {};
    for (const [name, s] of Object.entries(stats.sources)) sources[name] = addSourceStats(emptySourceStats(), s);
    let unexpected: number | undefined;
    if (verifyEachRound) unexpected = verifyMigration({ groundTruth: gt, reported: bitmap, units }).unexpected;
    const round: MigrateRound = {
      index: out.length,
      final,
      pagesDirtied,
      bytesDirtied: BigInt(pagesDirtied) * pageSize,
      wallMs: stats.wallMs,
      gibPerSec: stats.wallMs > 0 ? lengthGiB / (stats.wallMs / 1000) : Number.POSITIVE_INFINITY,
      sources,
      devicePagesWritten: orDefault(o.device.pagesWritten, 0),
      ...(unexpected === undefined ? {} : { unexpected }),
    };
    out.push(round);
    if (onRound !== undefined) {
      try {
        onRound(round, bitmap);
      } catch (e) {
        process.emitWarning(`${WHERE}: onRound threw: ${String(e)}`, 'IovaBitmapWarning');
      }
    }
  };

  let device: DeviceStats;
  try {
    for (let r = 0; r < rounds; r++) {
      await runRound(false);
      if (interval > 0 && r + 1 < rounds) await sleep(interval);
    }
    device = await o.device.stop(); // quiesced: the last write is visible from here on
    await runRound(true);
  } catch (e) {
    // The failed round's bitmap holds what its report cleared (the pool settles only after every
    // worker stopped writing): fold it in, and hand everything over (module comment).
    foldRound();
    throw new MigrateError(e, union, out.slice());
  }
  const verification = verifyMigration({ groundTruth: gt, reported: union, units });
  return { rounds: out, verification, device, iova, length, bitmapPageSize: pageSize, totalMs: performance.now() - t0 };
}
