/**
 * Worker for pagetable.concurrent.test.ts: plays the device. It opens a view of the shared
 * IoPageTable and makes DMA writes (dmaWritePages) at pseudo-random places of the mapped ranges,
 * logging each write (first page, page count) after it returns, while the main thread walks the
 * table with clear. Writes come in batches; before each batch after the first the worker waits
 * until the reader has completed one more walk, so walks and writes overlap however the two
 * threads are scheduled.
 *
 * ctrl (Int32Array): [GO] main sets it to begin; [LOGGED] writes logged so far; [DONE] 1 at the
 * end; [ROUNDS] walks completed (written by main). log (Float64Array): page, count pairs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IoPageTable, type SharedIoPageTable } from '@iovabitmap/core';

const GO = 0;
const LOGGED = 1;
const DONE = 2;
const ROUNDS = 3;

interface Input {
  table: SharedIoPageTable;
  ctrl: SharedArrayBuffer;
  log: SharedArrayBuffer;
  /** [startPage, endPage) pairs the device may write. */
  ranges: number[];
  writes: number;
  batches: number;
  seed: number;
}

const { table, ctrl, log, ranges, writes, batches, seed } = workerData as Input;
const c = new Int32Array(ctrl);
const out = new Float64Array(log);
const pt = IoPageTable.fromShared(table);
let x = seed | 1;
const next = (): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
};

parentPort!.postMessage('ready');
Atomics.wait(c, GO, 0);
const per = Math.ceil(writes / batches);
const from = Atomics.load(c, ROUNDS);
for (let i = 0; i < writes; i++) {
  if (i % per === 0) {
    while (Atomics.load(c, ROUNDS) < from + i / per) {
      // spin: the reader is mid-walk
    }
  }
  const r = 2 * (next() % (ranges.length / 2));
  const s = ranges[r]!;
  const page = s + (next() % (ranges[r + 1]! - s));
  const count = Math.min(1 + (next() % 3), ranges[r + 1]! - page);
  if (pt.dmaWritePages(page, count) < 1) throw new Error(`write to mapped page ${page} marked nothing`);
  out[2 * i] = page;
  out[2 * i + 1] = count;
  Atomics.store(c, LOGGED, i + 1);
}
Atomics.store(c, DONE, 1);
