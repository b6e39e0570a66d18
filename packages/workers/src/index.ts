/**
 * @iovabitmap/workers — the whole public surface, listed by name.
 */
export { RUNNING_FROM_SOURCE, applyWorkerV8Flags, entryUrl, piscinaEntry, startWorker, startWorkerAt } from './workerEntry.js';
