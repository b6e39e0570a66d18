/**
 * What a report worker does with its messages; loaded as an ES module by ./poolWorkerEntry.ts.
 * Runs on a pool worker.
 *
 * Theory of operation
 * -------------------
 * Loading this module warms the walk kernels up (./warmUp.ts), once per worker, replacements
 * included (unless the pool was made with `warmUp: false`, passed in piscina's `workerData`).
 * {@link handleReportMessage} handles the two messages a worker ever gets: the pool's start-up
 * barrier, and the one task per report (./reportTask.ts), with sources rebuilt by core's
 * `dirtySourceFromShared`. It never throws: a failure comes back as data.
 */
import { workerData } from 'node:worker_threads';
import { dirtySourceFromShared } from '@iovabitmap/core/internal';
import { runWarmupTask, warmUpKernels, type WarmupResult, type WarmupTask } from './warmUp.js';
import { runReportTask, type ReportTask, type ReportTaskResult } from './reportTask.js';

/** What the pool passes to every worker (piscina `workerData`). */
export interface ReportWorkerData {
  /** Run the JIT warm-up when the module loads. */
  readonly warmUp: boolean;
}

if ((workerData as ReportWorkerData | undefined)?.warmUp !== false) warmUpKernels();

/** Handles one piscina task: a warm-up barrier or a report. */
export function handleReportMessage(task: ReportTask | WarmupTask): ReportTaskResult | WarmupResult {
  return task.kind === 'warmup' ? runWarmupTask(task) : runReportTask(task, dirtySourceFromShared);
}
