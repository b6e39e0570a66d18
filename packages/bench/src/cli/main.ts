/**
 * Entry point of the `iovabitmap` command (see ./program.ts). Importing this module runs the CLI
 * on `process.argv`; the launcher bin/iovabitmap.js imports the built dist/cli/main.js. Runs on the
 * main thread.
 *
 * From source: `node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source
 * packages/bench/src/cli/main.ts <command> [options]`.
 */
import { runCli } from './runCli.js';

// `iovabitmap bench --list | head`: a closed pipe ends the output, not the process with a trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

await runCli(process.argv);
