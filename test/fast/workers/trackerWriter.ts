/**
 * Worker for tracker.concurrent.test.ts: plays the device. It opens a view of the shared VfTracker
 * and logs a DMA write of each 4 KiB page in `pages`, in the order given, while the main thread
 * reads and clears the log. Writes go in batches; before each batch after the first the worker
 * waits until the reader has finished one more pass since the writing began, so at least
 * batches - 1 passes complete while writes are going on, however the threads are scheduled (the
 * reader itself never waits).
 *
 * ctrl (Int32Array over a SharedArrayBuffer): [GO] set by main to begin; [WRITTEN] pages written
 * so far; [DONE] 1 when every write is logged; [ROUNDS] reader passes completed (written by main);
 * [FROM] the value of ROUNDS when the first write began.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VfTracker, type SharedVfTracker } from '@iovabitmap/core';

const GO = 0;
const WRITTEN = 1;
const DONE = 2;
const ROUNDS = 3;
const FROM = 4;

const { tracker, ctrl, pages, batches } = workerData as { tracker: SharedVfTracker; ctrl: SharedArrayBuffer; pages: Float64Array; batches: number };
const c = new Int32Array(ctrl);
const t = VfTracker.fromShared(tracker);
parentPort!.postMessage('ready');
Atomics.wait(c, GO, 0);
const per = Math.ceil(pages.length / batches);
const from = Atomics.load(c, ROUNDS);
Atomics.store(c, FROM, from);
for (let b = 0; b < batches; b++) {
  while (Atomics.load(c, ROUNDS) < from + b) {
    // spin: the reader is mid-pass
  }
  const end = Math.min(pages.length, (b + 1) * per);
  for (let i = b * per; i < end; i++) {
    t.dmaWritePages(pages[i]!, 1);
    Atomics.store(c, WRITTEN, i + 1);
  }
}
Atomics.store(c, DONE, 1);
