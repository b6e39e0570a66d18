/**
 * Several real worker threads set bits in one shared IovaBitmap at the same time.
 *
 * Each round, two workers (./workers/bitmapSetter.ts; this machine has two cores) rebuild a view
 * from `share()`, meet at a spin barrier, then write: interleaved single bits (worker i sets every
 * bit k with k % 2 == i, so both write every 32-bit word at the same moment), interleaved orMask words,
 * and random overlapping set / setBits / setUnits ranges. The bitmap sits at an unaligned
 * byteOffset inside random guard bytes, sometimes with its last byte in a partial tail word.
 * Afterwards the whole buffer must equal the model's union of every worker's operations: no lost
 * bit, no bit or byte outside the bitmap written, and every set bit in a block its summary marks
 * (core's bitmap/bitSummary.ts). One test has the main thread clear() the bitmap in a loop while
 * the workers set: after they join, the summary must still cover every bit that survived (the
 * ordering rule: writers mark after their data, clear takes the summary before the data).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '@iovabitmap/workers/internal';
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { BitModel, describeMismatch, expectedBuffer, makeArena } from './helpers/bitModel.js';
import type { SetterData, SetterReply, SetterRound } from './workers/bitmapSetter.js';
import { applySetterOp, type SetterOp } from './helpers/setterOps.js';
import { countInBytes, firstDiff, uncoveredBits } from '../helpers/bitmaps.js';

/** Two workers: as many as this machine has cores, so that both really run at once. */
const WORKERS = 2;
const ROUNDS = 40;

/** A worker and the replies it has sent that nobody has taken yet. */
class Setter {
  readonly worker: Worker;
  #queue: SetterReply[] = [];
  #waiting: { resolve: (r: SetterReply) => void; reject: (e: unknown) => void }[] = [];
  #failure: unknown;

  constructor(id: number, control: SharedArrayBuffer) {
    const data: SetterData = { control, id };
    this.worker = startWorker(new URL('./workers/bitmapSetter.ts', import.meta.url), { workerData: data });
    this.worker.on('message', (m: SetterReply) => {
      const w = this.#waiting.shift();
      if (w) w.resolve(m);
      else this.#queue.push(m);
    });
    const fail = (e: unknown) => {
      this.#failure = e;
      for (const w of this.#waiting.splice(0)) w.reject(e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`worker ${id} exited with code ${code}`)));
  }

  /** The next reply; rejects if the worker dies. */
  next(): Promise<SetterReply> {
    const m = this.#queue.shift();
    if (m) return Promise.resolve(m);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}

let setters: Setter[] = [];
const control = new SharedArrayBuffer(16);
const ctl = new Int32Array(control);
let round = 0;

/** Runs one round: every worker gets its ops, all are released together; returns the replies. */
async function runRound(bitmap: IovaBitmap, opsPerWorker: SetterOp[][]): Promise<SetterReply[]> {
  round++;
  const shared = bitmap.share();
  setters.forEach((s, i) => s.worker.postMessage({ round, parties: setters.length, bitmap: shared, ops: opsPerWorker[i]! } satisfies SetterRound));
  const ready = await Promise.all(setters.map((s) => s.next()));
  for (const r of ready) {
    if (r.kind === 'error') return ready;
    expect(r).toMatchObject({ kind: 'ready', round });
  }
  Atomics.store(ctl, 1, 0);
  Atomics.store(ctl, 0, round);
  Atomics.notify(ctl, 0);
  return Promise.all(setters.map((s) => s.next()));
}

beforeAll(() => {
  setters = Array.from({ length: WORKERS }, (_, i) => new Setter(i, control));
});

afterAll(async () => {
  await Promise.all(setters.map((s) => s.worker.terminate()));
});

/** A small deterministic PRNG (mulberry32) so that a failing round can be replayed. */
class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** An integer in [min, max]. */
  nextInt(min: number, max: number): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    return min + Math.floor(u * (max - min + 1));
  }
}

/** Random ops for one worker: its interleaved bits and masks, then random overlapping ranges. */
function opsFor(rng: Rng, id: number, bitmap: IovaBitmap, random: number): SetterOp[] {
  const n = bitmap.nbits;
  const P = bitmap.pageSize;
  const ops: SetterOp[] = [{ kind: 'stride', first: id, step: WORKERS, count: Math.ceil((n - id) / WORKERS) }];
  // Interleaved masks: bits j * WORKERS + id of every 32-bit group, at an offset that is not word-aligned.
  let mask = 0;
  for (let j = id; j < 32; j += WORKERS) mask |= 1 << j;
  const off = rng.nextInt(0, 31);
  for (let p = -off; p < n; p += 32) ops.push({ kind: 'orMask', first: p, mask });
  for (let r = 0; r < random; r++) {
    const a = rng.nextInt(-3, n + 3);
    const len = rng.nextInt(0, Math.max(1, n >> 2));
    switch (rng.nextInt(0, 2)) {
      case 0: {
        const iova = bitmap.iova + BigInt(a) * P + BigInt(rng.nextInt(0, 4095)) % P;
        if (iova >= 0n && iova < 2n ** 64n) ops.push({ kind: 'set', iova, length: BigInt(len) * P + BigInt(rng.nextInt(0, 1)) });
        break;
      }
      case 1:
        ops.push({ kind: 'setBits', first: a, count: len });
        break;
      case 2: {
        const shift = bitmap.pageShift + rng.nextInt(-2, 3);
        if (shift < 0 || shift > 63) break;
        const unit = Number(bitmap.iova >> BigInt(shift)) + Math.floor((a * 2 ** bitmap.pageShift) / 2 ** shift);
        if (Number.isSafeInteger(unit) && unit >= 0) ops.push({ kind: 'setUnits', unit, count: Math.max(1, len), shift });
        break;
      }
    }
  }
  return ops;
}

describe('worker threads setting bits in one shared bitmap', () => {
  it(
    'lose no bit and write nothing outside the bitmap, round after round',
    async () => {
      const rng = new Rng(20240229);
      for (let r = 0; r < ROUNDS; r++) {
        const nbits = rng.nextInt(1, 4) === 1 ? rng.nextInt(32, 300) : rng.nextInt(20_000, 60_000);
        // Unaligned offsets, some right at a 4 KiB edge; a tail that sometimes leaves a partial word.
        const byteOffset = [1, 2, 3, 4093, 0xff1, 4095, 4097][r % 7]! + 8 * rng.nextInt(0, 3);
        const tail = rng.nextInt(0, 3);
        const pageShift = [12, 0, 21, 9][r % 4]!;
        const P = 2n ** BigInt(pageShift);
        const iova = r % 5 === 4 ? 2n ** 64n - BigInt(nbits) * P : BigInt(rng.nextInt(0, 2 ** 20)) * P;
        const arena = makeArena(nbits, byteOffset, tail, 1000 + r);
        const bitmap = new IovaBitmap({ iova, length: BigInt(nbits) * P, pageSize: P, buffer: arena.buffer, byteOffset });
        bitmap.rescan(); // an exact (empty) summary: the workers' marks must cover their bits
        const model = new BitModel(bitmap.iova, bitmap.length, bitmap.pageSize);
        const ops = setters.map((_, id) => opsFor(rng, id, bitmap, r % 3 === 0 ? 0 : 30));
        for (const list of ops) for (const op of list) applySetterOp(model, op);

        const replies = await runRound(bitmap, ops);
        for (const rep of replies) {
          expect(rep.kind, rep.kind === 'error' ? rep.error.message : '').toBe('done');
        }
        const got = new Uint8Array(arena.buffer);
        const want = expectedBuffer(arena, model);
        const at = firstDiff(got, want);
        expect(at, `round ${r} (nbits ${nbits}, byteOffset ${byteOffset}): ${describeMismatch(arena, got, want)}`).toBe(-1);
        expect(uncoveredBits(bitmap), `round ${r}: set bits in unmarked blocks`).toBe(0);
        expect(bitmap.count()).toBe(model.count());
        // The interleaved strides alone cover every bit.
        expect(model.count()).toBe(nbits);
      }
    },
    60_000,
  );

  it('overlapping ranges written by all workers at once, then cleared and written again', async () => {
    const nbits = 50_000;
    const arena = makeArena(nbits, 4093, 1, 77);
    const bitmap = new IovaBitmap({ iova: 2n ** 40n, length: BigInt(nbits) * 4096n, pageSize: 4096, buffer: arena.buffer, byteOffset: 4093 });
    bitmap.rescan();
    for (let pass = 0; pass < 6; pass++) {
      const model = new BitModel(bitmap.iova, bitmap.length, bitmap.pageSize);
      // Every worker sets runs that start at a different phase inside each word and overlap the
      // other workers' runs: heads and tails of runs share words (Atomics.or) with whole-word
      // stores of other runs.
      const ops = setters.map((_, id) => {
        const list: SetterOp[] = [];
        for (let p = id * 11 + pass; p < nbits; p += 97) list.push({ kind: 'setBits', first: p, count: 13 + ((p + id) % 60) });
        return list;
      });
      for (const list of ops) for (const op of list) applySetterOp(model, op);
      const replies = await runRound(bitmap, ops);
      expect(replies.map((x) => x.kind)).toEqual(setters.map(() => 'done'));
      const got = new Uint8Array(arena.buffer);
      const want = expectedBuffer(arena, model);
      expect(firstDiff(got, want), describeMismatch(arena, got, want)).toBe(-1);
      expect([uncoveredBits(bitmap), bitmap.count()]).toEqual([0, model.count()]);
      bitmap.clear();
      expect(firstDiff(got, arena.initial)).toBe(-1);
    }
  });

  it('the summary covers every set bit after workers set while the main thread clears (the ordering rule)', async () => {
    // Workers mark the summary after their data; clear() takes the summary before zeroing the data.
    // Whatever survives the race must lie in a marked block once the workers have joined.
    const nbits = 200_000;
    const bitmap = new IovaBitmap({ iova: 0, length: BigInt(nbits) * 4096n, pageSize: 4096 });
    const rng = new Rng(7);
    for (let pass = 0; pass < 12; pass++) {
      const ops = setters.map((_, id) => {
        const list: SetterOp[] = [];
        for (let i = 0; i < 3000; i++) {
          const first = rng.nextInt(0, nbits - 1);
          list.push(i % 3 === 0 ? { kind: 'orMask', first, mask: rng.nextInt(1, 2 ** 31 - 1) } : { kind: 'setBits', first, count: rng.nextInt(1, 40 + id * 600) });
        }
        return list;
      });
      const done = runRound(bitmap, ops);
      // runRound releases the round once both workers replied 'ready' (the event loop must run for
      // that), then they meet at the barrier (ctl[1], zeroed before the release): clear while they write.
      let clears = 0;
      const t0 = performance.now();
      while (Atomics.load(ctl, 0) !== round && performance.now() - t0 < 5000) await new Promise((r) => setImmediate(r));
      while (Atomics.load(ctl, 1) < setters.length && performance.now() - t0 < 5000) {
        // spin: the workers are about to start
      }
      for (const t1 = performance.now(); performance.now() - t1 < 15; clears++) bitmap.clear();
      const replies = await done;
      expect(replies.map((x) => x.kind)).toEqual(setters.map(() => 'done'));
      expect(clears).toBeGreaterThan(0);
      expect(uncoveredBits(bitmap), `pass ${pass}: set bits in unmarked blocks`).toBe(0);
      expect(bitmap.count()).toBe(countInBytes(bitmap));
      bitmap.clear();
      expect(countInBytes(bitmap)).toBe(0);
    }
  });

  it('an error in a worker comes back as data that IovaBitmapError recognises and rebuilds', async () => {
    const bitmap = new IovaBitmap({ iova: 0, length: 64, pageSize: 1 });
    const ops: SetterOp[][] = setters.map((_, id) => (id === 1 ? [{ kind: 'setBits', first: Number.NaN, count: 1 }] : [{ kind: 'setBits', first: id, count: 1 }]));
    const replies = await runRound(bitmap, ops);
    const bad = replies.find((x) => x.kind === 'error');
    expect(bad).toBeDefined();
    if (bad?.kind !== 'error') return;
    expect(IovaBitmapError.is(bad.error)).toBe(true);
    const e = IovaBitmapError.fromData(bad.error, { worker: bad.id });
    expect([e.code, e.param, e.details.worker]).toEqual(['EINVAL', 'firstBit', 1]);
    // Worker 1 wrote nothing; the others set their bit.
    expect(bitmap.testBit(1)).toBe(false);
    expect(bitmap.count()).toBe(setters.length - 1);
    expect(bitmap.testBit(0)).toBe(true);
  });
});
