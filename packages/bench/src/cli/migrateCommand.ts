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
 * check of the union of the rounds against the ground truth. The result is the migrate document
 * (../output/migrateDocument.ts): printed as a table of the rounds with the verdict last, and
 * written by `--json [file]` / `--markdown [file]` (./documentOutputs.ts). Exit status 0 when
 * nothing was lost or invented, 2 when the check failed, 1 for any error.
 *
 * Ctrl-C (./interrupts.ts) aborts `migrate()`, which stops the round's report within a chunk and
 * rejects with a MigrateError holding the rounds done: the document is written with them,
 * `complete: false` and `stopped` saying so, then the pool and the device are closed. A
 * migration that fails part-way for another reason writes the same, then fails (exit 1).
 *
 * The sources and the engine come from ../harness/impls.ts, the device simulator and the loop from
 * @iovabitmap/workers (`DeviceSimulator`, `migrate`).
 */
import { IoPageTable, IovaBitmap, type PteFormat, type VfTracker } from '@iovabitmap/core';
import { GiB, MiB } from '@iovabitmap/core/internal';
import { DeviceSimulator, MigrateError, mappingUnitMap, migrate, trackerUnitMap, type DevicePatternName, type LeafMapping, type UnitMap } from '@iovabitmap/workers';
import { checkReportGeometry } from './reportCommand.js';
import { createTracker, openEngine, type Engine } from '../harness/impls.js';
import { BENCH_IOVA_BASE } from '../harness/scenarios.js';
import type { SourceKind } from '../output/schema.js';
import { formatBytes, formatBytesRounded } from '../units.js';
import { usageError } from './cliOptions.js';
import { checkDocumentOptions, humanStream, processIo, writeDocuments, type CommandIo, type DocumentOptions } from './documentOutputs.js';
import { documentHeader, toJsonText } from '../output/document.js';
import { MIGRATE_SCHEMA_VERSION, migrateRounds, migrateVerification, renderMigrateHead, renderMigrateMarkdown, renderMigrateText, type MigrateDocument } from '../output/migrateDocument.js';
import { checkMemory, type MemoryPlan } from '../harness/memoryBudget.js';

/** Parsed options of `iovabitmap migrate`. */
export interface MigrateCommandOptions extends DocumentOptions {
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
  /** The options as typed, by long name (./cliOptions.ts typedValues), for messages. */
  readonly typed?: Readonly<Record<string, string>>;
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

/** The layout of the mappings in words. */
function leavesText(leaf: bigint | 'mixed', mappings: readonly LeafMapping[]): string {
  return leaf === 'mixed'
    ? `mixed leaves (${mappings.filter((m) => m.leaf === 4096n).length} x ${formatBytesRounded(mappings[0]!.length)} at 4 KiB, the rest at 2 MiB)`
    : `${formatBytes(leaf)} leaves`;
}

/** The sources of the migration, mapped clean. */
function buildSources(o: MigrateCommandOptions, iova: bigint, mappings: readonly LeafMapping[]): { table?: IoPageTable; tracker?: VfTracker; units: UnitMap[] } {
  let table: IoPageTable | undefined;
  if (o.sources !== 'vf') {
    table = new IoPageTable({ format: o.format as IoPageTable['format'], name: 'iommu' });
    for (const m of mappings) table.map(m.iova, m.length, { leaf: m.leaf });
    table.setDirtyTracking(true);
  }
  const tracker = o.sources === 'iommu' ? undefined : createTracker({ iova, length: o.iovaSize, pageBytes: 4096n });
  // The checker widens the ground truth to each source's units (a dirty 2 MiB leaf reports 512 pages).
  const units: UnitMap[] = [];
  if (table) units.push(mappingUnitMap(table.name, mappings));
  if (tracker) units.push(trackerUnitMap(tracker));
  return { ...(table ? { table } : {}), ...(tracker ? { tracker } : {}), units };
}

/**
 * Checks the options that depend on each other, quoting values as typed.
 * @throws IovaBitmapError `EINVAL` naming the option.
 */
function checkMigrateOptions(o: MigrateCommandOptions): void {
  checkReportGeometry(o.iovaSize, o.leaf === 'mixed' ? 2n * MiB : o.leaf, o.sources === 'vf' || o.leaf === 'mixed' ? undefined : o.format, o.typed);
  if (o.bitmapPageSize < 4096n || (o.bitmapPageSize & (o.bitmapPageSize - 1n)) !== 0n || o.iovaSize % o.bitmapPageSize !== 0n) {
    throw usageError('--bitmap-page-size', o.typed?.['--bitmap-page-size'] ?? formatBytes(o.bitmapPageSize), `must be a power of two of at least 4 KiB that divides --iova-size`);
  }
}

/**
 * Runs the command.
 * @returns the exit status: 0 verified, 2 verification failed, 0 when interrupted (the caller
 *   exits with the signal's status)
 * @throws IovaBitmapError on any failure, after writing the document of what was done when the
 *   migration had begun.
 */
export async function runMigrateCommand(o: MigrateCommandOptions, io: CommandIo = processIo()): Promise<number> {
  checkMigrateOptions(o);
  await checkDocumentOptions(o);
  const pageRate = devicePageRate(o.rate);
  const iova = BENCH_IOVA_BASE;
  const length = o.iovaSize;
  const human = humanStream(o, io);
  const started = new Date();
  const t0 = performance.now();
  const mappings = layoutMappings(iova, length, o.leaf);
  checkMemory('iovabitmap migrate', migratePlan(o, mappings), 'use a smaller --iova-size, a larger --leaf or --bitmap-page-size');
  const { table, tracker, units } = buildSources(o, iova, mappings);
  const sources = [table, tracker].filter((s): s is IoPageTable | VfTracker => s !== undefined);
  const groundTruth = new IovaBitmap({ iova, length, pageSize: 4096 });
  let device: DeviceSimulator | undefined;
  let pool: Engine | undefined;
  try {
    device = await DeviceSimulator.create();
    await device.attach({ groundTruth: groundTruth.share(), ...(table ? { pageTable: table.share() } : {}), ...(tracker ? { tracker: tracker.share() } : {}) });
    pool = await openEngine(o.threads);
    const mem = table?.memoryStats();
    const setup: MigrateDocument['setup'] = {
      iovaBytes: length,
      leaf: o.leaf,
      leaves: leavesText(o.leaf, mappings),
      format: o.sources === 'vf' ? null : o.format,
      sources: o.sources,
      bitmapPageBytes: o.bitmapPageSize,
      rounds: o.rounds,
      threads: o.threads,
      pattern: o.pattern,
      rateBytesPerSec: o.rate,
      roundIntervalMs: o.roundInterval,
      seed: o.seed,
      verifyEachRound: o.verifyEachRound,
      setupMs: performance.now() - t0,
      pageTable: mem ? { bytes: mem.tableBytes, leaves: mem.leaves } : null,
      trackerPageBytes: tracker ? BigInt(tracker.pageSize) : null,
    };
    human.write(renderMigrateHead({ setup }));
    await device.start({ pattern: o.pattern, rate: pageRate, seed: o.seed });
    let doc: MigrateDocument;
    try {
      const result = await migrate({
        bitmapPageSize: o.bitmapPageSize,
        rounds: o.rounds,
        sources,
        device,
        pool,
        roundIntervalMs: o.roundInterval,
        verifyEachRound: o.verifyEachRound,
        units,
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      });
      doc = {
        ...documentHeader('migrate', MIGRATE_SCHEMA_VERSION, true, started),
        setup,
        rounds: migrateRounds(result.rounds),
        verification: migrateVerification(result.verification),
        stopped: null,
        totalMs: performance.now() - t0,
      };
    } catch (e) {
      if (!MigrateError.is(e)) throw e;
      const interrupted = io.signal?.aborted === true && e.code === 'ECANCELED';
      doc = {
        ...documentHeader('migrate', MIGRATE_SCHEMA_VERSION, false, started),
        setup,
        rounds: migrateRounds(e.rounds),
        verification: null,
        stopped: { reason: interrupted ? 'interrupted' : 'failed', code: e.code, failedRound: e.failedRound },
        totalMs: performance.now() - t0,
      };
      human.write(renderMigrateText(doc, false));
      await writeDocuments('iovabitmap migrate', o, migrateRenderers(doc), io);
      if (interrupted) return 0;
      throw e;
    }
    human.write(renderMigrateText(doc, false));
    await writeDocuments('iovabitmap migrate', o, migrateRenderers(doc), io);
    return doc.verification!.ok ? 0 : 2;
  } finally {
    await pool?.close();
    await device?.close();
  }
}

function migrateRenderers(doc: MigrateDocument): { json: () => string; markdown: () => string } {
  return { json: () => toJsonText(doc), markdown: () => renderMigrateMarkdown(doc) };
}
