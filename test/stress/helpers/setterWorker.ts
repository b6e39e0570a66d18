/**
 * Worker entry of the bitmap set-race harness (./setterCrew.ts). Each job message carries the
 * bitmaps' descriptors, the mode (`atomic`: the real IovaBitmap; `racy`: ./racyBitmap.ts, racing on
 * the data words; `racy-marks`: the same, racing on the summary's words) and the
 * job; the worker rebuilds its views, says it is ready, waits on the shared start word so that all
 * workers start together, runs the job and reports how many operations it did.
 */
import { parentPort } from 'node:worker_threads';
import { IovaBitmap, type SharedIovaBitmap } from '@iovabitmap/core';
import { RacyIovaBitmap } from './racyBitmap.js';
import { applyOps, type SetterJob } from './setterOps.js';

export interface SetterMessage {
  readonly round: number;
  readonly start: SharedArrayBuffer;
  readonly bitmaps: readonly SharedIovaBitmap[];
  readonly mode: 'atomic' | 'racy' | 'racy-marks';
  readonly job: SetterJob;
}

const port = parentPort!;
port.on('message', (m: SetterMessage) => {
  const bitmaps = m.bitmaps.map((d) => {
    if (m.mode === 'atomic') return IovaBitmap.fromShared(d);
    const racy = RacyIovaBitmap.fromShared(d);
    racy.races = m.mode === 'racy' ? 'data' : 'marks';
    if (racy.races === 'marks') racy.spin = 1024; // a mark is one RMW per block, not per word: widen its window more
    return racy;
  });
  const go = new Int32Array(m.start);
  port.postMessage({ type: 'ready', round: m.round });
  for (let v = Atomics.load(go, 0); v < m.round; v = Atomics.load(go, 0)) Atomics.wait(go, 0, v, 50);
  const t0 = performance.now();
  const ops = applyOps(m.job, bitmaps);
  port.postMessage({ type: 'done', round: m.round, ops, ms: performance.now() - t0 });
});
