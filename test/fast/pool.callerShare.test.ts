/**
 * The caller's share of a pool report (packages/workers/src/pool/callerShare.ts): the caller's
 * thread walks chunks in place of the last worker while the others wake.
 *
 * `walkCallerShare` itself, in-process against core's `reportDirty` (its budget, STOP, a source
 * that throws), then ReportPool with the share on and off: the same bits as `reportDirty`, what
 * the stats say about who walked, the last task posted when the budget leaves chunks over, and a
 * throw on the caller's thread rejecting the report like a worker's.
 */
import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, IovaBitmapError, reportDirty } from '@iovabitmap/core';
import { ReportPool } from '@iovabitmap/workers';
import { ControlBlock, Phase, StopReason, outlastsBudget, reportPlans, walkCallerShare } from '@iovabitmap/workers/internal';
import { firstDiff, twin } from '../helpers/bitmaps.js';
import { GiB } from '../helpers/sizes.js';

/** 1 GiB of 4 KiB leaves with every third page dirty, and its 4 KiB-page bitmap (a clean summary). */
function workload() {
  const table = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  table.map(0n, GiB, { leaf: 4096n });
  table.setDirtyTracking(true);
  for (let p = 0; p < 2 ** 18; p += 3) table.dmaWritePages(p, 1);
  const bitmap = new IovaBitmap({ iova: 0n, length: GiB, pageSize: 4096n });
  return { table, bitmap, sources: [table] };
}

/** What reportDirty leaves: the bitmap, and what is left dirty in the table (read without clearing). */
function reference() {
  const w = workload();
  const stats = reportDirty({ bitmap: w.bitmap, sources: w.sources });
  return { ...w, stats };
}

function leftDirty(table: IoPageTable, like: IovaBitmap): Uint8Array {
  const b = twin(like);
  reportDirty({ bitmap: b, sources: [table], noClear: true });
  return b.snapshot();
}

const CHUNK_BITS = 4096; // 64 chunks of 16 MiB

describe('walkCallerShare', () => {
  function setUp() {
    const w = workload();
    const { plan, countPieces } = reportPlans(w.bitmap, [CHUNK_BITS]);
    // Two task slots and the caller's (slot 2), the counts done as a clean summary allows.
    const ctrl = ControlBlock.create(3, plan.chunks, countPieces, { before: true, after: true });
    const input = { plan, bitmap: w.bitmap, sources: w.sources, names: ['iommu'], noClear: false };
    return { w, plan, ctrl, input };
  }

  it('walks every chunk when nobody else claims and its budget allows, leaving what reportDirty leaves', () => {
    const { w, plan, ctrl, input } = setUp();
    const r = walkCallerShare(ctrl, 2, { ...input, budgetMs: 60_000 });
    const ref = reference();
    expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
    expect(firstDiff(leftDirty(w.table, w.bitmap), leftDirty(ref.table, ref.bitmap))).toBe(-1);
    expect(r).toMatchObject({ chunksLeft: false, stats: { slot: 2, threadId, chunks: plan.chunks } });
    expect(r.stats.total.bitsMarked).toBe(ref.stats.bitsSet);
    expect(r.failure).toBeUndefined();
    expect(ctrl.progress().chunksDone).toBe(plan.chunks);
    expect(r.walkEndMs).toBeGreaterThanOrEqual(r.walkStartMs);
  });

  it('claims nothing with no budget, or once STOP is set, and says chunks are left only in the first case', () => {
    const a = setUp();
    const none = walkCallerShare(a.ctrl, 2, { ...a.input, budgetMs: 0 });
    expect(none).toMatchObject({ chunksLeft: true, stats: { chunks: 0 } });
    expect([a.ctrl.claimed(Phase.Walk), a.w.bitmap.count()]).toEqual([0, 0]);
    const b = setUp();
    b.ctrl.requestStop(StopReason.Abort);
    const stopped = walkCallerShare(b.ctrl, 2, { ...b.input, budgetMs: 60_000 });
    expect(stopped).toMatchObject({ chunksLeft: false, stats: { chunks: 0 } });
    expect(b.w.bitmap.count()).toBe(0);
  });

  it('walks on from where the workers are and stops at the cursor end: chunks claimed by others are theirs', () => {
    const { plan, ctrl, input } = setUp();
    for (let i = 0; i < 10; i++) ctrl.claim(Phase.Walk); // a worker holds chunks 0..9
    const r = walkCallerShare(ctrl, 2, { ...input, budgetMs: 60_000 });
    expect(r).toMatchObject({ chunksLeft: false, stats: { chunks: plan.chunks - 10 } });
    expect(ctrl.progress().chunksDone).toBe(plan.chunks - 10);
  });

  it('stops early when the chunks left, at its pace on two threads, would outlast the budget', () => {
    // 1 chunk in 0.1 ms, 30 left: 0.1 + 30 × 0.1 / 2 = 1.6 ms.
    expect(outlastsBudget(0.1, 1, 30, 2)).toBe(false);
    expect(outlastsBudget(0.1, 1, 30, 1.5)).toBe(true);
    // 4 chunks in 1 ms, 4 left: 1 + 4 × 0.25 / 2 = 1.5 ms.
    expect(outlastsBudget(1, 4, 4, 1.5)).toBe(false);
    expect(outlastsBudget(1, 4, 4, 1.49)).toBe(true);
    expect(outlastsBudget(5, 1, 0, 1)).toBe(false); // nothing left: the loop ends by itself
  });

  it('stops after one chunk of a report that would outlast its budget, leaving the rest to a task', () => {
    const { ctrl, input } = setUp();
    const slow = Object.create(input.sources[0]!) as IoPageTable;
    const cell = new Int32Array(new SharedArrayBuffer(4));
    slow.reportChunk = (...args) => {
      Atomics.wait(cell, 0, 0, 5); // 5 ms a chunk: 64 chunks would take 160 ms on two threads
      return IoPageTable.prototype.reportChunk.apply(input.sources[0]!, args);
    };
    const r = walkCallerShare(ctrl, 2, { ...input, sources: [slow], budgetMs: 50 });
    expect(r).toMatchObject({ chunksLeft: true, stats: { chunks: 1 } });
  });

  it('returns the chunk and error of a source that throws, and finishes its slot', () => {
    const { ctrl, input } = setUp();
    let calls = 0;
    const thrower = Object.create(input.sources[0]!) as IoPageTable;
    thrower.reportChunk = (...args) => {
      if (++calls === 3) throw new IovaBitmapError('EFAULT', 'test: source lost its memory');
      return IoPageTable.prototype.reportChunk.apply(input.sources[0]!, args);
    };
    const r = walkCallerShare(ctrl, 2, { ...input, sources: [thrower], budgetMs: 60_000 });
    expect(r.failure).toMatchObject({ chunk: 2, error: { code: 'EFAULT', message: 'test: source lost its memory' } });
    expect(r).toMatchObject({ chunksLeft: false, stats: { chunks: 2 } });
    expect(ctrl.current(2)).toBe(2); // published before the walk, as a worker does
    expect(ctrl.tryStart(2)).toBe(false); // finished: nobody can start the slot again
  });
});

describe('ReportPool with the caller\u2019s share', () => {
  let shared: ReportPool;
  let alone: ReportPool;
  beforeAll(async () => {
    shared = new ReportPool({ threads: 2, inlineBelow: 0 });
    alone = new ReportPool({ threads: 2, inlineBelow: 0, callerShareMs: 0 });
    await Promise.all([shared.ready(), alone.ready()]);
  });
  afterAll(() => Promise.all([shared.close(), alone.close()]));

  it('has the share on by default (2 ms) and off at 0', () => {
    expect([shared.callerShareMs, alone.callerShareMs]).toEqual([2, 0]);
  });

  it('leaves the same bits and source state as reportDirty, with the caller walking in some reports and never at 0', async () => {
    const ref = reference();
    let callerWalked = 0;
    for (let i = 0; i < 12; i++) {
      for (const pool of [shared, alone]) {
        const w = workload();
        const s = await pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: CHUNK_BITS });
        expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
        expect(firstDiff(leftDirty(w.table, w.bitmap), leftDirty(ref.table, ref.bitmap))).toBe(-1);
        expect(s.bitsSet).toBe(ref.stats.bitsSet);
        expect(s.workers.reduce((n, x) => n + x.chunks, 0)).toBe(s.chunks);
        expect(s.chunks).toBe(64);
        const caller = s.workers.filter((x) => x.threadId === threadId);
        if (pool === alone) {
          expect([caller.length, s.tasks]).toEqual([0, 2]);
        } else if (caller.length > 0) {
          callerWalked++;
          expect(caller[0]!.slot).toBe(2);
          expect(s.tasks).toBeGreaterThanOrEqual(1);
        }
      }
    }
    expect(callerWalked).toBeGreaterThan(0);
  });

  it('posts the last task after all when its budget leaves chunks over', async () => {
    const tiny = new ReportPool({ threads: 2, inlineBelow: 0, callerShareMs: 1e-6 });
    try {
      await tiny.ready();
      const ref = reference();
      let lastPosted = 0;
      for (let i = 0; i < 6; i++) {
        const w = workload();
        const s = await tiny.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: CHUNK_BITS });
        expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
        if (s.tasks === 2) lastPosted++;
        // At most one chunk (the first is always claimed) on the caller's thread.
        expect(s.workers.filter((x) => x.threadId === threadId).every((x) => x.chunks <= 1)).toBe(true);
      }
      expect(lastPosted).toBeGreaterThan(0);
    } finally {
      await tiny.close();
    }
  });

  it('rejects like a worker fault when a source throws on the caller\u2019s thread, and the next report gets the rest', async () => {
    let err: IovaBitmapError | undefined;
    const w = workload();
    const real = w.table.reportChunk.bind(w.table);
    // The caller's object throws; the workers' copies (rebuilt from share()) do not.
    w.table.reportChunk = () => {
      throw new IovaBitmapError('EFAULT', 'test: the caller\u2019s copy failed');
    };
    for (let i = 0; i < 20 && err === undefined; i++) {
      try {
        await shared.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: CHUNK_BITS, noClear: true });
        w.bitmap.clear();
      } catch (e) {
        err = e as IovaBitmapError;
      }
    }
    expect(err).toBeInstanceOf(IovaBitmapError);
    expect(err).toMatchObject({ code: 'EFAULT', message: 'test: the caller\u2019s copy failed', details: { slot: 2, threadId, source: 'iommu' } });
    w.table.reportChunk = real;
    await shared.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: CHUNK_BITS });
    const ref = reference();
    expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
  });
});
