/**
 * migrate(): small live migrations with the real pool, the device simulator and both sources.
 * The verdict comes from the checker, so the tests also prove it fails when dirty state is lost
 * or invented (sabotage between rounds), without migrate() throwing.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, type PteFormat } from '@iovabitmap/core';
import { migrate, type MigrateOptions, type MigrateRound } from '@iovabitmap/workers';
import { usePoolAndDevice } from '../helpers/poolAndDevice.js';
import { MiB } from '../helpers/sizes.js';
import { rejectionOf } from '../helpers/rejection.js';
import { halfHugeWorld } from '../helpers/worlds.js';

const BASE = 1n << 34n; // 16 GiB
const LEN = 64n * MiB;

const world = (format: PteFormat = 'vtd-ss', leaf = 2n * MiB) => halfHugeWorld(BASE, LEN, format, leaf);

describe('migrate', () => {
  const h = usePoolAndDevice();
  /** migrate's options over world `w`: 2 pre-copy rounds at 4 KiB, the file's pool and device, the world's units. */
  const options = (w: ReturnType<typeof world>, more: Partial<MigrateOptions> = {}): MigrateOptions => ({
    bitmapPageSize: 4096,
    rounds: 2,
    sources: w.sources,
    device: h.device,
    pool: h.pool,
    units: w.units,
    ...more,
  });

  it('reports every written page across pre-copy rounds and the final round, and nothing else', async () => {
    const w = world('amd-v1');
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    await h.device.start({ pattern: 'uniform', rate: 200_000, seed: 5 });
    const seen: MigrateRound[] = [];
    const r = await migrate(options(w, { rounds: 3, verifyEachRound: true, roundIntervalMs: 5, onRound: (x) => seen.push(x) }));
    expect(r.verification).toMatchObject({ ok: true, missing: 0, unexpected: 0 });
    expect(r.verification.groundTruthBits).toBe(w.gt.count());
    expect(r.verification.groundTruthBits).toBeGreaterThan(0);
    expect(r.rounds.map((x) => x.final)).toEqual([false, false, false, true]);
    expect(seen).toEqual(r.rounds);
    expect(r.rounds.every((x) => x.unexpected === 0 && x.harvestMs > 0 && x.gibPerSec > 0)).toBe(true);
    expect(r.rounds.reduce((s, x) => s + x.pagesDirtied, 0)).toBeGreaterThanOrEqual(r.verification.reportedBits);
    expect(r.device.state).toBe('stopped');
    expect(r.device.pages).toBe(h.device.pagesWritten);
    expect((await h.device.stats()).pages).toBe(r.device.pages); // stopped: no write after migrate returned
    expect(Object.keys(r.rounds[0]!.sources).sort()).toEqual(['iommu', 'vf0']);
  });

  it('works at a 2 MiB bitmap page and with no pre-copy round, and survives a throwing onRound', async () => {
    const w = world('smmu-v3');
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    await h.device.start({ pattern: 'burst', rate: 100_000, seed: 9 });
    while (h.device.pagesWritten < 4096) await new Promise((res) => setTimeout(res, 2));
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    const r = await migrate(
      options(w, {
        bitmapPageSize: 2n * MiB,
        rounds: 0,
        onRound: () => {
          throw new Error('printer on fire');
        },
      }),
    );
    expect((await warned).message).toMatch(/onRound threw: Error: printer on fire/);
    expect(r.rounds).toHaveLength(1);
    expect(r.rounds[0]!.final).toBe(true);
    expect(r.verification).toMatchObject({ ok: true });
    expect(r.verification.reportedBits).toBeGreaterThanOrEqual(1);
    expect(r.rounds[0]!.bytesDirtied).toBe(BigInt(r.rounds[0]!.pagesDirtied) * 2n * MiB);
  });

  it('reports lost dirty state as missing, without throwing', async () => {
    const w = world();
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    // The device writes only the lower half, so it never re-marks the sabotaged page.
    await h.device.start({ pattern: 'sequential', rate: 50_000, seed: 2, region: { iova: BASE, length: LEN / 2n } });
    const scratch = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
    const lostPage = Number((BASE + LEN - 4096n) >> 12n);
    const r = await migrate({
      ...options(w),
      onRound: (x) => {
        if (x.index !== 0) return;
        // Sabotage: a write recorded in the ground truth and the sources, then cleared from the
        // sources without being recorded in any round's bitmap.
        w.gt.setUnits(lostPage, 1, 12);
        w.pt.dmaWritePages(lostPage, 1);
        w.vf.dmaWritePages(lostPage, 1);
        w.pt.readAndClearDirty(scratch, BASE, LEN);
        w.vf.readAndClearDirty(scratch, BASE, LEN);
      },
    });
    expect(r.verification.ok).toBe(false);
    expect(r.verification.missing).toBeGreaterThanOrEqual(1);
    expect(r.verification.unexpected).toBe(0);
    expect(r.rounds).toHaveLength(3);
  });

  it('reports invented dirty state as unexpected, in the round that saw it and at the end', async () => {
    const w = world();
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    // The device writes only the upper half; the sabotage marks a page of the lower half.
    await h.device.start({ pattern: 'uniform', rate: 50_000, seed: 3, region: { iova: BASE + LEN / 2n, length: LEN / 2n } });
    const fake = Number((BASE + 4096n * 7n) >> 12n);
    const r = await migrate({
      ...options(w),
      verifyEachRound: true,
      onRound: (x) => {
        if (x.index === 0) w.vf.dmaWritePages(fake, 1); // a mark no device write explains
      },
    });
    expect(r.verification).toMatchObject({ ok: false, missing: 0, unexpected: 1 });
    expect(r.verification.unexpectedSample).toEqual([BigInt(fake) << 12n]);
    expect(r.rounds.map((x) => x.unexpected)).toEqual([0, 1, 0]);
  });

  it('rejects bad arguments before anything runs', async () => {
    const w = world();
    const base = options(w, { rounds: 1 });
    await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
    expect((await rejectionOf(migrate({ ...base, bitmapPageSize: 2048 }))).param).toBe('bitmapPageSize');
    expect((await rejectionOf(migrate({ ...base, bitmapPageSize: 12288 }))).code).toBe('EINVAL');
    expect((await rejectionOf(migrate({ ...base, rounds: -1 }))).param).toBe('rounds');
    expect((await rejectionOf(migrate({ ...base, sources: [] }))).param).toBe('sources');
    expect((await rejectionOf(migrate({ ...base, iova: BASE + 4096n, length: 2n * MiB, bitmapPageSize: 2n * MiB }))).code).toBe('EINVAL');
    expect((await rejectionOf(migrate({ ...base, device: { groundTruth: undefined, writeEpochs: undefined, stop: h.device.stop.bind(h.device) } }))).param).toBe('device');
    expect((await rejectionOf(migrate({ ...base, maxRounds: 3 }))).param).toBe('rounds'); // not both
    expect((await rejectionOf(migrate({ ...base, rounds: undefined, maxRounds: 255 }))).param).toBe('maxRounds'); // epochs are bytes
    expect((await rejectionOf(migrate({ ...base, bandwidth: 0 }))).param).toBe('bandwidth');
    expect((await rejectionOf(migrate({ ...base, downtimeLimit: -1 }))).param).toBe('downtimeLimit');
    expect((await rejectionOf(migrate({ ...base, bandwidth: 1e9, device: { groundTruth: h.device.groundTruth, writeEpochs: h.device.writeEpochs, stop: h.device.stop.bind(h.device) } }))).param).toBe('device.pause');
    expect((await h.device.stats()).state).toBe('ready'); // never started, never stopped
  });
});
