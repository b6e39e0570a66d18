/**
 * The document of `iovabitmap migrate` (schemas/migrate.schema.json) and its two human renderings.
 *
 * Theory of operation
 * -------------------
 * ../cli/migrateCommand.ts builds one {@link MigrateDocument}: the common header (./document.ts),
 * the options of the migration (`setup`), the setup's figures, one entry per round that completed
 * (from workers' `MigrateRound`), the no-loss verdict (`null` when the migration did not reach it)
 * and, when it stopped early, why (`stopped`: an interrupt, or the failure's code, with the round
 * that failed). The rounds table of the terminal ({@link renderMigrateText}) and the Markdown
 * ({@link renderMigrateMarkdown}) are made from the document alone.
 *
 * Extending it (link model, convergence, per-round figures): add the fields here, in
 * {@link migrateRounds} or the command's builder, and in schemas/migrate.schema.json, and bump
 * {@link MIGRATE_SCHEMA_VERSION} (./document.ts says why every change of shape bumps it).
 */
import Table from 'cli-table3';
import type { MigrateRound, VerifyResult } from '@iovabitmap/workers';
import { formatByteRate, formatBytes, formatBytesRounded, formatGiBps, formatMs, plural } from '../units.js';
import { markdownHeader, type DocumentHeader } from './document.js';
import type { SourceKind } from './schema.js';

/** Version of the migrate document (schemas/migrate.schema.json). */
export const MIGRATE_SCHEMA_VERSION = 1;

/**
 * One round of the document: workers' MigrateRound, with `unexpected` always present (`null`
 * without `--verify-each-round`) so that the JSON has a fixed shape.
 */
export interface MigrateDocumentRound extends Omit<MigrateRound, 'unexpected'> {
  /** With `--verify-each-round`: pages outside the widened ground truth; else `null`. */
  readonly unexpected: number | null;
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
    readonly bitmapPageBytes: bigint;
    readonly rounds: number;
    readonly threads: number;
    readonly pattern: string;
    /** Device rate, bytes per second, or `"max"`. */
    readonly rateBytesPerSec: bigint | 'max';
    readonly roundIntervalMs: number;
    readonly seed: number;
    readonly verifyEachRound: boolean;
    /** Time to build the sources and start the device and the pool, ms. */
    readonly setupMs: number;
    /** Page table size and leaves; `null` without a page table. */
    readonly pageTable: { readonly bytes: number; readonly leaves: number } | null;
    /** Tracker page size, bytes; `null` without a tracker. */
    readonly trackerPageBytes: bigint | null;
  };
  /** The rounds that completed. */
  readonly rounds: readonly MigrateDocumentRound[];
  /** The no-loss check; `null` when the migration stopped before it. */
  readonly verification: {
    readonly ok: boolean;
    readonly groundTruthBits: number;
    readonly reportedBits: number;
    readonly missing: number;
    readonly unexpected: number;
    /** Up to 8 IOVAs, bytes (decimal strings in JSON). */
    readonly missingSample: readonly bigint[];
    readonly unexpectedSample: readonly bigint[];
  } | null;
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
    bytesDirtied: r.bytesDirtied,
    wallMs: r.wallMs,
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
    missingSample: v.missingSample,
    unexpectedSample: v.unexpectedSample,
  };
}

/** The first two lines: what migrates, and the setup. */
function headText(d: Pick<MigrateDocument, 'setup'>): string[] {
  const s = d.setup;
  return [
    `migrate: ${formatBytes(s.iovaBytes)} of IOVA, ${s.leaves}, sources ${s.sources}, bitmap pages ${formatBytes(s.bitmapPageBytes)}, ` +
      `${plural(s.rounds, 'pre-copy round')}, ${plural(s.threads, 'thread')}; device ${s.pattern} at ${s.rateBytesPerSec === 'max' ? 'full speed' : formatByteRate(s.rateBytesPerSec)}, seed ${s.seed}`,
    `setup: ${formatMs(s.setupMs)}` +
      (s.pageTable ? `, page table ${formatBytesRounded(BigInt(s.pageTable.bytes))} for ${plural(s.pageTable.leaves, 'leaf', 'leaves')}` : '') +
      (s.trackerPageBytes !== null ? `, tracker at ${formatBytes(s.trackerPageBytes)} pages` : ''),
  ];
}

const ROUND_HEAD = ['round', 'device pages written', 'pages dirty', 'dirty', 'report', 'IOVA scanned'];

function roundCells(r: MigrateDocumentRound): string[] {
  return [
    r.final ? `${r.index} (final, device stopped)` : String(r.index),
    String(r.devicePagesWritten),
    String(r.pagesDirtied) + (r.unexpected === null ? '' : ` (${r.unexpected} unexpected)`),
    formatBytesRounded(r.bytesDirtied),
    formatMs(r.wallMs),
    formatGiBps(r.gibPerSec),
  ];
}

/** The verdict (or why there is none). */
function tailText(d: MigrateDocument): string[] {
  const v = d.verification;
  const out: string[] = [];
  if (d.stopped !== null) out.push(`stopped: ${d.stopped.reason} in round ${d.stopped.failedRound} (${d.stopped.code}); ${plural(d.rounds.length, 'round')} completed, no verification`);
  if (v !== null) {
    out.push(
      `verification: ${v.ok ? 'OK' : 'FAILED'}: ${v.groundTruthBits} pages written, ${v.reportedBits} reported, ${v.missing} missing, ${v.unexpected} unexpected; total ${formatMs(d.totalMs)}`,
    );
    if (v.missing > 0) out.push(`  missing at: ${v.missingSample.map((x) => '0x' + x.toString(16)).join(' ')}`);
    if (v.unexpected > 0) out.push(`  unexpected at: ${v.unexpectedSample.map((x) => '0x' + x.toString(16)).join(' ')}`);
  }
  return out;
}

/** The first lines of the terminal text (what migrates, the setup), printed before the rounds run. */
export function renderMigrateHead(d: Pick<MigrateDocument, 'setup'>): string {
  return headText(d).join('\n') + '\n';
}

/** The document as terminal text: the setup (unless `head` is false), the rounds table, the verdict. */
export function renderMigrateText(d: MigrateDocument, head = true): string {
  const t = new Table({
    head: ROUND_HEAD,
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of d.rounds) t.push(roundCells(r));
  return [...(head ? headText(d) : []), ...(d.rounds.length > 0 ? [t.toString()] : []), ...tailText(d)].join('\n') + '\n';
}

/** The document as Markdown. */
export function renderMigrateMarkdown(d: MigrateDocument): string {
  const lines = [...markdownHeader('iovabitmap migrate', d), '', ...headText(d).map((l) => `${l}.`), ''];
  lines.push(`| ${ROUND_HEAD.join(' | ')} |`, `|:---|${ROUND_HEAD.slice(1).map(() => '---:').join('|')}|`);
  for (const r of d.rounds) lines.push(`| ${roundCells(r).join(' | ')} |`);
  lines.push('', ...tailText(d));
  return lines.join('\n') + '\n';
}
