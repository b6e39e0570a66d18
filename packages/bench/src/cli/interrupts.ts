/**
 * Ctrl-C and SIGTERM for the command line: abort cleanly, keep what was done, exit 130 / 143.
 *
 * Theory of operation
 * -------------------
 * While a command runs, {@link trapInterrupts} replaces Node's default handling of SIGINT and
 * SIGTERM (which kills the process on the spot: a hidden cursor, a half-drawn progress bar, no
 * results, workers cut mid-chunk).
 * - The first signal aborts the command's AbortSignal. The commands pass it on to what they run
 *   (the runner's tinybench loop and the pool's report in `bench`, the pool's report in `report`,
 *   `migrate()` and so the pool and the device in `migrate`), which stop within a chunk; the
 *   command then stops its progress bar (which shows the cursor and ends the line), writes what
 *   was done (its documents with `complete: false`, the human text saying so), closes the pool and
 *   the device, and returns. runCli then sets the exit status: 128 + the signal's number, 130 for
 *   SIGINT and 143 for SIGTERM, as shells report a process killed by it.
 * - A second signal while that clean-up runs ends the process at once, with the same status,
 *   after writing the terminal's show-cursor sequence (`ESC [ ? 25 h`) and a newline to every
 *   terminal among stdout and stderr: the user who presses Ctrl-C twice gets a working prompt.
 * Nothing is handled outside a command's run: {@link Interrupts.dispose} puts the defaults back.
 */

/** The exit status of a process that stopped because of `signal`: 128 + its number. */
export const SIGNAL_EXIT_STATUS: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/** The terminal's show-cursor sequence (DECTCEM). */
export const SHOW_CURSOR = '\x1b[?25h';

/** What {@link trapInterrupts} returns. */
export interface Interrupts {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** The signal received first, if any. */
  readonly received: 'SIGINT' | 'SIGTERM' | undefined;
  /** The exit status the process must end with: 130 or 143 after a signal, else `undefined`. */
  readonly exitStatus: number | undefined;
  /** Stops handling the signals (Node's defaults are back). */
  dispose(): void;
}

/** What {@link trapInterrupts} acts on; the process by default (tests pass their own). */
export interface InterruptTarget {
  on(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  removeListener(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  exit(code: number): void;
  readonly stdout: { readonly isTTY?: boolean; write(s: string): unknown };
  readonly stderr: { readonly isTTY?: boolean; write(s: string): unknown };
}

/** Shows the cursor and ends the line on every terminal among stdout and stderr. */
export function restoreTerminal(target: Pick<InterruptTarget, 'stdout' | 'stderr'> = process): void {
  for (const s of [target.stdout, target.stderr]) if (s.isTTY === true) s.write(`${SHOW_CURSOR}\n`);
}

/** Handles SIGINT and SIGTERM until {@link Interrupts.dispose}; see the module comment. */
export function trapInterrupts(target: InterruptTarget = process): Interrupts {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | undefined;
  const on = (name: 'SIGINT' | 'SIGTERM') => (): void => {
    if (received !== undefined) {
      restoreTerminal(target);
      target.exit(SIGNAL_EXIT_STATUS[received]);
      return;
    }
    received = name;
    controller.abort(new Error(`interrupted by ${name}`));
  };
  const onInt = on('SIGINT');
  const onTerm = on('SIGTERM');
  target.on('SIGINT', onInt);
  target.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    get exitStatus() {
      return received === undefined ? undefined : SIGNAL_EXIT_STATUS[received];
    },
    dispose() {
      target.removeListener('SIGINT', onInt);
      target.removeListener('SIGTERM', onTerm);
    },
  };
}
