/**
 * The Markdown report of a run: the machine line, one table per scenario group, the notes.
 * Columns: ./columns.ts. Pipe characters in cells are escaped.
 */
import { byGroup, RESULT_COLUMNS } from './columns.js';
import { markdownHeader } from './document.js';
import type { BenchFile } from './schema.js';
import { formatMs } from '../units.js';

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
  }
  if (file.run.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of file.run.notes) lines.push(`- ${escape(n)}`);
  }
  return lines.join('\n') + '\n';
}
