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
 * pattern at a rate), starts the parallel engine, and runs workers' `migrate()`: pre-copy
 * reports while the device writes, each sent over the modelled link (`--bandwidth`), until the
 * expected downtime fits `--downtime-limit` (or `--max-rounds`, or the dirty set stops shrinking;
 * `--rounds` fixes the number instead), then a quiesce, the final report, and the end-to-end check
 * (union and epochs). The result is the migrate document (../output/migrateDocument.ts): printed
 * as a table of the rounds with the verdicts last, and written by `--json [file]` / `--markdown
 * [file]` (./documentOutputs.ts). `--compare-threads 1,2` runs the same seeded migration once per
 * thread count, each on a fresh world, device and pool, and adds a summary of each (the document's
 * rounds are the last run's). Exit status 0 when it converged and verified, 3 when it verified but
 * did not converge, 2 when the check failed (with --compare-threads the worst run decides), 1 for
 * any error.
 *
 * Ctrl-C (./interrupts.ts) aborts `migrate()`, which stops the round's report within a chunk and
 * rejects with a MigrateError holding the rounds done: the document is written with them,
 * `complete: false` and `stopped` saying so, then the pool and the device are closed. A
 * migration that fails part-way for another reason writes the same, then fails (exit 1).
 *
 * The sources and the engine come from ../harness/impls.ts, the device simulator and the loop from
 * @iovabitmap/workers (`DeviceSimulator`, `migrate`).
 */
import { IoPageTable, IovaBitmap, IovaBitmapError, type PteFormat, type VfTracker } from '@iovabitmap/core';
import { GiB, MiB } from '@iovabitmap/core/internal';
import { DeviceSimulator, MigrateError, mappingUnitMap, migrate, trackerUnitMap, type DevicePatternName, type LeafMapping, type MigrateResult, type UnitMap } from '@iovabitmap/workers';
import { checkReportGeometry } from './reportCommand.js';
import { createTracker, openEngine, type Engine } from '../harness/impls.js';
import { BENCH_IOVA_BASE } from '../harness/scenarios.js';
import type { SourceKind } from '../output/schema.js';
import { formatBytes, formatBytesRounded, plural } from '../units.js';
import { usageError } from './cliOptions.js';
import { checkDocumentOptions, humanStream, processIo, writeDocuments, type CommandIo, type DocumentOptions } from './documentOutputs.js';
import { documentHeader, toJsonText } from '../output/document.js';
import {
  MIGRATE_SCHEMA_VERSION,
  migrateOutcome,
  migrateRounds,
  migrateVerification,
  renderMigrateHead,
  renderMigrateMarkdown,
  renderMigrateText,
  threadRun,
  type MigrateDocument,
  type ThreadRun,
} from '../output/migrateDocument.js';
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
  /** Pre-copy rounds at most. */
  readonly maxRounds: number;
  /** A fixed number of pre-copy rounds, or undefined. */
  readonly rounds?: number;
  /** Link bandwidth, bytes per second, or `'max'` (no link: transfers take no time). */
  readonly bandwidth: bigint | 'max';
  /** Downtime limit, ms. */
  readonly downtimeLimit: number;
  /** Stream the harvest into the transfer. @defaultValue true */
  readonly stream?: boolean;
  /** Round 0 sends the whole range (workers' migrate `bulkStage`). */
  readonly bulkStage?: boolean;
  /** Run the migration once per thread count and compare. */
  readonly compareThreads?: readonly number[];
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
 * pages), at the bitmap page size the round bitmap and the union, a byte per 4 KiB page (the write
 * epochs: a "bitmap" of 512-byte pages has a bit per 512 bytes, a byte per 4 KiB) and a byte per
 * bitmap page (the last-report bytes); the pool's threads and the device's worker.
 */
export function migratePlan(o: MigrateCommandOptions, mappings: readonly LeafMapping[]): MemoryPlan {
  const length = o.iovaSize;
  const bitmap = { what: 'bitmaps', length, pageSize: o.bitmapPageSize };
  return {
    tables: o.sources === 'vf' ? [] : [{ format: o.format as PteFormat, mappings }],
    trackers: o.sources === 'iommu' ? [] : [length],
    bitmaps: [
      { what: 'bitmaps', length, pageSize: 4096n },
      bitmap,
      bitmap,
      { what: 'write epochs', length, pageSize: 512n },
      { what: 'last-report bytes', length, pageSize: o.bitmapPageSize / 8n },
    ],
    workers: Math.max(o.threads, ...(o.compareThreads ?? [])) + 1,
  };
}

/** The layout of the mappings in words. */
function leavesText(leaf: bigint | 'mixed', mappings: readonly LeafMapping[]): string {
  return leaf === 'mixed'
    ? `mixed leaves (${mappings.filter((m) => m.leaf === 4096n).length} x ${formatBytesRounded(mappings[0]!.length)} at 4 KiB, the rest at 2 MiB)`
    : `${formatBytes(leaf)} leaves`;
}

/** The sources of the migration, mapped clean. */
function buildSources(o: MigrateCommandOptions, iova: bigint, mappings: readonly LeafMapping[]): { table?: IoPageTable; tracker?: VfTracker; units: UnitMap[]; names: string } {
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
  const names = [table ? `${table.name} (${o.format} page table)` : '', tracker ? `${tracker.name} (VF tracker, ${formatBytes(BigInt(tracker.pageSize))} pages)` : ''].filter((x) => x !== '').join(' + ');
  return { ...(table ? { table } : {}), ...(tracker ? { tracker } : {}), units, names };
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
  if (o.bandwidth !== 'max' && o.rate === 'max') {
    throw usageError('--rate', o.typed?.['--rate'] ?? 'max', 'must be a finite rate with a --bandwidth: the device writes the modelled part of each round at its rate');
  }
}

/** Exit statuses from best to worst: with --compare-threads the worst run's is the command's. */
const STATUS_BY_RANK = [0, 3, 2] as const;

/** The exit status of one run: 2 verification failed, 3 did not converge, 0 both fine. */
function exitStatusOf(r: MigrateResult): number {
  return !r.verification.ok ? 2 : r.convergence.converged ? 0 : 3;
}

/** One migration from scratch (world, device, pool) with `threads` workers; see the module comment. */
async function runOnce(o: MigrateCommandOptions, threads: number, io: CommandIo, t0: number, human: { write(s: string): unknown }, printHead: boolean): Promise<{ result?: MigrateResult; doc: Omit<MigrateDocument, 'compareThreads'>; error?: unknown }> {
  const started = new Date();
  const iova = BENCH_IOVA_BASE;
  const length = o.iovaSize;
  const mappings = layoutMappings(iova, length, o.leaf);
  const { table, tracker, units, names } = buildSources(o, iova, mappings);
  const sources = [table, tracker].filter((s): s is IoPageTable | VfTracker => s !== undefined);
  const groundTruth = new IovaBitmap({ iova, length, pageSize: 4096 });
  let device: DeviceSimulator | undefined;
  let pool: Engine | undefined;
  try {
    device = await DeviceSimulator.create();
    await device.attach({ groundTruth: groundTruth.share(), ...(table ? { pageTable: table.share() } : {}), ...(tracker ? { tracker: tracker.share() } : {}) });
    pool = await openEngine(threads, 'default');
    const mem = table?.memoryStats();
    const setup: MigrateDocument['setup'] = {
      iovaBytes: length,
      leaf: o.leaf,
      leaves: leavesText(o.leaf, mappings),
      format: o.sources === 'vf' ? null : o.format,
      sources: o.sources,
      sourceNames: names,
      bitmapPageBytes: o.bitmapPageSize,
      maxRounds: o.rounds === undefined ? o.maxRounds : null,
      rounds: o.rounds ?? null,
      threads,
      pattern: o.pattern,
      rateBytesPerSec: o.rate,
      bandwidthBytesPerSec: o.bandwidth,
      downtimeLimitMs: o.downtimeLimit,
      stream: o.stream !== false,
      bulkStage: o.bulkStage === true,
      roundIntervalMs: o.roundInterval,
      seed: o.seed,
      verifyEachRound: o.verifyEachRound,
      setupMs: performance.now() - t0,
      pageTable: mem ? { bytes: mem.tableBytes, leaves: mem.leaves } : null,
      trackerPageBytes: tracker ? BigInt(tracker.pageSize) : null,
    };
    if (printHead) human.write(renderMigrateHead({ setup }));
    await device.start({ pattern: o.pattern, rate: devicePageRate(o.rate), seed: o.seed });
    try {
      const result = await migrate({
        bitmapPageSize: o.bitmapPageSize,
        ...(o.rounds === undefined ? { maxRounds: o.maxRounds } : { rounds: o.rounds }),
        bandwidth: o.bandwidth === 'max' ? Number.POSITIVE_INFINITY : Number(o.bandwidth),
        downtimeLimit: o.downtimeLimit,
        stream: o.stream !== false,
        bulkStage: o.bulkStage === true,
        sources,
        device,
        pool,
        roundIntervalMs: o.roundInterval,
        verifyEachRound: o.verifyEachRound,
        units,
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      });
      return {
        result,
        doc: {
          ...documentHeader('migrate', MIGRATE_SCHEMA_VERSION, true, started),
          setup,
          rounds: migrateRounds(result.rounds),
          ...migrateOutcome(result),
          verification: migrateVerification(result.verification),
          stopped: null,
          totalMs: performance.now() - t0,
        },
      };
    } catch (e) {
      if (!MigrateError.is(e)) throw e;
      const interrupted = io.signal?.aborted === true && e.code === 'ECANCELED';
      return {
        error: e,
        doc: {
          ...documentHeader('migrate', MIGRATE_SCHEMA_VERSION, false, started),
          setup,
          rounds: migrateRounds(e.rounds),
          totals: null,
          downtime: null,
          convergence: null,
          verification: null,
          stopped: { reason: interrupted ? 'interrupted' : 'failed', code: e.code, failedRound: e.failedRound },
          totalMs: performance.now() - t0,
        },
      };
    }
  } finally {
    await pool?.close();
    await device?.close();
  }
}

/**
 * Runs the command.
 * @returns the exit status: 0 converged and verified, 3 verified but not converged, 2 verification
 *   failed, 0 when interrupted (the caller exits with the signal's status)
 * @throws IovaBitmapError on any failure, after writing the document of what was done when the
 *   migration had begun.
 */
export async function runMigrateCommand(o: MigrateCommandOptions, io: CommandIo = processIo()): Promise<number> {
  checkMigrateOptions(o);
  await checkDocumentOptions(o);
  devicePageRate(o.rate);
  const human = humanStream(o, io);
  const t0 = performance.now();
  checkMemory('iovabitmap migrate', migratePlan(o, layoutMappings(BENCH_IOVA_BASE, o.iovaSize, o.leaf)), 'use a smaller --iova-size, a larger --leaf or --bitmap-page-size');
  const threadList = o.compareThreads ?? [o.threads];
  const compared: ThreadRun[] = [];
  let worst = 0; // index into STATUS_BY_RANK
  let last: Omit<MigrateDocument, 'compareThreads'> | undefined;
  for (let i = 0; i < threadList.length; i++) {
    const threads = threadList[i]!;
    const run = await runOnce(o, threads, io, performance.now(), human, i === 0);
    last = run.doc;
    if (run.result === undefined) {
      const doc: MigrateDocument = { ...run.doc, compareThreads: o.compareThreads === undefined ? null : compared };
      human.write(renderMigrateText(doc, false));
      await writeDocuments('iovabitmap migrate', o, migrateRenderers(doc), io);
      if (io.signal?.aborted === true && IovaBitmapError.hasCode(run.error, 'ECANCELED')) return 0;
      throw run.error;
    }
    compared.push(threadRun(threads, run.result));
    worst = Math.max(worst, STATUS_BY_RANK.indexOf(exitStatusOf(run.result) as 0 | 3 | 2));
    if (threadList.length > 1) human.write(`${plural(threads, 'thread')}: done, ${compared.at(-1)!.converged ? 'converged' : 'not converged'}\n`);
  }
  const doc: MigrateDocument = { ...last!, totalMs: performance.now() - t0, compareThreads: o.compareThreads === undefined ? null : compared };
  human.write(renderMigrateText(doc, false));
  await writeDocuments('iovabitmap migrate', o, migrateRenderers(doc), io);
  return STATUS_BY_RANK[worst]!;
}

function migrateRenderers(doc: MigrateDocument): { json: () => string; markdown: () => string } {
  return { json: () => toJsonText(doc), markdown: () => renderMigrateMarkdown(doc) };
}
