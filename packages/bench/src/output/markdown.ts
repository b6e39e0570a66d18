/**
 * The Markdown report of a run: the machine line, one table per scenario group, the notes.
 * Columns: ./columns.ts. Pipe characters in cells are escaped. The `scale` group gets a second,
 * compact table ({@link scaleTable}): per size and density, the cost of each implementation
 * (./schema.ts costMs) and the ratios the group is for.
 */
import { byGroup, RESULT_COLUMNS } from './columns.js';
import { markdownHeader } from './document.js';
import { costMs, type BenchFile, type ResultRecord } from './schema.js';
import { formatMs, formatRatio, formatRate } from '../units.js';
import { spaceLabel } from '../harness/scenarios.js';

const escape = (s: string): string => s.replace(/\|/g, '\\|');

/** Renders the run as a Markdown document. */
export function renderMarkdown(file: BenchFile): string {
  const lines: string[] = [
    ...markdownHeader(`iovabitmap benchmark (${file.run.full ? 'full' : 'quick'} matrix)`, file),
    '',
    `Run: ${file.results.length} results in ${formatMs(file.run.wallMs)}; engine threads ${file.run.threads.join(', ')}; ` +
      `${file.run.timeMs} ms and at least ${file.run.minIterations} samples per cell; seed ${file.run.seed}` +
      `${file.run.filter ? `; filter \`${escape(file.run.filter)}\`` : ''}. ` +
      'Medians of the walk time (`median`) and of the whole call (`call`); ratios compare medians of the same scenario in this run.',
  ];
  for (const [group, records] of byGroup(file.results)) {
    lines.push('', `## ${group}`, '');
    lines.push(`| ${RESULT_COLUMNS.map((c) => c.header).join(' | ')} |`);
    lines.push(`|${RESULT_COLUMNS.map((c) => (c.numeric ? '---:' : ':---')).join('|')}|`);
    for (const r of records) lines.push(`| ${RESULT_COLUMNS.map((c) => escape(c.cell(r))).join(' | ')} |`);
    if (group === 'scale') lines.push('', ...scaleTable(records));
  }
  if (file.run.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of file.run.notes) lines.push(`- ${escape(n)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The `scale` group's summary: one row per (size, density) with the call of `engine` and
 * `engine-flat`, the two yardsticks, and `engine` ÷ pass, `engine` ÷ `engine-flat`, `engine-flat` ÷
 * `engine` (– where a member was not measured).
 */
export function scaleTable(records: readonly ResultRecord[]): string[] {
  const rows = new Map<string, Map<string, number>>();
  for (const r of records) {
    const key = `${spaceLabel(r)} | ${formatRate(r.density)}`;
    if (!rows.has(key)) rows.set(key, new Map());
    rows.get(key)!.set(r.impl, costMs(r));
  }
  const ms = (x: number | undefined): string => (x === undefined ? '–' : formatMs(x));
  const ratio = (a: number | undefined, b: number | undefined): string => formatRatio(a === undefined || b === undefined ? null : a / b);
  const out = [
    '| size | dirty | engine call | engine-flat call | bitmap-pass | dirty-fill | engine ÷ pass | engine ÷ flat | flat ÷ engine |',
    '|:---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [key, m] of rows) {
    const [e, f, p, d] = [m.get('engine'), m.get('engine-flat'), m.get('bitmap-pass'), m.get('dirty-fill')];
    out.push(`| ${key} | ${ms(e)} | ${ms(f)} | ${ms(p)} | ${ms(d)} | ${ratio(e, p)} | ${ratio(e, f)} | ${ratio(f, e)} |`);
  }
  return out;
}
