/**
 * The document of `iovabitmap report` (schemas/report.schema.json) and its two human renderings.
 *
 * Theory of operation
 * -------------------
 * ../cli/reportCommand.ts builds one {@link ReportDocument}: the common header (./document.ts),
 * the workload (what was mapped and placed, per source), the implementation, and the result of the
 * report (`null` when it was interrupted before it ended). The terminal text
 * ({@link renderReportText}) and the Markdown ({@link renderReportMarkdown}) are made from the
 * document alone, so the three outputs cannot disagree.
 *
 * Rates, and what they are honest about:
 * - the walk's throughput (GiB of IOVA per second) is the report's wall time of the walk;
 * - with one source, ns per entry over that source's entries (ns/PTE, ns per tracker page);
 * - with both sources there is no single "ns/PTE": the walk time covers IOMMU PTEs and tracker
 *   pages together, and a figure over their sum would describe neither. Each source gets its own
 *   rate instead, from the pool's per-source `busyMs`: the time the workers spent inside that
 *   source's chunks, summed over the workers (so it is worker time, not wall time: with two
 *   workers the wall time is about half the sum). The sequential reporter does not time sources
 *   apart, so it shows none (`null`).
 * - when the density asked for placed no dirty unit (0.5% of 64 leaves), there is nothing to find:
 *   no rate is given (`null`) and a note says why.
 */
import { formatRate, formatBytes, formatGiBps, formatMs, plural, significant } from '../units.js';
import { markdownHeader, type DocumentHeader } from './document.js';
import type { DirtyPattern, SourceKind } from './schema.js';

/** Version of the report document (schemas/report.schema.json). */
export const REPORT_SCHEMA_VERSION = 1;

/** One source of the workload and what the report did with it. */
export interface ReportSourceResult {
  /** Source name (`iommu`, `vf`). */
  readonly name: string;
  /** `iommu`: the unit is a leaf PTE; `vf`: a tracker page. */
  readonly kind: 'iommu' | 'vf';
  /** Leaf entries of the source over the space (count). */
  readonly entries: number;
  /** Entries examined by the report: PTEs read at every level, or tracker words read (count). */
  readonly entriesVisited: number;
  /** Dirty units found (count). */
  readonly dirtyUnits: number;
  /** Bitmap bits covered by its records (count). */
  readonly bitsMarked: number;
  /** Worker time inside this source's chunks, summed over workers, ms; `null` for the sequential reporter. */
  readonly busyMs: number | null;
  /** busyMs × 10^6 ÷ entries: ns of worker time per entry; `null` without busyMs or without a dirty unit placed. */
  readonly nsPerEntry: number | null;
}

/** The result of the report. */
export interface ReportResult {
  /** Walk time (the reporter's `elapsedMs`), ms. */
  readonly walkMs: number;
  /** Wall time of the whole call, ms. */
  readonly callMs: number;
  /** IOVA reported per second over the walk, GiB/s; `null` when no dirty unit was placed. */
  readonly gibPerSec: number | null;
  /** Walk time per entry, ns, with one source only; `null` with both, or when no dirty unit was placed. */
  readonly nsPerEntry: number | null;
  /** Bits that went 0 → 1 (count); equals the workload's `bitsExpected`. */
  readonly bitsSet: number;
  /** Chunks walked (count). */
  readonly chunks: number;
  /** Per source, in report order. */
  readonly sources: readonly ReportSourceResult[];
  /** Per worker (engine only; empty for the sequential reporter). */
  readonly workers: readonly { readonly slot: number; readonly threadId: number; readonly chunks: number; readonly busyMs: number }[];
}

/** The `report` document. */
export interface ReportDocument extends DocumentHeader<'report', typeof REPORT_SCHEMA_VERSION> {
  /** What was built. */
  readonly workload: {
    readonly iovaBytes: bigint;
    readonly leafBytes: bigint;
    readonly density: number;
    readonly pattern: DirtyPattern;
    readonly sources: SourceKind;
    /** PTE format; `null` for the VF tracker alone. */
    readonly format: string | null;
    readonly seed: number;
    /** Per source: name, kind, entries. */
    readonly entries: readonly { readonly name: string; readonly kind: 'iommu' | 'vf'; readonly entries: number }[];
    readonly dirtyUnits: number;
    readonly bitsExpected: number;
    readonly setupMs: number;
  };
  /** `engine` or `sequential`. */
  readonly impl: 'engine' | 'sequential';
  /** Engine worker threads; 1 for the sequential reporter. */
  readonly threads: number;
  /** `null` when the report was interrupted. */
  readonly result: ReportResult | null;
  /** Things worth knowing (no dirty unit placed, interrupted...). */
  readonly notes: readonly string[];
}

const UNIT: Readonly<Record<'iommu' | 'vf', [string, string, string]>> = {
  iommu: ['IOMMU PTE', 'IOMMU PTEs', 'PTE'],
  vf: ['tracker page', 'tracker pages', 'tracker page'],
};

/** `16384 IOMMU PTEs + 16384 tracker pages` */
function entriesText(entries: ReportDocument['workload']['entries']): string {
  return entries.map((e) => plural(e.entries, UNIT[e.kind][0], UNIT[e.kind][1])).join(' + ');
}

/** The one-line description of the workload. */
function workloadText(d: ReportDocument): string {
  const w = d.workload;
  const src = `${w.sources}${w.format === null ? '' : ` (${w.format})`}`;
  return (
    `${formatBytes(w.iovaBytes)} of IOVA at ${formatBytes(w.leafBytes)} leaves, ${formatRate(w.density)} ${w.pattern}, sources ${src}, seed ${w.seed}: ` +
    `${entriesText(w.entries)}, ${plural(w.dirtyUnits, 'dirty unit')}, ${plural(w.bitsExpected, 'bit')} expected; built in ${formatMs(w.setupMs)}`
  );
}

const impl = (d: ReportDocument): string => (d.impl === 'sequential' ? 'sequential' : `engine ×${d.threads}`);

/** The source line: entries, finds, and its own rate. */
function sourceText(s: ReportSourceResult): string {
  const rate =
    s.nsPerEntry !== null
      ? `; busy ${formatMs(s.busyMs!)}: ${significant(s.nsPerEntry)} ns per ${UNIT[s.kind][2]} of worker time`
      : s.busyMs !== null
        ? `; busy ${formatMs(s.busyMs)}`
        : '';
  return `${s.name}: ${plural(s.entries, UNIT[s.kind][0], UNIT[s.kind][1])}, ${plural(s.entriesVisited, 'entry', 'entries')} visited, ${plural(s.dirtyUnits, 'dirty unit')}, ${plural(s.bitsMarked, 'bit')} marked${rate}`;
}

/** The report's headline: implementation, times, rates, bits. */
function resultText(d: ReportDocument, r: ReportResult): string {
  const rates = [r.gibPerSec === null ? undefined : formatGiBps(r.gibPerSec), r.nsPerEntry === null ? undefined : `${significant(r.nsPerEntry)} ns per ${UNIT[d.workload.entries[0]!.kind][2]}`]
    .filter((x) => x !== undefined)
    .join(', ');
  return `${impl(d)}, ${plural(r.chunks, 'chunk')}: walk ${formatMs(r.walkMs)}, call ${formatMs(r.callMs)}${rates === '' ? '' : `; ${rates}`}; ${plural(r.bitsSet, 'bit')} set (as expected)`;
}

/** The document as terminal text. */
export function renderReportText(d: ReportDocument): string {
  const lines = [`workload: ${workloadText(d)}`];
  const r = d.result;
  if (r !== null) {
    lines.push(`report: ${resultText(d, r)}`);
    for (const s of r.sources) lines.push(`  source ${sourceText(s)}`);
    for (const w of r.workers) lines.push(`  worker ${w.slot} (thread ${w.threadId}): ${plural(w.chunks, 'chunk')}, busy ${formatMs(w.busyMs)}`);
  }
  for (const n of d.notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}

/** The document as Markdown. */
export function renderReportMarkdown(d: ReportDocument): string {
  const lines = [...markdownHeader('iovabitmap report', d), '', `Workload: ${workloadText(d)}.`, ''];
  const r = d.result;
  if (r === null) lines.push('No result: the report was interrupted.');
  else {
    lines.push(`Report: ${resultText(d, r)}.`, '', '| source | entries | visited | dirty units | bits marked | busy (ms) | ns per entry (worker time) |', '|:---|---:|---:|---:|---:|---:|---:|');
    for (const s of r.sources) {
      lines.push(`| ${s.name} (${s.kind}) | ${s.entries} | ${s.entriesVisited} | ${s.dirtyUnits} | ${s.bitsMarked} | ${s.busyMs === null ? '–' : significant(s.busyMs)} | ${s.nsPerEntry === null ? '–' : significant(s.nsPerEntry)} |`);
    }
  }
  if (d.notes.length > 0) lines.push('', ...d.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}
