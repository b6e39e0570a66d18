/**
 * The columns of a result table, shared by the terminal table and the Markdown report.
 *
 * Theory of operation
 * -------------------
 * Both outputs show one row per {@link ResultRecord}, grouped by `group`, with the same columns in
 * the same order and the same text in every cell; only the frame differs (cli-table3 box drawing
 * or a Markdown pipe table). The scenario cell drops the group prefix, which the group heading
 * already says.
 */
import { NOISY_RME_PCT, type RecordFlag, type ResultRecord } from './schema.js';
import { formatMs, formatPercent, formatRatio, significant } from '../units.js';

/** One column: its heading and how a record fills it. */
export interface ResultColumn {
  /** Heading text (units in parentheses). */
  readonly header: string;
  /** Right-align (numbers). */
  readonly numeric: boolean;
  /** The cell text. */
  readonly cell: (r: ResultRecord) => string;
}

/** How a table shows each cell flag (../output/schema.ts RecordFlag). */
export const FLAG_TEXT: Readonly<Record<RecordFlag, string>> = {
  'no-dirty-units': 'no dirty unit placed: a clean walk, no ratios',
  noisy: `noisy (±rme > ${NOISY_RME_PCT}%): do not quote`,
};

/**
 * The columns, in display order: `median` = the walk (medianMs), `call` = the whole call
 * (medianCallMs; the same loop for the yardsticks and read-limit), `×1 thread` = speedupVs1Thread, `×seq` = speedupVsSequential,
 * `% read limit` = pctOfReadLimit, `pool ovh` = poolOverheadPct, `caveat` = the cell's flags (see
 * ./schema.ts).
 */
export const RESULT_COLUMNS: readonly ResultColumn[] = [
  { header: 'scenario', numeric: false, cell: (r) => r.scenario.slice(r.group.length + 1) },
  { header: 'impl', numeric: false, cell: (r) => r.impl },
  { header: 'threads', numeric: true, cell: (r) => String(r.threads) },
  { header: 'median', numeric: true, cell: (r) => formatMs(r.medianMs) },
  { header: 'call', numeric: true, cell: (r) => formatMs(r.medianCallMs) },
  { header: 'ns/PTE', numeric: true, cell: (r) => significant(r.nsPerPte) },
  { header: 'GiB/s', numeric: true, cell: (r) => significant(r.gibPerSec) },
  { header: '±rme', numeric: true, cell: (r) => `${r.rme.toFixed(1)}%` },
  { header: '×1 thread', numeric: true, cell: (r) => formatRatio(r.speedupVs1Thread) },
  { header: '×seq', numeric: true, cell: (r) => formatRatio(r.speedupVsSequential) },
  { header: '% read limit', numeric: true, cell: (r) => formatPercent(r.pctOfReadLimit) },
  { header: 'pool ovh', numeric: true, cell: (r) => formatPercent(r.poolOverheadPct) },
  { header: 'caveat', numeric: false, cell: (r) => r.flags.map((f) => FLAG_TEXT[f]).join('; ') },
];

/** The records grouped by `group`, groups in first-seen order. */
export function byGroup(records: readonly ResultRecord[]): Map<string, ResultRecord[]> {
  const groups = new Map<string, ResultRecord[]>();
  for (const r of records) {
    let g = groups.get(r.group);
    if (g === undefined) groups.set(r.group, (g = []));
    g.push(r);
  }
  return groups;
}
