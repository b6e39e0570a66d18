/**
 * How any worker thread of this package is launched, from a build or from the TypeScript sources.
 * Runs on the thread that starts the worker (the main thread, or a test's thread).
 *
 * Theory of operation
 * -------------------
 * Every worker entry is named at its call site in the static form
 * `new URL('./path/entry.js', import.meta.url)`, the form bundlers and packers follow, and always
 * with the built `.js` name. From a build, `import.meta.url` ends in `.js` and that URL is the
 * entry. From source (vitest, `tsx`) it ends in `.ts` ({@link RUNNING_FROM_SOURCE}), and
 * {@link entryUrl} maps the `.js` name to the `.ts` file beside it; then
 * - a plain `Worker` starts on ./tsBootstrap.mjs, which registers tsx and imports the `.ts` entry;
 * - a piscina pool starts on the `.ts` entry with `--import tsx` (piscina require()s the file first,
 *   which tsx's CommonJS hook compiles; docs/design/toolchain.md §4).
 * Either way the worker resolves `@iovabitmap/*` through the private `@iovabitmap/source` export
 * condition ({@link SOURCE_CONDITION}), so tests need no build step. That condition exists only in
 * the workspace: `publishConfig.exports` leaves it out of the published package.json, so an
 * installed package never runs from source, whatever conditions its consumer passes.
 *
 * The V8 flag `--no-lazy-feedback-allocation` (without it, about half of the worker starts
 * deoptimised a hot loop for good: docs/bench/limits.md §7) is process-wide; we set it once with
 * v8.setFlagsFromString before the first worker starts.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';

/** True when this package runs from its TypeScript sources rather than from dist. */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The export condition that points `@iovabitmap/*` at `src/*.ts` (workspace only, never published). */
const SOURCE_CONDITION = '@iovabitmap/source';
const SOURCE_EXEC_ARGV = [`--conditions=${SOURCE_CONDITION}`];
let v8FlagsApplied = false;

/**
 * Applies the V8 flags every worker of this project wants; idempotent. Call before creating
 * workers (the pool and the device simulator do).
 */
function applyWorkerV8Flags(): void {
  if (v8FlagsApplied) return;
  setFlagsFromString('--no-lazy-feedback-allocation');
  v8FlagsApplied = true;
}

/**
 * The module to start for worker entry `entry`: `entry` itself from a build; from source, a `.js`
 * entry's `.ts` file (see the module comment). Any other URL (a test's own `.ts` worker) is kept.
 */
function entryUrl(entry: URL): URL {
  return RUNNING_FROM_SOURCE && entry.pathname.endsWith('.js') ? new URL(entry.href.replace(/\.js(?=$|[?#])/, '.ts')) : entry;
}

/**
 * Starts a plain `Worker` on `entry` (see {@link entryUrl}), from a build or from source: a `.ts`
 * module goes through ./tsBootstrap.mjs. `options.execArgv` and `options.argv` are extended, not
 * replaced.
 */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  applyWorkerV8Flags();
  const url = entryUrl(entry);
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  return new Worker(new URL('./tsBootstrap.mjs', import.meta.url), {
    ...options,
    argv: [url.href, ...(options.argv ?? [])],
    execArgv: [...SOURCE_EXEC_ARGV, ...(options.execArgv ?? [])],
  });
}

/** piscina `filename` and `execArgv` for worker entry `entry` (see {@link entryUrl}), from a build or from source. */
export function piscinaEntry(entry: URL): { filename: string; execArgv: string[] } {
  applyWorkerV8Flags();
  return { filename: entryUrl(entry).href, execArgv: RUNNING_FROM_SOURCE ? ['--import', 'tsx', ...SOURCE_EXEC_ARGV] : [] };
}
