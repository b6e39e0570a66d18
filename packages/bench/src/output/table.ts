/**
 * The terminal table of a run (cli-table3): one table per scenario group, then the machine line
 * and the run's notes. Columns: ./columns.ts.
 */
import Table from 'cli-table3';
import { byGroup, RESULT_COLUMNS } from './columns.js';
import { machineLine } from './document.js';
import type { BenchFile } from './schema.js';

/**
 * Renders the whole run as text for a terminal.
 * @param file - the run
 * @param color - colour the headings (only on a TTY) @defaultValue false
 */
export function renderTable(file: BenchFile, color = false): string {
  const out: string[] = [];
  for (const [group, records] of byGroup(file.results)) {
    const table = new Table({
      head: RESULT_COLUMNS.map((c) => c.header),
      colAligns: RESULT_COLUMNS.map((c) => (c.numeric ? 'right' : 'left')),
      style: { head: color ? ['cyan'] : [], border: color ? ['grey'] : [] },
    });
    for (const r of records) table.push(RESULT_COLUMNS.map((c) => c.cell(r)));
    out.push(`${group}\n${table.toString()}`);
  }
  if (file.results.length === 0) out.push('no results');
  if (!file.complete) out.push('incomplete: the run was interrupted; these are the cells measured until then');
  out.push(`machine: ${machineLine(file.machine)}`);
  for (const n of file.run.notes) out.push(`note: ${n}`);
  return out.join('\n\n') + '\n';
}
