/**
 * The device simulator writing into real dirty sources (an IOMMU page table in every PTE format
 * and a VF tracker) from its worker, checked after a quiesce with the sequential reference
 * reporter and the migration checker: nothing the device wrote is missing, nothing else appears.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, IovaBitmapError, reportDirty, type PteFormat } from '@iovabitmap/core';
import { DeviceSimulator, verifyMigration } from '@iovabitmap/workers';
import { rejectionOf } from '../helpers/rejection.js';
import { MiB } from '../helpers/sizes.js';
import { halfHugeWorld } from '../helpers/worlds.js';

const BASE = 1n << 32n;
const LEN = 64n * MiB;

const fixture = (format: PteFormat) => halfHugeWorld(BASE, LEN, format);

describe('DeviceSimulator writing into real sources', () => {
  let sim: DeviceSimulator;
  beforeAll(async () => {
    sim = await DeviceSimulator.create();
  });
  afterAll(async () => {
    await sim.close();
  });

  for (const format of ['vtd-ss', 'amd-v1', 'smmu-v3'] as const) {
    it(`marks both sources after the ground truth, so a report after stop() finds exactly the widened writes (${format})`, async () => {
      const { pt, vf, gt, units } = fixture(format);
      await sim.attach({ pageTable: pt.share(), tracker: vf.share(), groundTruth: gt.share() });
      for (const pattern of ['burst', 'uniform', 'hotset'] as const) {
        await sim.start({ pattern, rate: 100_000, seed: 11, batchPages: 64 });
        const target = sim.pagesWritten + 1500;
        while (sim.pagesWritten < target) await new Promise((r) => setTimeout(r, 2));
        const s = await sim.stop();
        expect(s.unmarkedPages).toEqual({ iommu: 0, vf0: 0 });
      }
      const bitmap = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
      reportDirty({ bitmap, sources: [pt, vf] });
      const r = verifyMigration({ groundTruth: gt, reported: bitmap, units });
      expect(r).toMatchObject({ ok: true, missing: 0, unexpected: 0 });
      expect(r.groundTruthBits).toBeGreaterThan(1000);
      // The 2 MiB leaves widen: a single write into the first 32 MiB reports its whole leaf.
      expect(r.reportedBits).toBeGreaterThan(r.groundTruthBits);
    });
  }

  it('rejects a region with a hole in a source, naming the source and the first uncovered IOVA', async () => {
    const pt = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
    pt.map(BASE, 4n * MiB, { leaf: 4096n });
    pt.map(BASE + 8n * MiB, LEN - 8n * MiB, { leaf: 4096n });
    pt.setDirtyTracking(true);
    const gt = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
    await sim.attach({ pageTable: pt.share(), groundTruth: gt.share() });
    const err = await rejectionOf(sim.start({ pattern: 'uniform', rate: 'max', seed: 1 }));
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain('"iommu"');
    expect(err.message).toContain((BASE + 4n * MiB).toString(16));
    await sim.start({ pattern: 'uniform', rate: 'max', seed: 1, region: { iova: BASE + 8n * MiB, length: LEN - 8n * MiB } });
    await sim.stop();
  });

  it('refuses to start over a page mapped read-only, naming the first one; a writable region works', async () => {
    // [BASE, +8 MiB) writable at 4 KiB, [+8, +16 MiB) read-only at 2 MiB, [+16 MiB, LEN) writable.
    const pt = new IoPageTable({ format: 'smmu-v3', name: 'iommu' });
    pt.map(BASE, 8n * MiB, { leaf: 4096n });
    pt.map(BASE + 8n * MiB, 8n * MiB, { leaf: 2n * MiB, writable: false });
    pt.map(BASE + 16n * MiB, LEN - 16n * MiB, { leaf: 4096n });
    pt.setDirtyTracking(true);
    const gt = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
    await sim.attach({ pageTable: pt.share(), groundTruth: gt.share() });
    const refused = async (region?: { iova: bigint; length: bigint }): Promise<IovaBitmapError> =>
      rejectionOf(sim.start({ pattern: 'sequential', rate: 'max', seed: 1, ...(region === undefined ? {} : { region }) }));
    for (const e of [await refused(), await refused({ iova: BASE + 8n * MiB, length: 8n * MiB }), await refused({ iova: BASE + 4n * MiB, length: 8n * MiB })]) {
      expect(e.code).toBe('EINVAL');
      expect(e.param).toBe('region');
      expect(e.message).toContain('"iommu"');
      expect(e.message).toContain(`read-only`);
      expect(e.message).toContain(`IOVA 0x${(BASE + 8n * MiB).toString(16)} read-only`);
    }
    expect((await sim.stats()).state).toBe('ready');
    expect(gt.count()).toBe(0); // nothing written
    await sim.start({ pattern: 'sequential', rate: 'max', seed: 1, region: { iova: BASE + 16n * MiB, length: LEN - 16n * MiB } });
    while (sim.pagesWritten < 1000) await new Promise((r) => setTimeout(r, 2));
    const s = await sim.stop();
    expect(s.unmarkedPages.iommu).toBe(0);
  });
});
