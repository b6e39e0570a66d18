/**
 * How a worker thread finds its code, from a build or from the TypeScript sources.
 *
 * Theory of operation
 * -------------------
 * From a build, `import.meta.url` of this module ends in `.js` and workers start on the sibling
 * `.js` entry directly. From source (vitest, `tsx`), it ends in `.ts`; then
 * - a plain `Worker` starts on ./tsBootstrap.mjs, which registers tsx and imports the `.ts` entry;
 * - a piscina pool starts on the `.ts` entry with `--import tsx` (piscina require()s the file first,
 *   which tsx's CommonJS hook compiles; docs/design/toolchain.md §4).
 * Either way the worker resolves `@iovabitmap/*` through the `source` export condition, so tests
 * need no build step.
 *
 * The V8 flag `--no-lazy-feedback-allocation` (without it, about half of the worker starts
 * deoptimised a hot loop for good: docs/bench/limits.md §7) is process-wide; we set it once with
 * v8.setFlagsFromString before the first worker starts.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';

/** True when this package runs from its TypeScript sources rather than from dist. */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

const SOURCE_EXEC_ARGV = ['--conditions=source'];
let v8FlagsApplied = false;

/**
 * Applies the V8 flags every worker of this project wants; idempotent. Call before creating
 * workers (the pool and the device simulator do).
 */
export function applyWorkerV8Flags(): void {
  if (v8FlagsApplied) return;
  setFlagsFromString('--no-lazy-feedback-allocation');
  v8FlagsApplied = true;
}

/**
 * The URL of worker entry `name` (a module basename without extension, e.g. `"reportWorker"`),
 * next to this module, with the extension this package is running with.
 */
export function entryUrl(name: string): URL {
  return new URL(`./${name}${RUNNING_FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
}

/** Starts a plain `Worker` on entry `name` (see {@link entryUrl}), from a build or from source. */
export function startWorker(name: string, options: WorkerOptions = {}): Worker {
  return startWorkerAt(entryUrl(name), options);
}

/**
 * Starts a plain `Worker` on any module URL (a test's own worker file, say): a `.ts` entry goes
 * through ./tsBootstrap.mjs. `options.execArgv` and `options.argv` are extended, not replaced.
 */
export function startWorkerAt(entry: URL, options: WorkerOptions = {}): Worker {
  applyWorkerV8Flags();
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  return new Worker(new URL('./tsBootstrap.mjs', import.meta.url), {
    ...options,
    argv: [entry.href, ...(options.argv ?? [])],
    execArgv: [...SOURCE_EXEC_ARGV, ...(options.execArgv ?? [])],
  });
}

/** piscina `filename` and `execArgv` for entry `name`, from a build or from source. */
export function piscinaEntry(name: string): { filename: string; execArgv: string[] } {
  applyWorkerV8Flags();
  const entry = entryUrl(name);
  return { filename: entry.href, execArgv: RUNNING_FROM_SOURCE ? ['--import', 'tsx', ...SOURCE_EXEC_ARGV] : [] };
}
