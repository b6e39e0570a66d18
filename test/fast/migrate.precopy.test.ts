/**
 * Pre-copy as a migration engineer sees it: the link model's arithmetic (LinkQueue, the
 * prediction, the convergence rule), the stale check of the checker on hand-made epochs, and
 * small migrations over a modelled link with the real pool and device: a guest that dirties slower
 * than the link converges and verifies, one that dirties faster is reported as not converging
 * within 3 rounds, streamed and harvest-then-send rounds both verify.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { ReportedRounds, WriteEpochs, mappingUnitMap, migrate, verifyMigration } from '@iovabitmap/workers';
import { LinkQueue, RATE_ROUNDS, convergenceStop, predictDowntime } from '@iovabitmap/workers/internal';
import { usePoolAndDevice } from '../helpers/poolAndDevice.js';
import { MiB } from '../helpers/sizes.js';
import { halfHugeWorld } from '../helpers/worlds.js';

const BASE = 1n << 34n;

describe('the link model', () => {
  it('streams chunks into the link: the round ends when both the harvest and the link are done', () => {
    const q = new LinkQueue(1e6); // 1 MB/s: 1000 bytes per ms
    q.send(0, 2000); // busy until 2 ms
    q.send(1, 1000); // queued: until 3 ms
    q.send(10, 500); // the link idled: 10.5 ms
    expect(q.doneMs).toBeCloseTo(10.5);
    expect(q.sentBytes).toBe(3500);
    expect(new LinkQueue(Number.POSITIVE_INFINITY).doneMs).toBe(0);
  });

  it('predicts the final round from the last round: its harvest, and the dirty rate times its modelled time', () => {
    const round0 = { harvestMs: 80, bytesDirtied: 1e6, roundMs: 200, dirtiedOverMs: null };
    const p = predictDowntime([round0, { harvestMs: 50, bytesDirtied: 1e6, roundMs: 100, dirtiedOverMs: 200 }], 1e6);
    expect(p).toEqual({ harvestMs: 50, transferMs: 500, totalMs: 550 }); // 1e6 bytes / 200 ms × 100 ms at 1 MB/s
    // Round 0 alone: no interval, its bytes unscaled.
    expect(predictDowntime([round0], 1e6)).toEqual({ harvestMs: 80, transferMs: 1000, totalMs: 1080 });
    expect(predictDowntime([round0], Number.POSITIVE_INFINITY).transferMs).toBe(0);
  });

  it('pools the dirty rate over the last two rounds with a known interval: one round that found no leaf does not predict an empty final round, and a long early round does not dilute the rate', () => {
    expect(RATE_ROUNDS).toBe(2);
    const rounds = [
      { harvestMs: 80, bytesDirtied: 9e6, roundMs: 200, dirtiedOverMs: null }, // round 0: left out of the rate
      { harvestMs: 60, bytesDirtied: 5e6, roundMs: 50, dirtiedOverMs: 5000 }, // a long interval (a bulk round before it): left out, only the last two count
      { harvestMs: 40, bytesDirtied: 4e6, roundMs: 50, dirtiedOverMs: 200 },
      { harvestMs: 30, bytesDirtied: 0, roundMs: 100, dirtiedOverMs: 50 }, // found nothing over its 50 ms
    ];
    // (4e6 + 0) bytes over (200 + 50) ms = 16 kB/ms, × the last round's 100 ms = 1.6e6 bytes: 1600 ms at 1 MB/s.
    const p = predictDowntime(rounds, 1e6);
    expect(p.harvestMs).toBe(30); // the last round's harvest
    expect(p.transferMs).toBeCloseTo(1600, 9);
    expect(p.totalMs).toBeCloseTo(1630, 9);
  });

  it('stops on the limit (not after round 0), on a dirty set that does not shrink, and at maxRounds', () => {
    const fits = { harvestMs: 10, transferMs: 10, totalMs: 20 };
    const big = { harvestMs: 10, transferMs: 990, totalMs: 1000 };
    const base = { downtimeLimitMs: 300, limitRounds: 30, fixed: false };
    expect(convergenceStop({ ...base, dirtyBytes: [5], expected: fits })).toBeUndefined(); // round 0 has no dirty rate
    expect(convergenceStop({ ...base, dirtyBytes: [5, 4], expected: fits })).toBe('downtime-limit');
    expect(convergenceStop({ ...base, dirtyBytes: [5, 6], expected: big })).toBeUndefined();
    expect(convergenceStop({ ...base, dirtyBytes: [5, 6, 6], expected: big })).toBe('not-converging');
    expect(convergenceStop({ ...base, dirtyBytes: [9, 8, 7], expected: big })).toBeUndefined();
    expect(convergenceStop({ ...base, limitRounds: 3, dirtyBytes: [9, 8, 7], expected: big })).toBe('max-rounds');
    expect(convergenceStop({ ...base, fixed: true, limitRounds: 3, dirtyBytes: [5, 6, 6], expected: fits })).toBe('fixed-rounds');
    expect(convergenceStop({ ...base, fixed: true, limitRounds: 3, dirtyBytes: [5, 6], expected: fits })).toBeUndefined();
  });
});

describe('the stale check', () => {
  it('flags a written page whose last write is later than its last report, and counts a missing page as stale', () => {
    const gt = new IovaBitmap({ iova: BASE, length: 1n * MiB, pageSize: 4096 });
    const union = new IovaBitmap({ iova: BASE, length: 1n * MiB, pageSize: 4096 });
    const written = WriteEpochs.forGroundTruth(gt);
    const reported = new ReportedRounds(union.nbits);
    const units = [mappingUnitMap('iommu', [{ iova: BASE, length: 1n * MiB, leaf: 4096n }])];
    // Page 1: written in epoch 0, reported by round 0. Page 2: reported by round 1, written again
    // in epoch 4 (after round 3 completed), never reported again. Page 3: written, never reported.
    for (const [page, epoch] of [[1, 0], [2, 4], [3, 2]] as const) {
      gt.setBits(page, 1);
      written.bytes[page] = epoch;
    }
    union.setBits(1, 2);
    reported.recordNew(1, 2, 0);
    reported.recordNew(2, 3, 1);
    const v = verifyMigration({ groundTruth: gt, reported: union, units, epochs: { written, reported } });
    expect(v).toMatchObject({ ok: false, missing: 1, unexpected: 0, stale: 2, epochsChecked: true });
    expect(v.staleSample).toEqual([BASE + 2n * 4096n, BASE + 3n * 4096n]);
    const unionOnly = verifyMigration({ groundTruth: gt, reported: union, units });
    expect(unionOnly).toMatchObject({ missing: 1, stale: 0, epochsChecked: false });
    reported.recordNew(2, 4, 4); // round 4 reports pages 2 and 3
    union.setBits(3, 1);
    expect(verifyMigration({ groundTruth: gt, reported: union, units, epochs: { written, reported } })).toMatchObject({ ok: true, stale: 0 });
  });

  it('dedups a round: recordNew returns only the bits this round had not recorded', () => {
    const r = new ReportedRounds(1000);
    expect(r.recordNew(0, 512, 3)).toBe(512);
    expect(r.recordNew(100, 101, 3)).toBe(0); // a tracker page inside the leaf already sent
    expect(r.recordNew(500, 600, 3)).toBe(88);
    expect(r.recordNew(0, 10, 4)).toBe(10); // a new round sends it again
  });
});

describe('migrate over a modelled link', () => {
  const h = usePoolAndDevice();
  const LEN = 64n * MiB;

  async function run(rate: number, bandwidth: number, stream: boolean, seed: number, bulkStage = false) {
    const w = halfHugeWorld(BASE, LEN, 'vtd-ss', 2n * MiB);
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    await h.device.start({ pattern: 'uniform', rate, seed });
    await new Promise((r) => setTimeout(r, 20));
    return migrate({ bitmapPageSize: 4096, sources: w.sources, device: h.device, pool: h.pool, units: w.units, bandwidth, downtimeLimit: 50, maxRounds: 20, stream, bulkStage });
  }

  it('converges when the guest dirties slower than the link, streamed or not, and verifies', async () => {
    for (const stream of [true, false]) {
      const r = await run(200, 1e9, stream, 4); // 200 pages/s, 1 GB/s
      expect(r.verification).toMatchObject({ ok: true, missing: 0, unexpected: 0, stale: 0, epochsChecked: true });
      expect(r.convergence).toMatchObject({ converged: true, reason: 'downtime-limit' });
      expect(r.downtime.expected!.totalMs).toBeLessThanOrEqual(50);
      expect(r.downtime.actual.totalMs).toBeCloseTo(r.rounds.at(-1)!.harvestMs + r.rounds.at(-1)!.transferMs, 6);
      expect(r.bytesTransferred).toBe(r.rounds.reduce((s, x) => s + x.bytesDirtied, 0n));
      expect(r.rounds.every((x) => x.bytesSent === x.bytesDirtied)).toBe(true);
      // A streamed round hands a chunk over when it found dirty pages, and only then.
      expect(r.rounds.every((x) => (stream && x.pagesDirtied > 0 ? x.firstChunkMs !== null : x.firstChunkMs === null))).toBe(true);
      expect(r.device.modelledMs).toBeGreaterThanOrEqual(0);
      for (const x of r.rounds) {
        expect(x.roundMs).toBeGreaterThanOrEqual(Math.max(x.harvestMs, x.transferMs) - 1e-9);
        expect(x.roundMs).toBeLessThanOrEqual(x.harvestMs + x.transferMs + 1e-9);
      }
    }
  });

  it('with bulkStage, round 0 sends the whole range (its dirty pages among them) and the device writes for that long', async () => {
    for (const stream of [true, false]) {
      const r = await run(200, 1e8, stream, 6, true); // 200 pages/s; 64 MiB at 100 MB/s: a 671 ms round 0
      const [r0, r1] = [r.rounds[0]!, r.rounds[1]!];
      expect(r0.bytesSent).toBe(LEN);
      expect(r0.transferMs).toBeCloseTo((Number(LEN) / 1e8) * 1000, 6);
      expect(r0.roundMs).toBeGreaterThanOrEqual(r0.transferMs - 1e-9);
      expect(r1.dirtiedOverMs!).toBeGreaterThanOrEqual(r0.transferMs - 1e-9); // round 1's set accumulated over the bulk copy
      expect(r.rounds.slice(1).every((x) => x.bytesSent === x.bytesDirtied)).toBe(true);
      expect(r.bytesTransferred).toBe(r.rounds.reduce((s, x) => s + x.bytesSent, 0n));
      expect(r.verification).toMatchObject({ ok: true, missing: 0, unexpected: 0, stale: 0 });
    }
  });

  it('reports a guest that dirties faster than the link as not converging within 3 rounds', async () => {
    const r = await run(20_000, 1e7, true, 5); // 20,000 writes/s into 2 MiB leaves over a 10 MB/s link
    expect(r.convergence).toEqual({ converged: false, reason: 'not-converging', precopyRounds: 3 });
    expect(r.verification).toMatchObject({ ok: true, stale: 0 });
    expect(r.device.modelledMs).toBeGreaterThan(0); // the transfers were modelled, not slept
    expect(r.rounds[1]!.dirtyBytesPerSec!).toBeGreaterThan(1e7);
  });
});
