/**
 * A real device thread against a reader: a worker (./workers/trackerWriter.ts) logs a DMA write of
 * every page of two tracked ranges once, plus pages outside them, in random order, while this thread
 * runs readAndClearDirty over the whole space again and again into one bitmap (the union of the
 * reports). No record may be lost: a bit the writer sets between the reader's load and its clear
 * must survive to a later pass. Afterwards the union is exactly the written pages inside the ranges.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { startWorker } from '@iovabitmap/workers/internal';
import { VfTracker } from '@iovabitmap/core';

const GO = 0;
const WRITTEN = 1;
const DONE = 2;
const ROUNDS = 3;
const FROM = 4;

describe('VfTracker with a concurrent writer thread', () => {
  it('loses no record while a worker writes and this thread reads with clear', async () => {
    const base = 1 << 18; // 4 KiB page number of IOVA 1 GiB
    const rangePages = 1 << 15; // 128 MiB per range
    const t = new VfTracker({ name: 'vfc' });
    t.start({
      pageSize: 4096,
      ranges: [
        { iova: BigInt(base) << 12n, length: BigInt(rangePages) << 12n },
        { iova: BigInt(base + 2 * rangePages) << 12n, length: BigInt(rangePages) << 12n },
      ],
    });
    const all = Array.from({ length: 3 * rangePages }, (_, i) => base + i); // the middle third is not tracked
    const inside = (p: number) => p < base + rangePages || p >= base + 2 * rangePages;
    const pages = all.filter((p, i) => inside(p) || i % 8 === 0);
    let x = 12345;
    for (let i = pages.length - 1; i > 0; i--) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const j = x % (i + 1);
      [pages[i], pages[j]] = [pages[j]!, pages[i]!];
    }
    const shared = new Float64Array(new SharedArrayBuffer(8 * pages.length));
    shared.set(pages);
    const ctrlBuf = new SharedArrayBuffer(32);
    const ctrl = new Int32Array(ctrlBuf);
    const batches = 64;
    const worker = startWorker(new URL('./workers/trackerWriter.ts', import.meta.url), {
      workerData: { tracker: t.share(), ctrl: ctrlBuf, pages: shared, batches },
    });
    const exited = once(worker, 'exit');
    try {
      const [msg] = await Promise.race([once(worker, 'message'), once(worker, 'error').then(([e]) => Promise.reject(e))]);
      expect(msg).toBe('ready');
      const bm = new IovaBitmap({ iova: BigInt(base) << 12n, length: BigInt(3 * rangePages) << 12n, pageSize: 4096 });
      let rounds = 0;
      Atomics.store(ctrl, GO, 1);
      Atomics.notify(ctrl, GO);
      const deadline = Date.now() + 60_000;
      while (Atomics.load(ctrl, DONE) === 0) {
        t.readAndClearDirty(bm, bm.iova, bm.length);
        Atomics.store(ctrl, ROUNDS, ++rounds);
        if (Date.now() > deadline) throw new Error(`writer stuck at ${Atomics.load(ctrl, WRITTEN)} of ${pages.length}`);
      }
      t.readAndClearDirty(bm, bm.iova, bm.length);
      expect(rounds - Atomics.load(ctrl, FROM)).toBeGreaterThanOrEqual(batches - 1); // passes during the writes
      const missing = pages.filter((p) => inside(p) && !bm.testBit(p - base));
      const extra = pages.filter((p) => !inside(p) && bm.testBit(p - base));
      expect(missing).toEqual([]);
      expect(extra).toEqual([]);
      expect(bm.count()).toBe(2 * rangePages);
      expect(t.recordedPages()).toEqual([]);
    } finally {
      await worker.terminate();
      await exited;
      t.stop();
    }
  });
});
