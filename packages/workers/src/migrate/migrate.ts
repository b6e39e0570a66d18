/**
 * migrate(): the live-migration loop — pre-copy rounds of parallel reports while the device
 * writes, a quiesce, a final report, and the no-loss check.
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
 * compared with the device's ground truth by ./verify.ts, which also widens the ground truth to
 * each source's units (./unitMaps.ts).
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
 */
import { IovaBitmap, IovaBitmapError, log2Exact, toU64, type DirtySource, type U64Like } from '@iovabitmap/core';
import type { DeviceStats } from '../device/types.js';
import type { PoolReportOptions } from '../ReportPool.js';
import type { PoolReportStats } from '../poolStats.js';
import { unitMapOf, type UnitMap } from './unitMaps.js';
import { verifyMigration, type VerifyResult } from './verify.js';

const WHERE = 'migrate';
const GIB = 2 ** 30;

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

/** Per-source counters of one round (from the pool's stats). */
export interface MigrateSourceStats {
  /** PTEs or tracker words read. */
  readonly entriesVisited: number;
  /** Dirty leaves or tracker records found. */
  readonly dirtyLeaves: number;
  /** Bitmap bits covered by the records. */
  readonly bitsMarked: number;
}

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
   * Called after each round with its stats and the round's bitmap (valid only during the call:
   * it is cleared for the next round). Exceptions become warnings.
   */
  readonly onRound?: (round: MigrateRound, bitmap: IovaBitmap) => void;
  /** First IOVA of the migration range, bytes, aligned to bitmapPageSize. @defaultValue the ground truth's iova */
  readonly iova?: U64Like;
  /** Length of the migration range, bytes, aligned. @defaultValue the ground truth's length */
  readonly length?: U64Like;
  /** Pause between pre-copy rounds, ms (the device keeps writing). @defaultValue 0 */
  readonly roundIntervalMs?: number;
  /** Check each round's bitmap for unexpected pages as it completes (costs a widening per round). @defaultValue false */
  readonly verifyEachRound?: boolean;
  /**
   * Widening geometry per source (./unitMaps.ts). @defaultValue derived from each source by
   * `unitMapOf`: trackers have it; an IoPageTable has no leaf lookup, so pass
   * `mappingUnitMap(name, mappings)` for it (a warning names every source left without one).
   */
  readonly units?: readonly UnitMap[];
  /** Bitmap bits per chunk of every report. @defaultValue the pool's */
  readonly chunkBits?: number;
  /** Aborts the current report (rejects with ECANCELED); the device is left running. */
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs a live migration; see the module comment.
 * @throws IovaBitmapError `EINVAL` for bad arguments (before anything runs); the pool's errors
 *   (`EIO`, `ECANCELED`, a source's `ENOENT`...) from a report.
 */
export async function migrate(o: MigrateOptions): Promise<MigrateResult> {
  if (typeof o !== 'object' || o === null) throw IovaBitmapError.bad('EINVAL', WHERE, 'options', o, 'must be an object');
  const pageSize = toU64(WHERE, 'bitmapPageSize', o.bitmapPageSize);
  if (log2Exact(pageSize) < 12) throw IovaBitmapError.bad('EINVAL', WHERE, 'bitmapPageSize', pageSize, 'must be a power of two >= 4096');
  const rounds = o.rounds;
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 1_000_000) throw IovaBitmapError.bad('EINVAL', WHERE, 'rounds', rounds, 'must be an integer in [0, 1000000]');
  if (!Array.isArray(o.sources) || o.sources.length === 0) throw IovaBitmapError.bad('EINVAL', WHERE, 'sources', o.sources, 'must be a non-empty array');
  if (typeof o.pool?.report !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'pool', o.pool, 'must have a report() method');
  if (typeof o.device?.stop !== 'function') throw IovaBitmapError.bad('EINVAL', WHERE, 'device', o.device, 'must have a stop() method');
  const gt = o.device.groundTruth;
  if (gt === undefined) throw IovaBitmapError.bad('EINVAL', WHERE, 'device', 'detached', 'must be attached to a ground truth first');
  const interval = o.roundIntervalMs ?? 0;
  if (typeof interval !== 'number' || !(interval >= 0) || !Number.isFinite(interval)) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'roundIntervalMs', interval, 'must be a finite number >= 0');
  }
  const iova = o.iova === undefined ? gt.iova : toU64(WHERE, 'iova', o.iova);
  const length = o.length === undefined ? gt.length : toU64(WHERE, 'length', o.length);
  // The bitmap constructor checks alignment, overflow and size (EINVAL / EOVERFLOW / E2BIG).
  const bitmap = new IovaBitmap({ iova, length, pageSize });
  const union = new IovaBitmap({ iova, length, pageSize, buffer: new ArrayBuffer(bitmap.byteLength) });
  const unionBytes = new Uint8Array(union.buffer);
  const roundBytes = new Uint8Array(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength);
  const lengthGiB = Number(length) / GIB;
  let units = o.units;
  if (units === undefined) {
    const derived = o.sources.map((s) => ({ name: s.name, map: unitMapOf(s) }));
    const blind = derived.filter((d) => d.map === undefined).map((d) => d.name);
    if (blind.length > 0) {
      process.emitWarning(
        `${WHERE}: no unit geometry for source(s) ${blind.join(', ')}; their whole-leaf reports may be counted as unexpected. ` +
          'Pass options.units (e.g. mappingUnitMap(name, mappings) for a page table).',
        'IovaBitmapWarning',
      );
    }
    units = derived.flatMap((d) => (d.map === undefined ? [] : [d.map]));
  }

  const out: MigrateRound[] = [];
  const t0 = performance.now();
  const runRound = async (final: boolean): Promise<void> => {
    bitmap.clear();
    const stats = await o.pool.report({ bitmap, sources: o.sources, signal: o.signal, ...(o.chunkBits === undefined ? {} : { chunkBits: o.chunkBits }) });
    const pagesDirtied = bitmap.count();
    for (let i = 0; i < unionBytes.length; i++) unionBytes[i]! |= roundBytes[i]!;
    const sources: Record<string, MigrateSourceStats> = {};
    for (const [name, s] of Object.entries(stats.sources)) {
      sources[name] = { entriesVisited: s.entriesVisited, dirtyLeaves: s.dirtyLeaves, bitsMarked: s.bitsMarked };
    }
    let unexpected: number | undefined;
    if (o.verifyEachRound === true) unexpected = verifyMigration({ groundTruth: gt, reported: bitmap, units }).unexpected;
    const round: MigrateRound = {
      index: out.length,
      final,
      pagesDirtied,
      bytesDirtied: BigInt(pagesDirtied) * pageSize,
      wallMs: stats.wallMs,
      gibPerSec: stats.wallMs > 0 ? lengthGiB / (stats.wallMs / 1000) : Number.POSITIVE_INFINITY,
      sources,
      devicePagesWritten: o.device.pagesWritten ?? 0,
      ...(unexpected === undefined ? {} : { unexpected }),
    };
    out.push(round);
    if (o.onRound !== undefined) {
      try {
        o.onRound(round, bitmap);
      } catch (e) {
        process.emitWarning(`${WHERE}: onRound threw: ${String(e)}`, 'IovaBitmapWarning');
      }
    }
  };

  for (let r = 0; r < rounds; r++) {
    await runRound(false);
    if (interval > 0 && r + 1 < rounds) await sleep(interval);
  }
  const device = await o.device.stop(); // quiesced: the last write is visible from here on
  await runRound(true);
  const verification = verifyMigration({ groundTruth: gt, reported: union, units });
  return { rounds: out, verification, device, iova, length, bitmapPageSize: pageSize, totalMs: performance.now() - t0 };
}
