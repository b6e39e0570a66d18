/**
 * `iovabitmap migrate`: a live migration with a simulated device, round by round.
 *
 * Theory of operation
 * -------------------
 * Maps the IOVA space in the chosen sources (clean: nothing dirty yet), makes a 4 KiB-page ground
 * truth bitmap, starts the device simulator on them (its own worker, writing with a pattern at a
 * rate), starts the parallel engine, and runs workers' `migrate()`: `--rounds` pre-copy reports
 * while the device writes, then a quiesce and the final report, then the no-loss check of the
 * union of the rounds against the ground truth. One line per round; the verdict last. Exit status
 * 0 when nothing was lost or invented, 2 when the check failed, 1 for any error.
 *
 * The sources and the engine come from ./impls.ts, the device simulator and the loop from
 * @iovabitmap/workers (`DeviceSimulator`, `migrate`).
 */
import { IovaBitmap, type IoPageTable, type VfTracker } from '@iovabitmap/core';
import { DeviceSimulator, mappingUnitMap, migrate, trackerUnitMap, type DevicePatternName, type UnitMap } from '@iovabitmap/workers';
import { checkReportGeometry } from './reportCommand.js';
import { createPageTable, createTracker, openEngine, type Engine } from './impls.js';
import { BENCH_IOVA_BASE } from './scenarios.js';
import type { SourceKind } from './schema.js';
import { formatBytes, formatBytesRounded, formatGiBps, formatMs } from './units.js';
import { usageError } from './cliOptions.js';

/** Parsed options of `iovabitmap migrate`. */
export interface MigrateCommandOptions {
  /** IOVA space, bytes. */
  readonly iovaSize: bigint;
  /** Leaf size, bytes. */
  readonly leaf: bigint;
  /** PTE format. */
  readonly format: string;
  /** Sources. */
  readonly sources: SourceKind;
  /** Bitmap page size, bytes. */
  readonly bitmapPageSize: bigint;
  /** Pre-copy rounds. */
  readonly rounds: number;
  /** Engine threads. */
  readonly threads: number;
  /** Device write pattern. */
  readonly pattern: DevicePatternName;
  /** Device write rate, bytes per second; 0 = as fast as it can. */
  readonly rate: bigint;
  /** Pause between pre-copy rounds, ms. */
  readonly roundInterval: number;
  /** Device seed. */
  readonly seed: number;
  /** Check every round for invented pages. */
  readonly verifyEachRound: boolean;
}

/**
 * Runs the command; writes to `out`.
 * @returns the exit status: 0 verified, 2 verification failed
 * @throws IovaBitmapError on any failure.
 */
export async function runMigrateCommand(o: MigrateCommandOptions, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  checkReportGeometry(o.iovaSize, o.leaf);
  if (o.bitmapPageSize < 4096n || (o.bitmapPageSize & (o.bitmapPageSize - 1n)) !== 0n || o.iovaSize % o.bitmapPageSize !== 0n) {
    throw usageError('--bitmap-page-size', formatBytes(o.bitmapPageSize), `must be a power of two of at least 4 KiB that divides --iova-size`);
  }
  const iova = BENCH_IOVA_BASE;
  const length = o.iovaSize;
  const table = o.sources === 'vf' ? undefined : createPageTable({ format: o.format, iova, length, leafBytes: o.leaf });
  const tracker = o.sources === 'iommu' ? undefined : createTracker({ iova, length, pageBytes: 4096n });
  const sources = [table, tracker].filter((s): s is IoPageTable | VfTracker => s !== undefined);
  // The checker widens the ground truth to each source's units (a dirty 2 MiB leaf reports 512 pages).
  const units: UnitMap[] = [];
  if (table) units.push(mappingUnitMap(table.name, [{ iova, length, leaf: o.leaf }]));
  if (tracker) units.push(trackerUnitMap(tracker));
  const groundTruth = new IovaBitmap({ iova, length, pageSize: 4096 });
  let device: DeviceSimulator | undefined;
  let pool: Engine | undefined;
  try {
    device = await DeviceSimulator.create();
    await device.attach({ groundTruth: groundTruth.share(), ...(table ? { pageTable: table.share() } : {}), ...(tracker ? { tracker: tracker.share() } : {}) });
    pool = await openEngine(o.threads);
    out.write(
      `migrate: ${formatBytes(length)} at ${formatBytes(o.leaf)} leaves, ${o.sources}, bitmap pages ${formatBytes(o.bitmapPageSize)}, ` +
        `${o.rounds} pre-copy rounds, ${o.threads} threads; device ${o.pattern} at ${o.rate === 0n ? 'full speed' : `${formatBytes(o.rate)}/s`}, seed ${o.seed}\n`,
    );
    await device.start({ pattern: o.pattern, rate: Number(o.rate / 4096n), seed: o.seed });
    const result = await migrate({
      bitmapPageSize: o.bitmapPageSize,
      rounds: o.rounds,
      sources,
      device,
      pool,
      roundIntervalMs: o.roundInterval,
      verifyEachRound: o.verifyEachRound,
      units,
      onRound: (r) =>
        out.write(
          `  round ${r.index}${r.final ? ' (final, device stopped)' : ''}: ${r.pagesDirtied} pages (${formatBytesRounded(r.bytesDirtied)}) dirty, ` +
            `report ${formatMs(r.wallMs)} = ${formatGiBps(r.gibPerSec)}; device had written ${r.devicePagesWritten} pages` +
            `${r.unexpected === undefined ? '' : `; ${r.unexpected} unexpected`}\n`,
        ),
    });
    const v = result.verification;
    out.write(
      `verification: ${v.ok ? 'OK' : 'FAILED'}: ${v.groundTruthBits} pages written, ${v.reportedBits} reported, ${v.missing} missing, ${v.unexpected} unexpected; ` +
        `total ${formatMs(result.totalMs)}\n`,
    );
    if (!v.ok) {
      if (v.missing > 0) out.write(`  missing at: ${v.missingSample.map((x) => '0x' + x.toString(16)).join(' ')}\n`);
      if (v.unexpected > 0) out.write(`  unexpected at: ${v.unexpectedSample.map((x) => '0x' + x.toString(16)).join(' ')}\n`);
    }
    return v.ok ? 0 : 2;
  } finally {
    await pool?.close();
    await device?.close();
  }
}
