/**
 * migrate() when a round fails: an abort at a random moment, or a worker fault in a random chunk
 * of a random round. Whatever the failed report had already cleared must reach the caller: the
 * MigrateError's union, plus the bitmaps onRound saw, plus what is still dirty in the sources
 * after the device stops, must hold every page the device wrote (the checker's "missing" = 0).
 * Then: errors before the first round stay plain, and a union that cannot be allocated is ENOMEM
 * before the pool or the device is touched.
 */
import { describe, expect, it, vi } from 'vitest';
import { IoPageTable, IovaBitmap, IovaBitmapError, VfTracker, reportDirty, type DirtySource } from '@iovabitmap/core';
import { MigrateError, WriteEpochs, mappingUnitMap, migrate, trackerUnitMap, verifyMigration, type DeviceStats, type MigratePool } from '@iovabitmap/workers';
import { createRng, type Rng } from '@iovabitmap/workers/internal';
import { untilDeviceWrites, usePoolAndDevice } from '../helpers/poolAndDevice.js';
import { rejectionOf } from '../helpers/rejection.js';
import { MiB } from '../helpers/sizes.js';

const BASE = 1n << 34n; // 16 GiB
const LEN = 64n * MiB;

function world(rng: Rng) {
  const mappings = [
    { iova: BASE, length: LEN / 2n, leaf: 4096n },
    { iova: BASE + LEN / 2n, length: LEN / 2n, leaf: 2n * MiB },
  ];
  const pt = new IoPageTable({ format: (['vtd-ss', 'amd-v1', 'smmu-v3'] as const)[rng.int(3)]!, name: 'iommu' });
  for (const m of mappings) pt.map(m.iova, m.length, { leaf: m.leaf });
  pt.setDirtyTracking(true);
  const units = [mappingUnitMap('iommu', mappings)];
  const sources: DirtySource[] = [pt];
  let vf: VfTracker | undefined;
  if (rng.int(2) === 1) {
    vf = new VfTracker({ name: 'vf0' });
    const started = vf.start({ ranges: [{ iova: BASE, length: LEN }], pageSize: 4096 });
    units.push(trackerUnitMap({ name: 'vf0', ...started }));
    sources.push(vf);
  }
  const gt = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
  return { pt, vf, gt, units, sources };
}

/** ORs the bits of `src` into `dst` (same geometry). */
function orInto(dst: IovaBitmap, src: IovaBitmap): void {
  const d = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  const s = src.snapshot();
  for (let i = 0; i < d.length; i++) d[i]! |= s[i]!;
}

/** Bits set in `a` and not in `b` (same geometry). */
function countAndNot(a: IovaBitmap, b: IovaBitmap): number {
  const x = a.snapshot();
  const y = b.snapshot();
  let n = 0;
  for (let i = 0; i < x.length; i++) for (let d = x[i]! & ~y[i]!; d !== 0; d &= d - 1) n++;
  return n;
}

describe('migrate() when a round fails', () => {
  const h = usePoolAndDevice();

  it('hands over every page recorded so far: union ∪ onRound bitmaps ∪ still dirty ⊇ ground truth', async () => {
    let rescued = 0; // pages only the error's union holds: what the failed rounds had cleared
    for (let k = 0; k < 10; k++) {
      const seed = 0x51ed + k;
      const rng = createRng(seed);
      const w = world(rng);
      const pageSize = rng.int(2) === 0 ? 4096n : 64n * 1024n;
      const chunkBits = pageSize === 4096n ? 128 : 32;
      const chunks = (Number(LEN / pageSize) / chunkBits) * w.sources.length; // per report
      const geometry = { iova: BASE, length: LEN, pageSize };
      const received = new IovaBitmap(geometry);
      const seen: unknown[] = [];
      const abort = k % 2 === 0;
      const ac = new AbortController();
      let pool: MigratePool = h.pool;
      let rounds = 254; // the most there may be; never all run: the abort comes first
      if (abort) {
        setTimeout(() => ac.abort(new Error('operator pressed ^C')), 1 + rng.int(40));
      } else {
        // A worker throws (or, once, dies) in a random chunk of a random round, the final one included.
        rounds = 4;
        const failAt = rng.int(rounds + 1);
        const fault = { afterChunks: 1 + rng.int(Math.min(40, chunks - 1)), mode: k === 1 ? ('exit' as const) : ('throw' as const) };
        let calls = 0;
        pool = { report: (o) => h.pool.report(calls++ === failAt ? { ...o, faultInjection: fault } : o) };
      }
      await h.device.attach({ pageTable: w.pt.share(), ...(w.vf ? { tracker: w.vf.share() } : {}), groundTruth: w.gt.share() });
      await h.device.start({ pattern: (['uniform', 'sequential', 'hotset', 'burst'] as const)[rng.int(4)]!, rate: 100_000 + rng.int(400_000), seed });
      await untilDeviceWrites(h.device); // a fault in round 0 can end the migration before the device's first batch
      const e = await rejectionOf(
        migrate({
          bitmapPageSize: pageSize,
          rounds,
          sources: w.sources,
          device: h.device,
          pool,
          units: w.units,
          chunkBits,
          signal: ac.signal,
          onRound: (round, bitmap) => {
            seen.push(round);
            orInto(received, bitmap);
          },
        }),
      );
      const what = `seed ${seed} (${abort ? 'abort' : 'fault'}): ${e.message}`;
      expect(MigrateError.is(e), what).toBe(true);
      const err = e as MigrateError;
      expect(err.code, what).toBe(abort ? 'ECANCELED' : 'EIO');
      expect(err.failedRound, what).toBe(err.rounds.length);
      expect(err.rounds, what).toEqual(seen);
      expect(err.details.failedRound, what).toBe(err.failedRound);
      expect([err.union.iova, err.union.length, err.union.pageSize]).toEqual([BASE, LEN, pageSize]);

      await h.device.stop();
      const still = new IovaBitmap(geometry);
      reportDirty({ bitmap: still, sources: w.sources, noClear: true });
      const handed = new IovaBitmap(geometry);
      orInto(handed, received);
      orInto(handed, err.union);
      const v = verifyMigration({ groundTruth: w.gt, reported: handed, units: w.units });
      expect(v.groundTruthBits, what).toBeGreaterThan(0);
      orInto(handed, still);
      const all = verifyMigration({ groundTruth: w.gt, reported: handed, units: w.units });
      expect(all.missing, `${what}; missing at ${all.missingSample.map((x) => x.toString(16)).join(' ')}`).toBe(0);
      expect(all.unexpected, what).toBe(0);
      rescued += countAndNot(err.union, received);
    }
    // The test means something only if some failed report had cleared pages before it failed.
    expect(rescued).toBeGreaterThan(0);
  });

  it('rejects bad arguments with plain IovaBitmapErrors before any round, touching neither pool nor device', async () => {
    const w = world(createRng(1));
    const pool = { report: vi.fn() };
    const device = { groundTruth: w.gt, writeEpochs: WriteEpochs.forGroundTruth(w.gt), stop: vi.fn() };
    w.pt.setDirtyTracking(false);
    const e = await rejectionOf(migrate({ bitmapPageSize: 4096, rounds: 2, sources: w.sources, device, pool, units: w.units }));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toMatch(/dirty tracking is off/);
    expect(MigrateError.is(e)).toBe(false);
    w.pt.setDirtyTracking(true);
    expect((await rejectionOf(migrate({ bitmapPageSize: 4096, rounds: 2, sources: w.sources, device, pool, verifyEachRound: 'yes' as never }))).param).toBe('verifyEachRound');
    expect((await rejectionOf(migrate({ bitmapPageSize: 4096, rounds: 2, sources: w.sources, device, pool, chunkBits: 33 }))).param).toBe('chunkBits');
    expect((await rejectionOf(migrate({ bitmapPageSize: 4096, rounds: 2, sources: w.sources, device, pool, units: [{ name: 'x' }] as never }))).param).toBe('units');
    expect(pool.report).not.toHaveBeenCalled();
    expect(device.stop).not.toHaveBeenCalled();
  });

  it('turns a union that cannot be allocated into ENOMEM before the pool or the device is touched', async () => {
    const w = world(createRng(2));
    const pool = { report: vi.fn() };
    const device = { groundTruth: w.gt, writeEpochs: WriteEpochs.forGroundTruth(w.gt), stop: vi.fn(async () => ({}) as DeviceStats) };
    const bytes = IovaBitmap.bytesFor(LEN, 4096);
    let allocations = 0;
    // The round bitmap is allocated first; the second buffer of its size (the union) fails.
    const failSecond = <C extends new (n: number) => object>(C: C): C =>
      new Proxy(C, {
        construct(target, args: [number], newTarget) {
          if (args[0] === bytes && ++allocations === 2) throw new RangeError('Array buffer allocation failed');
          return Reflect.construct(target, args, newTarget) as object;
        },
      });
    vi.stubGlobal('SharedArrayBuffer', failSecond(SharedArrayBuffer));
    vi.stubGlobal('ArrayBuffer', failSecond(ArrayBuffer));
    let e: IovaBitmapError;
    try {
      e = await rejectionOf(migrate({ bitmapPageSize: 4096, rounds: 2, sources: w.sources, device, pool, units: w.units }));
    } finally {
      vi.unstubAllGlobals();
    }
    expect(allocations).toBe(2);
    expect(e.code).toBe('ENOMEM');
    expect(MigrateError.is(e)).toBe(false);
    expect(pool.report).not.toHaveBeenCalled();
    expect(device.stop).not.toHaveBeenCalled();
  });
});
