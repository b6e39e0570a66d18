/**
 * The `iovabitmap` command line as a child process, run from source exactly as documented:
 *   node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source packages/bench/src/cli/main.ts ...
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The node flags that run the workspace's TypeScript sources (tsx, the private export condition). */
export const SOURCE_NODE_ARGS: readonly string[] = ['--no-lazy-feedback-allocation', '--import', 'tsx', '--conditions=@iovabitmap/source'];
/** The CLI entry, relative to the repository root. */
export const CLI_ENTRY = 'packages/bench/src/cli/main.ts';
const CLI = [...SOURCE_NODE_ARGS, CLI_ENTRY];

/** What a run printed and how it exited. */
export interface CliRun {
  /** Exit status, or null when killed (after 30 s: a hang). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `iovabitmap <args>` (NO_COLOR set); kills it after 30 s, so a hang fails a test instead of the suite. */
export function cli(...args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
