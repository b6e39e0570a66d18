/**
 * runCli: the `iovabitmap` command line as a function: parse, run, report errors the CLI's way.
 * Runs on the main thread.
 *
 * While the command runs, SIGINT and SIGTERM abort it through ./interrupts.ts: the command writes
 * what it did, and the exit status is then 130 (SIGINT) or 143 (SIGTERM) whatever the command
 * returned. Errors are printed on stderr with their code (exit status 1).
 *
 * Apart from ./program.ts so that its declaration imports nothing from commander: it is public,
 * and no public declaration file reaches a third party's types (test/fast/build.test.ts).
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { buildProgram } from './program.js';
import { trapInterrupts } from './interrupts.js';

/**
 * Parses `argv` (as `process.argv`) and runs the command; prints errors and sets
 * `process.exitCode` (1 on error, 130 / 143 after SIGINT / SIGTERM).
 * @example
 * ```ts
 * import { runCli } from '@iovabitmap/bench';
 *
 * // As `iovabitmap migrate --iova-size 4GiB --rounds 2 --threads 2` on the command line: prints the
 * // rounds and the no-loss check; exit code 0, 2 when the check failed, 1 on an error.
 * await runCli(['node', 'iovabitmap', 'migrate', '--iova-size', '4GiB', '--rounds', '2', '--threads', '2']);
 * console.log(process.exitCode ?? 0); // 0
 * ```
 */
export async function runCli(argv: readonly string[] = process.argv): Promise<void> {
  const interrupts = trapInterrupts();
  try {
    await buildProgram({ io: { stdout: process.stdout, stderr: process.stderr, signal: interrupts.signal } }).parseAsync([...argv]);
  } catch (e) {
    if (IovaBitmapError.is(e)) {
      const x = e as IovaBitmapError;
      process.stderr.write(`error: ${x.message} (${x.code})\n`);
    } else {
      process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    process.exitCode = 1;
  } finally {
    if (interrupts.exitStatus !== undefined) process.exitCode = interrupts.exitStatus;
    interrupts.dispose();
  }
}
