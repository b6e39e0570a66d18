/**
 * Worker entry of the clear-race harness (../bitmap.clearRaces.test.ts). The worker sets random
 * ranges in two bitmaps (A, which the main thread clears every epoch, and B, which is never
 * cleared and shares a 32-bit word with A) as fast as it can, and logs every completed operation as
 * (epoch seen *before* the set, target, first bit, count), then publishes its progress with a
 * release store. It stops when told to or when its log is full.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IovaBitmap, type SharedIovaBitmap } from '@iovabitmap/core';
import { createRng } from '@iovabitmap/workers/internal';

/** Layout of the shared words. */
export const EPOCH = 0;
export const STOP = 1;
/** Int32 words per log entry. */
export const ENTRY = 4;

export interface EpochSetterData {
  readonly id: number;
  readonly seed: number;
  readonly bitmaps: readonly SharedIovaBitmap[];
  readonly control: SharedArrayBuffer;
  readonly progress: SharedArrayBuffer;
  readonly log: SharedArrayBuffer;
  readonly maxOps: number;
  readonly maxBits: number;
}

const d = workerData as EpochSetterData;
if (parentPort !== null && d !== undefined) {
  const bms = d.bitmaps.map((x) => IovaBitmap.fromShared(x));
  const ctl = new Int32Array(d.control);
  const progress = new Int32Array(d.progress);
  const log = new Int32Array(d.log);
  const rng = createRng(d.seed);
  let seq = 0;
  while (Atomics.load(ctl, STOP) === 0 && seq < d.maxOps) {
    const epoch = Atomics.load(ctl, EPOCH);
    const t = rng.int(4) === 0 ? 1 : 0; // mostly A, the cleared one
    const bm = bms[t]!;
    const first = rng.int(bm.nbits);
    const count = 1 + rng.int(d.maxBits);
    bm.setBits(first, count);
    const k = seq * ENTRY;
    log[k] = epoch;
    log[k + 1] = t;
    log[k + 2] = first;
    log[k + 3] = count;
    seq++;
    Atomics.store(progress, d.id, seq); // release: the set and the entry are visible to whoever loads this
  }
  parentPort.postMessage({ done: seq });
}
