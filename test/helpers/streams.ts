/**
 * Fake stdout and stderr for the commands run in-process (runBenchCommand, runReportCommand,
 * runMigrateCommand take a CommandIo): they record what is written, are not TTYs, and run
 * `onWrite` on each write to stdout.
 */
import type { CommandIo } from '@iovabitmap/bench/internal';

/** What {@link captureIo} returns. */
export interface CapturedIo {
  readonly io: CommandIo;
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
}

function fakeStream(onWrite: (text: string) => void): NodeJS.WriteStream {
  return { isTTY: false, write: (s: string) => (onWrite(s), true) } as unknown as NodeJS.WriteStream;
}

/** Captured streams, with an optional abort signal for the command. */
export function captureIo(options: { onWrite?: (text: string) => void; signal?: AbortSignal } = {}): CapturedIo {
  let out = '';
  let err = '';
  const io: CommandIo = {
    stdout: fakeStream((s) => {
      out += s;
      options.onWrite?.(s);
    }),
    stderr: fakeStream((s) => (err += s)),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  return { io, out: () => out, err: () => err };
}
