/**
 * The piscina entry of the report pool; ReportPool starts it through `piscinaEntry`
 * (../../runtime/workerLaunch.ts).
 * Runs on a pool worker.
 *
 * Theory of operation
 * -------------------
 * piscina loads its entry with `require()` first. From a build that fails (the entry is an ES
 * module) and piscina falls back to `import()`; from the TypeScript sources, tsx's CommonJS hook
 * compiles the entry and everything it imports *as CommonJS*, and the page-table walk then runs
 * markedly slower than the same code loaded as ES modules (module bindings become getter calls;
 * figures: docs/bench/limits.md §9.4).
 * So this entry imports nothing heavy itself: it loads ./messageHandler.ts with `import()`, after
 * registering tsx's ESM loader in this worker when running from source (as
 * ../../runtime/tsBootstrap.mjs does for plain workers; Node 20 does not apply `--import tsx`'s
 * ESM hooks inside workers).
 * The import starts when piscina loads the entry, so the handler (and its JIT warm-up) is
 * usually ready before the first task; the pool's start-up barrier task waits for it.
 */
import { RUNNING_FROM_SOURCE } from '../../runtime/workerLaunch.js';
import type { ReportTask, ReportTaskResult } from './reportTask.js';
import type { WarmupResult, WarmupTask } from './warmUp.js';

type Handler = typeof import('./messageHandler.js');

async function loadHandler(): Promise<Handler> {
  if (RUNNING_FROM_SOURCE) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  return import('./messageHandler.js');
}

const handler = loadHandler();
// A load failure surfaces in the first task; do not let it crash the worker before that.
handler.catch(() => {});

/** Handles one piscina task: a warm-up barrier or a report (see ./messageHandler.ts). */
export default async function reportWorker(task: ReportTask | WarmupTask): Promise<ReportTaskResult | WarmupResult> {
  return (await handler).handleReportMessage(task);
}
