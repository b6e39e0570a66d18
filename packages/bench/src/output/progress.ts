/**
 * What a long run shows while it works: a progress bar on a terminal, plain lines elsewhere.
 *
 * Theory of operation
 * -------------------
 * The runner reports to a {@link RunObserver}: the number of measurements up front, then each
 * measurement as it starts and ends, and notes (skipped cells, missing pieces). On a TTY,
 * {@link terminalObserver} draws one cli-progress bar (elapsed time, time left, current cell) and
 * prints notes above it; when the stream is not a TTY (CI logs, pipes, tests) it writes one plain
 * line per finished measurement instead, because a bar redrawn with carriage returns is noise in a
 * log. The time left is ./eta.ts's estimate from the cells' budgets, refreshed every second; the bar
 * hides the cursor while it runs and `stop()` (which the runner calls also after an abort or an
 * error) shows it again and ends the line.
 */
import cliProgress from 'cli-progress';
import type { ResultRecord } from './schema.js';
import { EtaEstimator, formatDuration } from './eta.js';
import { formatGiBps, formatMs, formatNsPerPte } from '../units.js';

/** Receives the runner's progress; each method may do nothing (the runner's default ignores everything). */
export interface RunObserver {
  /**
   * The run starts; `total` measurements are planned. `budgetsMs`, when given, is each planned
   * measurement's time budget in run order (0 for one that reuses an earlier measurement).
   */
  start(total: number, budgetsMs?: readonly number[]): void;
  /** A measurement starts (`label` = scenario id, impl and threads). */
  measuring(label: string): void;
  /**
   * A measurement ended (a measurement reused from an earlier scenario counts too). `record` is
   * the cell on its own: its ratios to other cells are not filled in yet.
   */
  measured(label: string, record: ResultRecord): void;
  /** A planned measurement was skipped, with the reason. */
  skipped(label: string, reason: string): void;
  /** A measurement was skipped or something is worth telling. */
  note(text: string): void;
  /** The run ended (also after an error). */
  stop(): void;
}

/** An observer that shows nothing. */
export const silentObserver: RunObserver = {
  start() {},
  measuring() {},
  measured() {},
  skipped() {},
  note() {},
  stop() {},
};

/** One line for a finished measurement. */
export function measurementLine(label: string, r: ResultRecord): string {
  const flags = r.flags.length === 0 ? '' : ` [${r.flags.join(', ')}]`;
  return `${label}: ${formatMs(r.medianMs)}, ${formatNsPerPte(r.nsPerPte)}, ${formatGiBps(r.gibPerSec)} ±${r.rme.toFixed(1)}% (${r.samples} samples)${flags}`;
}

/**
 * A progress bar when `stream` is a TTY, plain lines otherwise.
 * @param stream - where to write @defaultValue process.stdout
 */
export function terminalObserver(stream: NodeJS.WriteStream = process.stdout): RunObserver {
  if (!stream.isTTY) {
    let done = 0;
    let total = 0;
    return {
      start(t) {
        total = t;
      },
      measuring() {},
      measured(label, r) {
        done++;
        stream.write(`[${done}/${total}] ${measurementLine(label, r)}\n`);
      },
      skipped(label, reason) {
        done++;
        stream.write(`[${done}/${total}] ${label}: skipped (${reason})\n`);
      },
      note(text) {
        stream.write(`note: ${text}\n`);
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: '{bar} {value}/{total} | {elapsed} elapsed, about {left} left | {cell}',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let eta: EtaEstimator | undefined;
  let t0 = 0;
  let timer: NodeJS.Timeout | undefined;
  let cell = '';
  const refresh = (): void => {
    const now = performance.now();
    bar?.update({ cell, elapsed: formatDuration(now - t0), left: eta === undefined ? '?' : formatDuration(eta.remainingMs(now)) });
  };
  const done = (): void => {
    eta?.cellDone(performance.now());
    bar?.increment();
    refresh();
  };
  return {
    start(t, budgetsMs) {
      t0 = performance.now();
      eta = new EtaEstimator(budgetsMs ?? new Array<number>(t).fill(1), t0);
      bar = multi.create(t, 0, { cell: '', elapsed: '0s', left: '?' });
      timer = setInterval(refresh, 1000);
      timer.unref();
    },
    measuring(label) {
      cell = label;
      refresh();
    },
    measured: done,
    skipped: done,
    note(text) {
      if (bar) multi.log(`note: ${text}\n`);
      else stream.write(`note: ${text}\n`);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      multi.stop(); // shows the cursor again (hideCursor) and clears the bar
      bar = undefined;
    },
  };
}
