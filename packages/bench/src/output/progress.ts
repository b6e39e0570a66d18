/**
 * What a long run shows while it works: a progress bar on a terminal, plain lines elsewhere.
 *
 * Theory of operation
 * -------------------
 * The runner reports to a {@link RunObserver}: the number of measurements up front, then each
 * measurement as it starts and ends, and notes (skipped cells, missing pieces). On a TTY,
 * {@link terminalObserver} draws one cli-progress bar (elapsed time, ETA, current cell) and prints
 * notes above it; when the stream is not a TTY (CI logs, pipes, tests) it writes one plain line per
 * finished measurement instead, because a bar redrawn with carriage returns is noise in a log.
 */
import cliProgress from 'cli-progress';
import type { ResultRecord } from './schema.js';
import { formatGiBps, formatMs, formatNsPerPte } from '../units.js';

/** Receives the runner's progress; each method may do nothing (the runner's default ignores everything). */
export interface RunObserver {
  /** The run starts; `total` measurements are planned. */
  start(total: number): void;
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
  return `${label}: ${formatMs(r.medianMs)}, ${formatNsPerPte(r.nsPerPte)}, ${formatGiBps(r.gibPerSec)} ±${r.rme.toFixed(1)}% (${r.samples} samples)`;
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
      format: '{bar} {value}/{total} | {duration_formatted} elapsed, ETA {eta_formatted} | {cell}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(t) {
      bar = multi.create(t, 0, { cell: '' });
    },
    measuring(label) {
      bar?.update({ cell: label });
    },
    measured() {
      bar?.increment();
    },
    skipped() {
      bar?.increment();
    },
    note(text) {
      if (bar) multi.log(`note: ${text}\n`);
      else stream.write(`note: ${text}\n`);
    },
    stop() {
      multi.stop();
      bar = undefined;
    },
  };
}
