/**
 * A real second thread plays the device (./workers/pagetableDmaWriter.ts): it marks PTEs dirty
 * with dmaWritePages while this thread repeatedly walks the same table with clear. Afterwards the
 * union of all reports must be exactly the leaves that were written: none lost to a clear racing
 * a mark (record before clear, atomic clears of only what was seen dirty), none invented.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { startWorker } from '@iovabitmap/workers/internal';
import { IoPageTable, PTE_FORMATS } from './helpers/pagetableHelpers.js';
import { KIB, MIB } from '../helpers/sizes.js';

const GO = 0;
const LOGGED = 1;
const DONE = 2;
const ROUNDS = 3;
const WRITES = 20000;
const BATCHES = 25;
const SPAN = 48 * MIB;

describe.each(PTE_FORMATS)('IoPageTable %s with a device writing from another thread', (format) => {
  it('loses no dirty page while this thread walks with clear', async () => {
    const pt = new IoPageTable({ format });
    const third = format === 'amd-v1' ? 64 * KIB : 4096; // amd-v1: 16 replicated PTEs per page
    pt.map(0, 16 * MIB, { leaf: 4096 });
    pt.map(16 * MIB, 16 * MIB, { leaf: 2 * MIB });
    pt.map(32 * MIB, 16 * MIB, { leaf: third });
    const leafPages = (p: number) => (p < 4096 ? 1 : p < 8192 ? 512 : third / 4096);
    pt.setDirtyTracking(true);

    const ctrlBuf = new SharedArrayBuffer(16);
    const ctrl = new Int32Array(ctrlBuf);
    const logBuf = new SharedArrayBuffer(WRITES * 16);
    const worker = startWorker(new URL('./workers/pagetableDmaWriter.ts', import.meta.url), {
      workerData: { table: pt.share(), ctrl: ctrlBuf, log: logBuf, ranges: [0, SPAN / 4096], writes: WRITES, batches: BATCHES, seed: 0x2545f491 },
    });
    const failed = once(worker, 'error').then(([e]) => Promise.reject(e));
    const exited = once(worker, 'exit');
    const [msg] = await Promise.race([once(worker, 'message'), failed]);
    expect(msg).toBe('ready');

    const union = new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 });
    const bm = new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 });
    const collect = () => {
      bm.clear();
      pt.readAndClearDirty(bm, 0, SPAN);
      for (const r of bm.dirtyRanges()) union.set(r.iova, r.length);
    };
    let rounds = 0;
    const t0 = performance.now();
    Atomics.store(ctrl, GO, 1);
    Atomics.notify(ctrl, GO);
    while (Atomics.load(ctrl, DONE) === 0 && performance.now() - t0 < 20_000) {
      collect();
      Atomics.store(ctrl, ROUNDS, ++rounds);
    }
    await Promise.race([exited, failed]);
    collect();

    expect(Atomics.load(ctrl, LOGGED)).toBe(WRITES);
    expect(rounds).toBeGreaterThanOrEqual(BATCHES - 1);
    const log = new Float64Array(logBuf);
    const expected = new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 });
    for (let i = 0; i < WRITES; i++) {
      for (let p = log[2 * i]!; p < log[2 * i]! + log[2 * i + 1]!; p++) {
        const size = leafPages(p);
        expected.setBits(p - (p % size), size);
      }
    }
    let lost = 0;
    for (let p = 0; p < SPAN / 4096; p++) if (expected.testBit(p) && !union.testBit(p)) lost++;
    expect(lost).toBe(0);
    expect(union.equals(expected)).toBe(true);
  });
});
