/**
 * ReportPool when things go wrong: rejected requests write nothing; an abort stops every worker
 * before the promise settles and loses nothing; a worker that exits or throws mid-chunk makes the
 * report fail with EIO naming the source and chunk, loses nothing, and the pool carries on;
 * errors from sources keep their code and message; progress and close behave.
 *
 * "Loses nothing" is checked against core's reportDirty on an identical workload: the bitmap of
 * the failed report united with the bitmap of a second report must equal the reference bitmap
 * (every dirty page that was cleared is in the first bitmap, the rest is found by the second).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { IoPageTable, IovaBitmap, VfTracker, reportDirty } from '@iovabitmap/core';
import { MAX_POOL_THREADS, ReportPool, type ReportProgress } from '@iovabitmap/workers';
import { BITMAP_SUMMARY, sameMemoryOptions, type InternalIovaBitmapOptions } from '@iovabitmap/core/internal';
import { availableParallelism } from 'node:os';
import { firstDiff, twin } from '../helpers/bitmaps.js';
import { GiB, MiB } from '../helpers/sizes.js';
import { rejection, rejectionOf } from '../helpers/rejection.js';


/** 256 MiB of 4 KiB leaves + 768 MiB of 2 MiB leaves from 1 GiB, and a tracker; every 3rd page written. */
function smallWorkload() {
  const table = new IoPageTable({ format: 'smmu-v3', name: 'iommu' });
  table.map(GiB, 256n * MiB, { leaf: 4096n });
  table.map(GiB + 256n * MiB, 768n * MiB, { leaf: 2n * MiB });
  table.setDirtyTracking(true);
  const tracker = new VfTracker({ name: 'vf' });
  tracker.start({ ranges: [{ iova: GiB, length: GiB }], pageSize: 8192n });
  for (let p = 2 ** 18; p < 2 ** 18 + 2 ** 18; p += 3) {
    table.dmaWritePages(p, 1);
    if (p % 5 === 0) tracker.dmaWritePages(p, 1);
  }
  const bitmap = new IovaBitmap({ iova: GiB, length: GiB, pageSize: 4096n });
  return { table, tracker, bitmap, sources: [table, tracker] };
}

/** 64 GiB of 2 MiB leaves, all dirty: a long walk at chunkBits 32 (2^19 chunks). */
function bigWorkload() {
  const table = new IoPageTable({ format: 'vtd-ss', name: 'big' });
  table.map(0n, 64n * GiB, { leaf: 2n * MiB });
  table.setDirtyTracking(true);
  table.dmaWrite(0n, 64n * GiB);
  const bitmap = new IovaBitmap({ iova: 0n, length: 64n * GiB, pageSize: 4096n });
  return { table, bitmap, sources: [table] };
}

/** Bytewise OR of two snapshots. */
function union(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x | b[i]!);
}

// Every report of `pool` runs on its workers alone (these tests are about them; the caller's
// share has its own, pool.callerShare.test.ts); `inline` runs every profiled report on the
// caller's thread, for the checks both paths must share.
let pool: ReportPool;
let inline: ReportPool;
beforeAll(async () => {
  pool = new ReportPool({ threads: 2, inlineBelow: 0, callerShareMs: 0 });
  inline = new ReportPool({ threads: 1, warmUp: false, inlineBelow: Number.MAX_SAFE_INTEGER });
  await pool.ready();
});
afterAll(() => Promise.all([pool.close(), inline.close()]));
const PATHS = ['on the workers', "on the caller's thread"] as const;
const poolFor = (path: (typeof PATHS)[number]): ReportPool => (path === PATHS[0] ? pool : inline);

describe('ReportPool validation', () => {
  it('rejects bad constructor options with EINVAL naming the option', () => {
    for (const [options, param] of [
      [{ threads: 0 }, 'threads'],
      [{ threads: 1.5 }, 'threads'],
      [{ chunkBits: 48 }, 'chunkBits'],
      [{ chunkBits: 16 }, 'chunkBits'],
      [{ progressIntervalMs: 10 }, 'progressIntervalMs'],
      [{ warmUp: 'yes' }, 'warmUp'],
      [{ inlineBelow: -1 }, 'inlineBelow'],
      [{ inlineBelow: 0.5 }, 'inlineBelow'],
      [{ inlineBelow: '5' }, 'inlineBelow'],
      [{ inlineBelow: Infinity }, 'inlineBelow'],
      [{ inlineBelow: NaN }, 'inlineBelow'],
      [{ inlineBelow: 2 ** 53 }, 'inlineBelow'],
      [{ callerShareMs: -1 }, 'callerShareMs'],
      [{ callerShareMs: 1001 }, 'callerShareMs'],
      [{ callerShareMs: NaN }, 'callerShareMs'],
      [{ callerShareMs: '2' }, 'callerShareMs'],
    ] as const) {
      expect(rejection(() => new ReportPool(options as never))).toMatchObject({ code: 'EINVAL', param });
    }
  });

  it('refuses more threads than MAX_POOL_THREADS (4 × cores, at least 4), saying what a worker costs', () => {
    expect(MAX_POOL_THREADS).toBe(Math.max(4, 4 * availableParallelism()));
    const err = rejection(() => new ReportPool({ threads: MAX_POOL_THREADS + 1, warmUp: false }));
    expect(err).toMatchObject({ code: 'EINVAL', param: 'threads' });
    expect(err.message).toContain(`[1, ${MAX_POOL_THREADS}]`);
    expect(err.message).toContain('~30 MiB');
  });

  it("wraps a source whose share() throws into EINVAL naming it, before anything is posted", async () => {
    const w = smallWorkload();
    const broken = {
      name: 'broken',
      checkReport: () => {},
      reportChunk: () => ({ entriesVisited: 0, dirtyLeaves: 0, bitsMarked: 0 }),
      share: () => {
        throw new Error('no descriptor today');
      },
    };
    const hollow = { ...broken, name: 'hollow', share: () => 42 };
    const before = w.bitmap.snapshot();
    const e = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: [w.table, broken as never] }));
    expect(e).toMatchObject({ code: 'EINVAL', param: 'sources', value: '"broken"' });
    expect(e.message).toBe('ReportPool.report: source "broken" could not be shared: Error: no descriptor today');
    expect((await rejectionOf(pool.report({ bitmap: w.bitmap, sources: [hollow as never] }))).message).toMatch(/share\(\) returned no descriptor.*"hollow"/);
    expect(firstDiff(w.bitmap.snapshot(), before)).toBe(-1);
    expect(reportDirty({ bitmap: twin(w.bitmap), sources: [w.table], noClear: true }).bitsSet).toBeGreaterThan(0); // nothing cleared
  });

  it.for(PATHS)('rejects a bad request before posting anything: the bitmap and the sources are unchanged (%s)', async (path) => {
    const pool = poolFor(path);
    const w = smallWorkload();
    const bytes = new Uint8Array(w.bitmap.buffer);
    bytes.fill(0x5a);
    const before = bytes.slice();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ chunkBits: 40 }, 'EINVAL', 'chunkBits'],
      [{ threads: 3 }, 'EINVAL', 'threads'],
      [{ noClear: 1 }, 'EINVAL', 'noClear'],
      [{ signal: {} }, 'EINVAL', 'signal'],
      [{ onProgress: 5 }, 'EINVAL', 'onProgress'],
      [{ faultInjection: { afterChunks: -1, mode: 'exit' } }, 'EINVAL', 'faultInjection'],
      [{ sources: [w.table, w.table] }, 'EINVAL', 'sources'],
      [{ sources: [] }, 'EINVAL', 'sources'],
      [{ bitmap: new IovaBitmap({ iova: GiB, length: 2n * GiB, pageSize: 4096n }) }, 'ENOENT', 'iova'],
      [{ bitmap: new IovaBitmap({ iova: GiB, length: GiB, pageSize: 4096n, buffer: new ArrayBuffer(1 << 15) }) }, 'EINVAL', 'buffer'],
    ];
    for (const [extra, code, param] of cases) {
      const err = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources, ...extra } as never));
      expect(err, JSON.stringify(Object.keys(extra))).toMatchObject({ code, param });
    }
    w.table.setDirtyTracking(false);
    expect(await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources }))).toMatchObject({ code: 'EINVAL', param: 'tracking' });
    expect(firstDiff(bytes, before)).toBe(-1);
    // The sources still hold everything: a fresh noClear read equals one of an untouched copy.
    const ref = smallWorkload();
    const a = twin(ref.bitmap);
    const b = twin(w.bitmap);
    reportDirty({ bitmap: a, sources: [ref.tracker], noClear: true });
    reportDirty({ bitmap: b, sources: [w.tracker], noClear: true });
    expect(firstDiff(b.snapshot(), a.snapshot())).toBe(-1);
    expect(b.count()).toBeGreaterThan(0);
  });

  it('keeps the code and message of a source error raised in a worker, adding the source and chunk', async () => {
    const w = smallWorkload();
    const p = pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 4096 });
    // Validation has passed synchronously; the workers now find the tracker stopped.
    w.tracker.stop();
    const err = await rejectionOf(p);
    expect(err.code).toBe('EINVAL');
    expect(err.message).toMatch(/^VfTracker\(vf\)/);
    expect(err.details).toMatchObject({ source: 'vf', chunk: expect.any(Number) });
  });
});

describe('ReportPool abort', () => {
  it('rejects with ECANCELED, settles only after every worker stopped, loses nothing, and the pool works after', async () => {
    const w = bigWorkload();
    const ac = new AbortController();
    let tAbort = 0;
    // Abort from the first progress call that shows the walk under way (calls come every 100 ms).
    const onProgress = (p: ReportProgress) => {
      if (p.chunksDone > 0 && !ac.signal.aborted) {
        tAbort = performance.now();
        ac.abort(new Error('stop now'));
      }
    };
    const err = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 32, signal: ac.signal, onProgress }));
    const latency = performance.now() - tAbort;
    expect(err.code).toBe('ECANCELED');
    expect(err.cause).toMatchObject({ message: 'stop now' });
    const { chunksDone, chunksTotal } = err.details as { chunksDone: number; chunksTotal: number };
    expect(chunksTotal).toBe(2 ** 19);
    expect(chunksDone).toBeGreaterThan(0);
    expect(chunksDone).toBeLessThan(chunksTotal);
    console.log(`abort: settled ${latency.toFixed(1)} ms after abort(), ${chunksDone} of ${chunksTotal} chunks done`);
    // No worker writes after the promise settled.
    const atSettle = w.bitmap.snapshot();
    await sleep(30);
    expect(firstDiff(w.bitmap.snapshot(), atSettle)).toBe(-1);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // Record before clear: what the first report cleared is in its bitmap; the next finds the rest.
    const rest = twin(w.bitmap);
    const s = await pool.report({ bitmap: rest, sources: w.sources });
    expect(s.chunks).toBe(1); // sized from the work profile: 2^15 entries of 2 MiB leaves make one chunk
    const all = union(w.bitmap.snapshot(), rest.snapshot());
    expect(all.every((x) => x === 0xff)).toBe(true);
    expect(w.bitmap.count() + rest.count()).toBe(w.bitmap.nbits);
  });

  it('settles an aborted report whose tasks are still queued at once, without waiting for the busy workers', async () => {
    const big = bigWorkload();
    let bigDone = false;
    // Both workers busy with a long walk (2^19 chunks)...
    const a = pool.report({ bitmap: big.bitmap, sources: big.sources, chunkBits: 32, noClear: true }).then((s) => {
      bigDone = true;
      return s;
    });
    // ...so this report's tasks wait in piscina's queue when it is aborted.
    const w = smallWorkload();
    const ac = new AbortController();
    const b = pool.report({ bitmap: w.bitmap, sources: w.sources, signal: ac.signal });
    await sleep(20);
    ac.abort();
    expect((await rejectionOf(b)).code).toBe('ECANCELED');
    expect(bigDone).toBe(false);
    expect(w.bitmap.count()).toBe(0);
    const s = await a;
    expect(s.bitsSet).toBe(big.bitmap.nbits);
    // The cancelled tasks ran later as no-ops: the small workload is still all there.
    const ref = smallWorkload();
    reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
    await pool.report({ bitmap: w.bitmap, sources: w.sources });
    expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
  });

  it.for(PATHS)('rejects with ECANCELED and writes nothing when the signal is already aborted (%s)', async (path) => {
    const pool = poolFor(path);
    const w = smallWorkload();
    const err = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources, signal: AbortSignal.abort() }));
    expect(err.code).toBe('ECANCELED');
    expect(err.message).toBe('ReportPool.report: aborted before it started');
    expect(w.bitmap.count()).toBe(0);
    expect(reportDirty({ bitmap: twin(w.bitmap), sources: w.sources, noClear: true }).bitsSet).toBeGreaterThan(0); // nothing cleared
  });
});

describe('ReportPool faults', () => {
  for (const mode of ['exit', 'throw'] as const) {
    for (const k of [0, 1, 37]) {
      it(`rejects with EIO naming the source and chunk when a worker ${mode === 'exit' ? 'exits' : 'throws'} in chunk ${k}, and loses nothing`, async () => {
        const ref = smallWorkload();
        reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
        const w = smallWorkload();
        const err = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 256, faultInjection: { afterChunks: k, mode } }));
        expect(err.code).toBe('EIO');
        expect(err.details).toMatchObject({ source: 'iommu', chunk: k, chunkLo: `0x${(GiB + BigInt(k) * 256n * 4096n).toString(16)}` });
        expect(err.message).toContain(`chunk ${k} of source "iommu"`);
        expect(err.message).toContain(mode === 'exit' ? 'worker exited with code: 1' : `injected fault in chunk ${k}`);
        // Half of chunk k was recorded before the worker died.
        expect(w.bitmap.countBits(k * 256, 128)).toBeGreaterThan(0);
        const rest = twin(w.bitmap);
        const s = await pool.report({ bitmap: rest, sources: w.sources });
        expect(s.bitsSet).toBeGreaterThan(0);
        expect(firstDiff(union(w.bitmap.snapshot(), rest.snapshot()), ref.bitmap.snapshot())).toBe(-1);
        // Nothing is left behind either.
        const left = twin(w.bitmap);
        expect((await pool.report({ bitmap: left, sources: w.sources, noClear: true })).bitsSet).toBe(0);
      });
    }
  }

  it('after a worker died inside a walk (2 MiB leaves, summary marks held back), the summary readers see every bit it wrote', async () => {
    const w = smallWorkload();
    const k = 300; // iommu chunk 300: 2 MiB leaves (from 256 MiB in), a leaf starting in it
    const err = await rejectionOf(pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 256, faultInjection: { afterChunks: k, mode: 'exit' } }));
    expect(err.code).toBe('EIO');
    const flatOptions: InternalIovaBitmapOptions = { ...sameMemoryOptions(w.bitmap), [BITMAP_SUMMARY]: false };
    const flat = new IovaBitmap(flatOptions); // no summary: reads every byte
    expect(flat.countBits(k * 256, 512)).toBe(512); // the leaf was recorded (and cleared in the source)
    expect(w.bitmap.count()).toBe(flat.count());
    expect([...w.bitmap.dirtyRanges()]).toEqual([...flat.dirtyRanges()]);
  });

  it('has replaced the dead workers', async () => {
    for (let i = 0; i < 100 && pool.status.workers < 2; i++) await sleep(20);
    expect(pool.status.workers).toBe(2);
  });
});

describe('ReportPool progress and close', () => {
  it('reports progress while walking and once more at the end, with the totals', async () => {
    const w = bigWorkload();
    const seen: ReportProgress[] = [];
    const s = await pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 64, noClear: true, onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThanOrEqual(1);
    const last = seen.at(-1)!;
    expect(last).toEqual({ chunksDone: s.chunks, chunksTotal: s.chunks, bytesScanned: 64n * GiB, bytesTotal: 64n * GiB });
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.chunksDone).toBeGreaterThanOrEqual(seen[i - 1]!.chunksDone);
      expect(seen[i]!.bytesScanned).toBeGreaterThanOrEqual(seen[i - 1]!.bytesScanned);
    }
    console.log(`progress: ${seen.length} calls over a ${s.elapsedMs.toFixed(0)} ms walk`);
  });

  it('waits for reports in flight on close(), then rejects new ones with EBUSY', async () => {
    const own = new ReportPool({ threads: 1, warmUp: false });
    const w = smallWorkload();
    const ref = smallWorkload();
    reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
    const p = own.report({ bitmap: w.bitmap, sources: w.sources });
    const closing = own.close();
    expect(own.close()).toBe(closing);
    await closing;
    await p;
    expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
    expect(await rejectionOf(own.report({ bitmap: w.bitmap, sources: w.sources }))).toMatchObject({ code: 'EBUSY' });
    expect(own.status).toMatchObject({ workers: 0, closed: true });
  });
});
