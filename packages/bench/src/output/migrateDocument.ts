/**
 * The document of `iovabitmap migrate` (schemas/migrate.schema.json) and its two human renderings.
 *
 * Theory of operation
 * -------------------
 * ../cli/migrateCommand.ts builds one {@link MigrateDocument}: the common header (./document.ts),
 * the options of the migration (`setup`, the link's bandwidth and the downtime limit included),
 * one entry per round that completed (from workers' `MigrateRound`), the totals, the downtime
 * (expected before the final round, actual after it), how pre-copy ended (`convergence`), the
 * end-to-end verdict (`null` when the migration did not reach it), with `--compare-threads` one
 * summary per thread count, and, when it stopped early, why (`stopped`). The rounds table of the
 * terminal ({@link renderMigrateText}) and the Markdown ({@link renderMigrateMarkdown}) are made
 * from the document alone. Field names follow QEMU's `query-migrate` where it has one
 * (docs/migrate.md maps them).
 *
 * Version 2 (this one) added the link model, the per-round rates and times, the downtime, the
 * convergence, the stale check and the thread comparison; a change of shape bumps
 * {@link MIGRATE_SCHEMA_VERSION} (./document.ts says why).
 */
import Table from 'cli-table3';
import type { MigrateResult, MigrateRound, VerifyResult } from '@iovabitmap/workers';
import { formatByteRate, formatBytes, formatBytesRounded, formatMs, plural, significant } from '../units.js';
import { markdownHeader, type DocumentHeader } from './document.js';
import type { SourceKind } from './schema.js';

/** Version of the migrate document (schemas/migrate.schema.json). */
export const MIGRATE_SCHEMA_VERSION = 3;

/** A downtime and its parts, ms. */
export interface DowntimeDoc {
  readonly harvestMs: number;
  readonly transferMs: number;
  readonly totalMs: number;
}

/** What the migrate document keeps of workers' {@link VerifyResult}. */
type VerificationFields = Pick<
  VerifyResult,
  'ok' | 'groundTruthBits' | 'reportedBits' | 'missing' | 'unexpected' | 'stale' | 'epochsChecked' | 'missingSample' | 'unexpectedSample' | 'staleSample'
>;

/**
 * One round of the document: workers' MigrateRound, with `unexpected` always present (`null`
 * without `--verify-each-round`) so that the JSON has a fixed shape; the dirty rates under QEMU's
 * name (`dirtyPagesRate`: bitmap pages/s).
 */
export interface MigrateDocumentRound extends Omit<MigrateRound, 'unexpected' | 'dirtyPagesPerSec' | 'dirtyBytesPerSec'> {
  /** Dirty rate, bitmap pages per second of the round's dirtiedOverMs (QEMU's dirty-pages-rate); null for round 0. */
  readonly dirtyPagesRate: number | null;
  /** Dirty rate, bytes per second; null for round 0. */
  readonly dirtyBytesRate: number | null;
  /** With `--verify-each-round`: pages outside the widened ground truth; else `null`. */
  readonly unexpected: number | null;
}

/** One run of `--compare-threads`. */
export interface ThreadRun {
  readonly threads: number;
  readonly converged: boolean;
  readonly reason: string;
  readonly precopyRounds: number;
  readonly expectedDowntime: DowntimeDoc | null;
  readonly downtime: DowntimeDoc;
  /** downtime.harvestMs / downtime.totalMs. */
  readonly harvestShare: number;
  readonly verified: boolean;
}

/** The `migrate` document. */
export interface MigrateDocument extends DocumentHeader<'migrate', typeof MIGRATE_SCHEMA_VERSION> {
  /** The migration's options. */
  readonly setup: {
    readonly iovaBytes: bigint;
    /** A leaf size in bytes (decimal string in JSON), or `"mixed"`. */
    readonly leaf: bigint | 'mixed';
    /** The layout in words, e.g. `mixed leaves (64 x 1 GiB at 4 KiB, the rest at 2 MiB)`. */
    readonly leaves: string;
    /** PTE format; `null` for the VF tracker alone. */
    readonly format: string | null;
    readonly sources: SourceKind;
    /** The sources in words, as the header prints them. */
    readonly sourceNames: string;
    readonly bitmapPageBytes: bigint;
    /** Pre-copy rounds at most (`null` with `rounds`). */
    readonly maxRounds: number | null;
    /** A fixed number of pre-copy rounds, or `null`. */
    readonly rounds: number | null;
    readonly threads: number;
    readonly pattern: string;
    /** Device rate, bytes per second, or `"max"`. */
    readonly rateBytesPerSec: bigint | 'max';
    /** Link bandwidth, bytes per second, or `"max"` (no link). */
    readonly bandwidthBytesPerSec: bigint | 'max';
    /** QEMU's downtime-limit, ms. */
    readonly downtimeLimitMs: number;
    readonly stream: boolean;
    /** Round 0 sent the whole range (QEMU's bulk stage). */
    readonly bulkStage: boolean;
    readonly roundIntervalMs: number;
    readonly seed: number;
    readonly verifyEachRound: boolean;
    /** Time to build the sources and start the device and the pool, ms (QEMU's setup-time). */
    readonly setupMs: number;
    /** Page table size and leaves; `null` without a page table. */
    readonly pageTable: { readonly bytes: number; readonly leaves: number } | null;
    /** Tracker page size, bytes; `null` without a tracker. */
    readonly trackerPageBytes: bigint | null;
  };
  /** The rounds that completed. */
  readonly rounds: readonly MigrateDocumentRound[];
  /** Sums over the rounds; `null` when the migration stopped early. */
  readonly totals: {
    /** Bytes sent (QEMU's ram.transferred). */
    readonly transferred: bigint;
    /** Harvests (QEMU's dirty-sync-count). */
    readonly dirtySyncCount: number;
    /** Modelled time of all rounds, ms. */
    readonly modelledMs: number;
    /** Harvests, ms, measured. */
    readonly harvestMs: number;
    /** Largest per-round work besides the report, ms, and as a fraction of that round's harvest. */
    readonly maxBookkeepingMs: number;
    readonly maxBookkeepingShare: number;
    /** The check's wall time, ms. */
    readonly verifyMs: number;
  } | null;
  /** QEMU's expected-downtime (before the final round) and downtime (the final round's); `null` when stopped early. */
  readonly downtime: { readonly limitMs: number; readonly expected: DowntimeDoc | null; readonly actual: DowntimeDoc; readonly harvestShare: number } | null;
  /** How pre-copy ended; `null` when stopped early. */
  readonly convergence: { readonly converged: boolean; readonly reason: string; readonly precopyRounds: number } | null;
  /**
   * The end-to-end check (the fields of workers' VerifyResult that the document keeps; the
   * samples' IOVAs are decimal strings in JSON); `null` when the migration stopped before it.
   */
  readonly verification: VerificationFields | null;
  /** With `--compare-threads`: one summary per thread count, in order; else `null`. */
  readonly compareThreads: readonly ThreadRun[] | null;
  /** Why the migration stopped early; `null` when it ran to the end. */
  readonly stopped: { readonly reason: string; readonly code: string; readonly failedRound: number } | null;
  /** Wall time from the start of setup, ms. */
  readonly totalMs: number;
}

/** Workers' rounds as document rounds. */
export function migrateRounds(rounds: readonly MigrateRound[]): MigrateDocumentRound[] {
  return rounds.map((r) => ({
    index: r.index,
    final: r.final,
    pagesDirtied: r.pagesDirtied,
    pages4KiBDirtied: r.pages4KiBDirtied,
    bytesDirtied: r.bytesDirtied,
    bytesSent: r.bytesSent,
    harvestMs: r.harvestMs,
    transferMs: r.transferMs,
    roundMs: r.roundMs,
    dirtiedOverMs: r.dirtiedOverMs,
    dirtyPagesRate: r.dirtyPagesPerSec,
    dirtyBytesRate: r.dirtyBytesPerSec,
    expectedDowntime: r.expectedDowntime,
    firstChunkMs: r.firstChunkMs,
    bookkeepingMs: r.bookkeepingMs,
    streamWorkMs: r.streamWorkMs,
    gibPerSec: r.gibPerSec,
    devicePagesWritten: r.devicePagesWritten,
    unexpected: r.unexpected ?? null,
    sources: r.sources,
  }));
}

/** Workers' verification as the document's. */
export function migrateVerification(v: VerifyResult): NonNullable<MigrateDocument['verification']> {
  return {
    ok: v.ok,
    groundTruthBits: v.groundTruthBits,
    reportedBits: v.reportedBits,
    missing: v.missing,
    unexpected: v.unexpected,
    stale: v.stale,
    epochsChecked: v.epochsChecked,
    missingSample: v.missingSample,
    unexpectedSample: v.unexpectedSample,
    staleSample: v.staleSample,
  };
}

/** The result's totals, downtime and convergence as the document's. */
export function migrateOutcome(r: MigrateResult): Pick<MigrateDocument, 'totals' | 'downtime' | 'convergence'> {
  let maxBookkeepingMs = 0;
  let maxBookkeepingShare = 0;
  for (const x of r.rounds) {
    if (x.bookkeepingMs > maxBookkeepingMs) maxBookkeepingMs = x.bookkeepingMs;
    if (x.harvestMs > 0) maxBookkeepingShare = Math.max(maxBookkeepingShare, x.bookkeepingMs / x.harvestMs);
  }
  const actual = r.downtime.actual;
  return {
    totals: {
      transferred: r.bytesTransferred,
      dirtySyncCount: r.rounds.length,
      modelledMs: r.rounds.reduce((s, x) => s + x.roundMs, 0),
      harvestMs: r.rounds.reduce((s, x) => s + x.harvestMs, 0),
      maxBookkeepingMs,
      maxBookkeepingShare,
      verifyMs: r.verifyMs,
    },
    downtime: { limitMs: r.downtime.limitMs, expected: r.downtime.expected, actual, harvestShare: actual.totalMs > 0 ? actual.harvestMs / actual.totalMs : 0 },
    convergence: { ...r.convergence },
  };
}

/** A run of `--compare-threads` from its result. */
export function threadRun(threads: number, r: MigrateResult): ThreadRun {
  const a = r.downtime.actual;
  return {
    threads,
    converged: r.convergence.converged,
    reason: r.convergence.reason,
    precopyRounds: r.convergence.precopyRounds,
    expectedDowntime: r.downtime.expected,
    downtime: a,
    harvestShare: a.totalMs > 0 ? a.harvestMs / a.totalMs : 0,
    verified: r.verification.ok,
  };
}

/** The first two lines: what migrates over which link, and the setup. */
function headText(d: Pick<MigrateDocument, 'setup'>): string[] {
  const s = d.setup;
  const link = s.bandwidthBytesPerSec === 'max' ? 'no link model (transfers take no time)' : `link ${formatByteRate(s.bandwidthBytesPerSec)} (${significant((Number(s.bandwidthBytesPerSec) * 8) / 1e9)} Gbit/s)`;
  const rounds = s.rounds !== null ? plural(s.rounds, 'pre-copy round') : `at most ${plural(s.maxRounds ?? 0, 'pre-copy round')}`;
  return [
    `migrate: ${formatBytes(s.iovaBytes)} of IOVA, ${s.leaves}, sources ${s.sourceNames}, bitmap pages ${formatBytes(s.bitmapPageBytes)}, ${plural(s.threads, 'thread')}; ` +
      `device ${s.pattern} at ${s.rateBytesPerSec === 'max' ? 'full speed' : formatByteRate(s.rateBytesPerSec)}, seed ${s.seed}`,
    `pre-copy: ${rounds}, downtime limit ${formatMs(s.downtimeLimitMs)}, ${link}, ${s.stream ? 'streamed (transfer overlaps the harvest)' : 'harvest then send'}${s.bulkStage ? ', round 0 sends the whole range (bulk stage)' : ''}`,
    `setup: ${formatMs(s.setupMs)}` +
      (s.pageTable ? `, page table ${formatBytesRounded(BigInt(s.pageTable.bytes))} for ${plural(s.pageTable.leaves, 'leaf', 'leaves')}` : '') +
      (s.trackerPageBytes !== null ? `, tracker at ${formatBytes(s.trackerPageBytes)} pages` : ''),
  ];
}

/** The table's columns: every unit named, distinct and cumulative counts said. */
function roundHead(d: Pick<MigrateDocument, 'setup'>): string[] {
  const b = formatBytes(d.setup.bitmapPageBytes);
  return [
    'round',
    'device writes (4 KiB pages, cumulative)',
    `dirty (distinct ${b} bitmap pages)`,
    'sent (bytes: the dirty pages, or the whole range in a bulk round 0)',
    'dirty rate (MB/s)',
    'harvest (ms, measured)',
    'transfer (ms, modelled)',
    'round (ms, modelled)',
    'expected downtime (ms)',
  ];
}

function ms(x: number): string {
  return x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
}

function roundCells(r: MigrateDocumentRound): string[] {
  return [
    r.final ? `${r.index} (final, device stopped)` : String(r.index),
    String(r.devicePagesWritten),
    String(r.pagesDirtied) + (r.unexpected === null ? '' : ` (${r.unexpected} unexpected)`),
    formatBytesRounded(r.bytesSent),
    r.dirtyBytesRate === null ? '–' : significant(r.dirtyBytesRate / 1e6),
    ms(r.harvestMs),
    ms(r.transferMs),
    ms(r.roundMs),
    r.expectedDowntime === null ? '–' : ms(r.expectedDowntime.totalMs),
  ];
}

function parts(p: DowntimeDoc): string {
  return `${formatMs(p.totalMs)} (harvest ${formatMs(p.harvestMs)} + transfer ${formatMs(p.transferMs)})`;
}

const REASONS: Record<string, string> = {
  'downtime-limit': 'the expected downtime fits the limit',
  'not-converging': 'the dirty set stopped shrinking: the guest dirties faster than the link sends',
  'max-rounds': 'the maximum number of pre-copy rounds was reached',
  'fixed-rounds': 'the fixed number of pre-copy rounds was run',
};

/** The verdicts (or why there are none). */
function tailText(d: MigrateDocument): string[] {
  const v = d.verification;
  const out: string[] = [];
  if (d.stopped !== null) out.push(`stopped: ${d.stopped.reason} in round ${d.stopped.failedRound} (${d.stopped.code}); ${plural(d.rounds.length, 'round')} completed, no verification`);
  const c = d.convergence;
  if (c !== null) out.push(`convergence: ${c.converged ? 'converged' : 'NOT converged'} after ${plural(c.precopyRounds, 'pre-copy round')}: ${REASONS[c.reason] ?? c.reason}`);
  const dt = d.downtime;
  if (dt !== null) {
    out.push(
      `downtime: expected ${dt.expected === null ? '– (no pre-copy round)' : parts(dt.expected)}; actual ${parts(dt.actual)}; ` +
        `limit ${formatMs(dt.limitMs)}; harvest share ${(dt.harvestShare * 100).toFixed(0)}%`,
    );
  }
  const t = d.totals;
  if (t !== null) {
    out.push(
      `transferred: ${formatBytesRounded(t.transferred)} in ${plural(t.dirtySyncCount, 'round')}, ${formatMs(t.modelledMs)} modelled; ` +
        `per-round work besides the report at most ${formatMs(t.maxBookkeepingMs)} (${(t.maxBookkeepingShare * 100).toFixed(1)}% of its report); ` +
        `verification ${formatMs(t.verifyMs)} (reports ${formatMs(t.harvestMs)} in all)`,
    );
  }
  for (const r of d.compareThreads ?? []) {
    out.push(
      `  ${plural(r.threads, 'thread')}: downtime ${parts(r.downtime)}, harvest share ${(r.harvestShare * 100).toFixed(0)}%; ` +
        `${r.converged ? 'converged' : 'not converged'} after ${plural(r.precopyRounds, 'pre-copy round')} (${r.reason}); ${r.verified ? 'verified' : 'verification FAILED'}`,
    );
  }
  if (v !== null) {
    out.push(
      `verification: ${v.ok ? 'OK' : 'FAILED'}: ${v.groundTruthBits} pages written, ${v.reportedBits} reported, ${v.missing} missing, ${v.unexpected} unexpected, ` +
        `${v.stale} stale (${v.epochsChecked ? 'each page reported at or after its last write' : 'epochs not checked'}); total ${formatMs(d.totalMs)}`,
    );
    if (v.missing > 0) out.push(`  missing at: ${v.missingSample.map((x) => '0x' + x.toString(16)).join(' ')}`);
    if (v.unexpected > 0) out.push(`  unexpected at: ${v.unexpectedSample.map((x) => '0x' + x.toString(16)).join(' ')}`);
    if (v.stale > 0) out.push(`  stale at: ${v.staleSample.map((x) => '0x' + x.toString(16)).join(' ')}`);
  }
  return out;
}

/** The first lines of the terminal text (what migrates, the setup), printed before the rounds run. */
export function renderMigrateHead(d: Pick<MigrateDocument, 'setup'>): string {
  return headText(d).join('\n') + '\n';
}

/** The document as terminal text: the setup (unless `head` is false), the rounds table, the verdicts. */
export function renderMigrateText(d: MigrateDocument, head = true): string {
  const cols = roundHead(d);
  const t = new Table({
    head: cols,
    colAligns: ['left', ...cols.slice(1).map(() => 'right' as const)],
    colWidths: cols.map((c, i) => (i === 0 ? null : Math.max(9, Math.ceil(c.length / 2) + 2))),
    wordWrap: true,
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of d.rounds) t.push(roundCells(r));
  return [...(head ? headText(d) : []), ...(d.rounds.length > 0 ? [t.toString()] : []), ...tailText(d)].join('\n') + '\n';
}

/** The document as Markdown. */
export function renderMigrateMarkdown(d: MigrateDocument): string {
  const cols = roundHead(d);
  const lines = [...markdownHeader('iovabitmap migrate', d), '', ...headText(d).map((l) => `${l}.`), ''];
  lines.push(`| ${cols.join(' | ')} |`, `|:---|${cols.slice(1).map(() => '---:').join('|')}|`);
  for (const r of d.rounds) lines.push(`| ${roundCells(r).join(' | ')} |`);
  lines.push('', ...tailText(d));
  return lines.join('\n') + '\n';
}
