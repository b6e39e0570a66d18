/**
 * `iovabitmap migrate`: a live migration with a simulated device, round by round.
 *
 * Theory of operation
 * -------------------
 * Refuses a size the machine cannot hold (../harness/memoryBudget.ts, {@link migratePlan}) before
 * building anything. Maps the IOVA space in the chosen sources (clean: nothing dirty yet) with one
 * leaf size or the `mixed` layout (in every 16 GiB, the first 1 GiB with 4 KiB leaves and the rest
 * with 2 MiB ones: a guest whose memory is mostly huge pages with some split ones), makes a
 * 4 KiB-page ground truth bitmap, starts the device simulator on them (its own worker, writing with a
 * pattern at a rate), starts the parallel engine, and runs workers' `migrate()`: `--rounds`
 * pre-copy reports while the device writes, then a quiesce and the final report, then the no-loss
 * check of the union of the rounds against the ground truth. A table of the rounds; the verdict
 * last. Exit status 0 when nothing was lost or invented, 2 when the check failed, 1 for any error.
 *
 * The sources and the engine come from ../harness/impls.ts, the device simulator and the loop from
 * @iovabitmap/workers (`DeviceSimulator`, `migrate`).
 */
import Table from 'cli-table3';
import { IoPageTable, IovaBitmap, type PteFormat, type VfTracker } from '@iovabitmap/core';
import { GiB, MiB } from '@iovabitmap/core/internal';
import { DeviceSimulator, mappingUnitMap, migrate, trackerUnitMap, type DevicePatternName, type LeafMapping, type MigrateRound, type UnitMap } from '@iovabitmap/workers';
import { checkReportGeometry } from './reportCommand.js';
import { createTracker, openEngine, type Engine } from '../harness/impls.js';
import { BENCH_IOVA_BASE } from '../harness/scenarios.js';
import type { SourceKind } from '../output/schema.js';
import { formatBytes, formatBytesRounded, formatGiBps, formatMs } from '../units.js';
import { usageError } from './cliOptions.js';
import { checkMemory, type MemoryPlan } from '../harness/memoryBudget.js';

/** Parsed options of `iovabitmap migrate`. */
export interface MigrateCommandOptions {
  /** IOVA space, bytes. */
  readonly iovaSize: bigint;
  /** Leaf size, bytes, or `'mixed'` (module comment). */
  readonly leaf: bigint | 'mixed';
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
  /** Device write rate, bytes per second (> 0), or `'max'` for as fast as it can. */
  readonly rate: bigint | 'max';
  /** Pause between pre-copy rounds, ms. */
  readonly roundInterval: number;
  /** Device seed. */
  readonly seed: number;
  /** Check every round for invented pages. */
  readonly verifyEachRound: boolean;
}


/**
 * The mappings of the IOVA space: one leaf size throughout, or the `mixed` layout (module
 * comment): blocks of min(16 GiB, length), each 1/16 at 4 KiB leaves and the rest at 2 MiB.
 */
export function layoutMappings(iova: bigint, length: bigint, leaf: bigint | 'mixed'): LeafMapping[] {
  if (leaf !== 'mixed') return [{ iova, length, leaf }];
  if (length % (32n * MiB) !== 0n) throw usageError('--iova-size', formatBytes(length), 'must be a multiple of 32 MiB with --leaf mixed');
  const out: LeafMapping[] = [];
  const block = length < 16n * GiB ? length : 16n * GiB;
  for (let off = 0n; off < length; off += block) {
    const n = length - off < block ? length - off : block;
    const small = ((block / 16n + 2n * MiB - 1n) / (2n * MiB)) * 2n * MiB;
    const a = small < n ? small : n;
    out.push({ iova: iova + off, length: a, leaf: 4096n });
    if (n > a) out.push({ iova: iova + off + a, length: n - a, leaf: 2n * MiB });
  }
  return out;
}

/**
 * The device's rate in 4 KiB pages per second from a byte rate: exact division, never floored
 * (1 byte/s is one page every 4096 s, not full speed).
 * @throws IovaBitmapError `EINVAL` for a rate that is not > 0 bytes/s or `'max'`.
 */
export function devicePageRate(bytesPerSec: bigint | 'max'): number | 'max' {
  if (bytesPerSec === 'max') return 'max';
  if (typeof bytesPerSec !== 'bigint' || bytesPerSec <= 0n) throw usageError('--rate', bytesPerSec, "must be > 0 bytes per second, or 'max'");
  return Number(bytesPerSec) / 4096;
}

/**
 * What the command will allocate (../harness/memoryBudget.ts): the sources, the ground truth (4 KiB
 * pages), and at the bitmap page size the round bitmap, the union and the checker's three (its two
 * expectations and a snapshot of the union); the pool's threads and the device's worker.
 */
export function migratePlan(o: MigrateCommandOptions, mappings: readonly LeafMapping[]): MemoryPlan {
  const length = o.iovaSize;
  const bitmap = { what: 'bitmaps', length, pageSize: o.bitmapPageSize };
  return {
    tables: o.sources === 'vf' ? [] : [{ format: o.format as PteFormat, mappings }],
    trackers: o.sources === 'iommu' ? [] : [length],
    bitmaps: [{ what: 'bitmaps', length, pageSize: 4096n }, bitmap, bitmap, bitmap, bitmap, bitmap],
    workers: o.threads + 1,
  };
}

/** The rounds as a terminal table. */
function roundsTable(rounds: readonly MigrateRound[]): string {
  const t = new Table({
    head: ['round', 'device pages written', 'pages dirty', 'dirty', 'report', 'IOVA scanned'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of rounds) {
    t.push([
      r.final ? `${r.index} (final, device stopped)` : String(r.index),
      String(r.devicePagesWritten),
      String(r.pagesDirtied) + (r.unexpected === undefined ? '' : ` (${r.unexpected} unexpected)`),
      formatBytesRounded(r.bytesDirtied),
      formatMs(r.wallMs),
      formatGiBps(r.gibPerSec),
    ]);
  }
  return t.toString();
}

/**
 * Runs the command; writes to `out`.
 * @returns the exit status: 0 verified, 2 verification failed
 * @throws IovaBitmapError on any failure.
 */
export async function runMigrateCommand(o: MigrateCommandOptions, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  checkReportGeometry(o.iovaSize, o.leaf === 'mixed' ? 2n * MiB : o.leaf);
  if (o.bitmapPageSize < 4096n || (o.bitmapPageSize & (o.bitmapPageSize - 1n)) !== 0n || o.iovaSize % o.bitmapPageSize !== 0n) {
    throw usageError('--bitmap-page-size', formatBytes(o.bitmapPageSize), `must be a power of two of at least 4 KiB that divides --iova-size`);
  }
  const pageRate = devicePageRate(o.rate);
  const iova = BENCH_IOVA_BASE;
  const length = o.iovaSize;
  const t0 = performance.now();
  const mappings = layoutMappings(iova, length, o.leaf);
  checkMemory('iovabitmap migrate', migratePlan(o, mappings), 'use a smaller --iova-size, a larger --leaf or --bitmap-page-size');
  let table: IoPageTable | undefined;
  if (o.sources !== 'vf') {
    table = new IoPageTable({ format: o.format as IoPageTable['format'], name: 'iommu' });
    for (const m of mappings) table.map(m.iova, m.length, { leaf: m.leaf });
    table.setDirtyTracking(true);
  }
  const tracker = o.sources === 'iommu' ? undefined : createTracker({ iova, length, pageBytes: 4096n });
  const sources = [table, tracker].filter((s): s is IoPageTable | VfTracker => s !== undefined);
  // The checker widens the ground truth to each source's units (a dirty 2 MiB leaf reports 512 pages).
  const units: UnitMap[] = [];
  if (table) units.push(mappingUnitMap(table.name, mappings));
  if (tracker) units.push(trackerUnitMap(tracker));
  const groundTruth = new IovaBitmap({ iova, length, pageSize: 4096 });
  let device: DeviceSimulator | undefined;
  let pool: Engine | undefined;
  try {
    device = await DeviceSimulator.create();
    await device.attach({ groundTruth: groundTruth.share(), ...(table ? { pageTable: table.share() } : {}), ...(tracker ? { tracker: tracker.share() } : {}) });
    pool = await openEngine(o.threads);
    const leaves =
      o.leaf === 'mixed'
        ? `mixed leaves (${mappings.filter((m) => m.leaf === 4096n).length} x ${formatBytesRounded(mappings[0]!.length)} at 4 KiB, the rest at 2 MiB)`
        : `${formatBytes(o.leaf)} leaves`;
    const mem = table?.memoryStats();
    out.write(
      `migrate: ${formatBytes(length)} of IOVA, ${leaves}, sources ${o.sources}, bitmap pages ${formatBytes(o.bitmapPageSize)}, ` +
        `${o.rounds} pre-copy rounds, ${o.threads} threads; device ${o.pattern} at ${o.rate === 'max' ? 'full speed' : `${formatBytes(o.rate)}/s`}, seed ${o.seed}\n` +
        `setup: ${formatMs(performance.now() - t0)}` +
        (mem ? `, page table ${formatBytesRounded(BigInt(mem.tableBytes))} for ${mem.leaves} leaves` : '') +
        (tracker ? `, tracker at ${formatBytes(tracker.pageSize)} pages` : '') +
        '\n',
    );
    await device.start({ pattern: o.pattern, rate: pageRate, seed: o.seed });
    const result = await migrate({
      bitmapPageSize: o.bitmapPageSize,
      rounds: o.rounds,
      sources,
      device,
      pool,
      roundIntervalMs: o.roundInterval,
      verifyEachRound: o.verifyEachRound,
      units,
    });
    out.write(roundsTable(result.rounds) + '\n');
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
