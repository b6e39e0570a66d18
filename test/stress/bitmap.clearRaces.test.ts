/**
 * clear() and reads racing with sets, across threads.
 *
 * Two setter workers set random ranges as fast as they can in bitmap A (cleared by the main thread
 * at every epoch) and bitmap B (never cleared; it starts on the byte after A, so the two share a
 * 32-bit word). Each completed set is logged with the epoch the setter saw *before* it began. The
 * main thread, per epoch: clear(A), then publish the epoch; while the setters run it reads A
 * (count() and snapshots); then it checks the log. IovaBitmap's contract (module comment, invariant
 * 3): a set racing with clear() may or may not survive, a set that starts after clear() returned
 * must. Checked:
 * - every set tagged with the current epoch is wholly present in A (it began after the clear);
 * - between two clears, reads only grow: count() never decreases and every bit of an earlier
 *   snapshot is in a later one (a read never sees a bit vanish without a clear);
 * - clear(A) never clears B's bits, even in the word they share: at the end B holds every set ever
 *   made into it;
 * - nothing outside the two bitmaps is written;
 * - the ordering rule of the summary (core's bitmap/bitSummary.ts): after the setters join, every
 *   set bit of A and B lies in a block their summaries mark, and count() equals the bits in memory.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { startWorker } from '@iovabitmap/workers/internal';
import { ENTRY, EPOCH, STOP, type EpochSetterData } from './helpers/epochSetterWorker.js';
import { guardViolations } from './helpers/setterCrew.js';
import { countInBytes, uncoveredBits } from '../helpers/bitmaps.js';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';

function allSet(bm: IovaBitmap, first: number, count: number): boolean {
  const bytes = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
  const end = Math.min(bm.nbits, first + count);
  for (let i = first; i < end; i++) if (((bytes[i >> 3]! >> (i & 7)) & 1) === 0) return false;
  return true;
}

function isSubset(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i]! & ~b[i]!) !== 0) return false;
  return true;
}

describe('IovaBitmap clear() and reads racing with sets', () => {
  it('keeps every set begun after clear() returned, never clears a neighbour, and reads only grow between clears', async () => {
    const { seed, rng } = stressSeed('clear-races');
    const setters = 2;
    const epochs = scaled(400);
    const opsPerEpoch = 2000;
    const maxOps = epochs * opsPerEpoch * 4;
    const nA = 20_000 + rng.int(20_000);
    const nB = 1_000 + rng.int(4_000);
    const offA = 4 + rng.int(8);
    const offB = offA + Math.ceil(nA / 8);
    const buffer = new SharedArrayBuffer(Math.ceil((offB + Math.ceil(nB / 8) + 16) / 4) * 4);
    const a = new IovaBitmap({ buffer, byteOffset: offA, iova: 0x10_0000_0000n, length: BigInt(nA) << 12n, pageSize: 4096 });
    const b = new IovaBitmap({ buffer, byteOffset: offB, iova: 0, length: BigInt(nB) << 12n, pageSize: 4096 });
    b.rescan(); // over a caller's buffer the summary starts all-set: make it exact, so the setters' marks are what covers
    const control = new SharedArrayBuffer(8);
    const progressBuf = new SharedArrayBuffer(4 * setters);
    const logs = Array.from({ length: setters }, () => new SharedArrayBuffer(maxOps * ENTRY * 4));
    const ctl = new Int32Array(control);
    const progress = new Int32Array(progressBuf);
    const workers: Worker[] = [];
    const finished: Promise<unknown>[] = [];
    for (let i = 0; i < setters; i++) {
      const data: EpochSetterData = {
        id: i,
        seed: subSeed(seed, i),
        bitmaps: [a.share(), b.share()],
        control,
        progress: progressBuf,
        log: logs[i]!,
        maxOps,
        maxBits: i === 0 ? 64 : 600,
      };
      const w = startWorker(new URL('./helpers/epochSetterWorker.ts', import.meta.url), { workerData: data });
      workers.push(w);
      finished.push(new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
    }
    const logViews = logs.map((l) => new Int32Array(l));
    const checked = new Array<number>(setters).fill(0);
    let lostAfterClear = 0;
    let verified = 0;
    let shrinks = 0;
    let vanished = 0;
    let reads = 0;
    try {
      for (let e = 1; e <= epochs; e++) {
        a.clear();
        Atomics.store(ctl, EPOCH, e); // every set that loads this epoch starts after the clear returned
        const goal = Array.from(progress, (p) => Math.min(maxOps, p + opsPerEpoch));
        let prevCount = -1;
        let prevSnap: Uint8Array | undefined;
        for (let spin = 0; goal.some((g, i) => Atomics.load(progress, i) < g); spin++) {
          const c = a.count();
          reads++;
          if (c < prevCount) shrinks++;
          prevCount = c;
          if (spin % 8 === 0) {
            const snap = a.snapshot();
            if (prevSnap !== undefined && !isSubset(prevSnap, snap)) vanished++;
            prevSnap = snap;
          }
          if (spin % 32 === 31) await yieldToLoop();
        }
        for (let i = 0; i < setters; i++) {
          const n = Atomics.load(progress, i); // acquire: pairs with the setter's release store
          const log = logViews[i]!;
          for (let s = checked[i]!; s < n; s++) {
            const k = s * ENTRY;
            if (log[k] !== e || log[k + 1] !== 0) continue;
            verified++;
            if (!allSet(a, log[k + 2]!, log[k + 3]!)) lostAfterClear++;
          }
          checked[i] = n;
        }
      }
    } finally {
      Atomics.store(ctl, STOP, 1);
      await Promise.all(finished);
      await Promise.all(workers.map((w) => w.terminate()));
    }
    // B was never cleared: every set into it, in any epoch, must be there.
    let lostInNeighbour = 0;
    let bSets = 0;
    for (let i = 0; i < setters; i++) {
      const n = Atomics.load(progress, i);
      const log = logViews[i]!;
      for (let s = 0; s < n; s++) {
        const k = s * ENTRY;
        if (log[k + 1] !== 1) continue;
        bSets++;
        if (!allSet(b, log[k + 2]!, log[k + 3]!)) lostInNeighbour++;
      }
    }
    console.log(`[stress] clear-races: ${epochs} epochs, ${verified} sets checked after their clear, ${bSets} sets into the neighbour, ${reads} racing reads`);
    const summary = { uncoveredA: uncoveredBits(a), uncoveredB: uncoveredBits(b), countA: a.count() - countInBytes(a), countB: b.count() - countInBytes(b) };
    expect({ lostAfterClear, shrinks, vanished, lostInNeighbour, guard: guardViolations(buffer, [a, b]), ...summary }).toEqual({
      lostAfterClear: 0,
      shrinks: 0,
      vanished: 0,
      lostInNeighbour: 0,
      guard: 0,
      uncoveredA: 0,
      uncoveredB: 0,
      countA: 0,
      countB: 0,
    });
    expect(verified).toBeGreaterThan(epochs); // the check did run on many sets
    expect(bSets).toBeGreaterThan(0);
  }, stressTimeout(240_000));
});
