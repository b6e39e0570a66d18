/**
 * The migration checker (verifyMigration) and the unit maps it widens with, on hand-made ground
 * truths and reports: it accepts exactly the widened ground truth, flags every lost page as
 * missing and every invented page as unexpected, with their IOVAs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker, type DirtySource } from '@iovabitmap/core';
import { mappingUnitMap, trackerUnitMap, unitMapOf, type UnitMap, verifyMigration } from '@iovabitmap/workers';
import { MiB } from '../helpers/sizes.js';

const BASE = 1n << 30n; // 1 GiB
const BASE_PAGE = Number(BASE >> 12n);

function gtOf(pages: readonly number[], length = 16n * MiB): IovaBitmap {
  const gt = new IovaBitmap({ iova: BASE, length, pageSize: 4096 });
  for (const p of pages) gt.setBits(p, 1);
  return gt;
}

function reported(pageSize = 4096n, length = 16n * MiB, iova = BASE): IovaBitmap {
  return new IovaBitmap({ iova, length, pageSize });
}

/** 16 MiB: the first 8 MiB in 2 MiB leaves, the rest in 4 KiB leaves. */
const pt: UnitMap = mappingUnitMap('iommu', [
  { iova: BASE, length: 8n * MiB, leaf: 2n * MiB },
  { iova: BASE + 8n * MiB, length: 8n * MiB, leaf: 4096n },
]);

describe('verifyMigration', () => {
  it('accepts a report holding exactly the written pages widened to their leaves', () => {
    const gt = gtOf([3, 2048, 2100]); // page 3 lies in the first 2 MiB leaf; 2048+ in 4 KiB leaves
    const u = reported();
    u.setBits(0, 512);
    u.setBits(2048, 1);
    u.setBits(2100, 1);
    const r = verifyMigration({ groundTruth: gt, reported: u, units: [pt] });
    expect(r).toMatchObject({ ok: true, missing: 0, unexpected: 0, groundTruthBits: 3, allowedBits: 514, reportedBits: 514 });
    expect(r.uncoveredPages).toEqual({ iommu: 0 });
  });

  it('also accepts a report holding only the written pages (E is an upper bound)', () => {
    const gt = gtOf([3, 2048]);
    const u = reported();
    u.setBits(3, 1);
    u.setBits(2048, 1);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt] }).ok).toBe(true);
  });

  it('counts a written page missing from every round as missing, with its IOVA', () => {
    const gt = gtOf([3, 2048, 2100]);
    const u = reported();
    u.setBits(0, 512);
    u.setBits(2048, 1);
    const r = verifyMigration({ groundTruth: gt, reported: u, units: [pt] });
    expect(r).toMatchObject({ ok: false, missing: 1, unexpected: 0 });
    expect(r.missingSample).toEqual([BASE + 2100n * 4096n]);
  });

  it('counts a page outside every written unit as unexpected: the next 2 MiB leaf, a neighbouring 4 KiB page', () => {
    const gt = gtOf([3, 2048]);
    const u = reported();
    u.setBits(0, 513); // one page into the second leaf
    u.setBits(2048, 2); // 2049 was never written and is its own 4 KiB leaf
    const r = verifyMigration({ groundTruth: gt, reported: u, units: [pt] });
    expect(r).toMatchObject({ ok: false, missing: 0, unexpected: 2 });
    expect(r.unexpectedSample).toEqual([BASE + 512n * 4096n, BASE + 2049n * 4096n]);
  });

  it('widens by every source: a tracker page of 64 KiB allows its 16 pages even inside 4 KiB leaves', () => {
    const tracker = trackerUnitMap({ name: 'vf0', pageSize: 64n * 1024n, ranges: [{ iova: BASE, length: 16n * MiB }] });
    const gt = gtOf([2050]);
    const u = reported();
    u.setBits(2048, 16);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt] }).unexpected).toBe(15);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt, tracker] }).ok).toBe(true);
  });

  it('compares at the bitmap page size when it is above 4 KiB', () => {
    const gt = gtOf([2048 + 17]); // a 4 KiB leaf; at 64 KiB bitmap pages it is bit (2048+17)/16 = 129
    const u = reported(64n * 1024n);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt] })).toMatchObject({ missing: 1, groundTruthBits: 1 });
    u.setBits(129, 1);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt] }).ok).toBe(true);
    u.setBits(130, 1);
    expect(verifyMigration({ groundTruth: gt, reported: u, units: [pt] })).toMatchObject({ unexpected: 1 });
  });

  it('ignores ground truth outside the reported range, and counts pages a source does not cover', () => {
    const gt = gtOf([10, 3000]);
    const u = reported(4096n, 8n * MiB); // pages [0, 2048) only
    u.setBits(0, 512);
    const vf = trackerUnitMap({ name: 'vf0', pageSize: 4096n, ranges: [{ iova: BASE + 4n * MiB, length: 4n * MiB }] });
    const r = verifyMigration({ groundTruth: gt, reported: u, units: [pt, vf] });
    expect(r).toMatchObject({ ok: true, groundTruthBits: 1 });
    expect(r.uncoveredPages).toEqual({ iommu: 0, vf0: 1 }); // page 10 is below the tracked range
  });

  it('accepts the exact widening and flags any single flipped bit correctly (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(1, 2, 16, 512), { minLength: 4, maxLength: 4 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 4095 }),
        (leafPages, written, flip) => {
          // 16 MiB in four 4 MiB mappings with the drawn leaf sizes.
          const maps = leafPages.map((n, i) => ({ iova: BASE + BigInt(i) * 4n * MiB, length: 4n * MiB, leaf: BigInt(n) * 4096n }));
          const units = [mappingUnitMap('iommu', maps)];
          const gt = gtOf(written);
          // Independent model of the widening: whole aligned leaves of each written page.
          const allowed = new Set<number>();
          for (const p of written) {
            const n = leafPages[Math.floor(p / 1024)]!;
            const a = Math.floor(p / n) * n;
            for (let q = a; q < a + n; q++) allowed.add(q);
          }
          const u = reported();
          for (const q of allowed) u.setBits(q, 1);
          expect(verifyMigration({ groundTruth: gt, reported: u, units })).toMatchObject({ ok: true, allowedBits: allowed.size });
          const wasSet = u.testBit(flip);
          const v = reported();
          for (const q of allowed) if (q !== flip) v.setBits(q, 1);
          if (!wasSet) v.setBits(flip, 1);
          const r = verifyMigration({ groundTruth: gt, reported: v, units });
          if (!wasSet) expect(r).toMatchObject({ missing: 0, unexpected: 1 });
          else if (written.includes(flip)) expect(r).toMatchObject({ missing: 1, unexpected: 0 });
          else expect(r).toMatchObject({ ok: true }); // dropping a widened-only page is allowed
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('unit maps', () => {
  it('gives tracker pages aligned to the tracker page size, only inside the tracked ranges', () => {
    const m = trackerUnitMap({
      name: 'vf',
      pageSize: 2n * MiB,
      ranges: [
        { iova: BASE + 4n * MiB, length: 4n * MiB },
        { iova: BASE, length: 2n * MiB },
      ],
    });
    expect(m.unitOf(BASE_PAGE + 5)).toEqual({ first: BASE_PAGE, count: 512 });
    expect(m.unitOf(BASE_PAGE + 600)).toBeUndefined();
    expect(m.unitOf(BASE_PAGE + 1024 + 700)).toEqual({ first: BASE_PAGE + 1536, count: 512 });
    expect(m.unitOf(BASE_PAGE + 2048)).toBeUndefined();
  });

  it('gives page-table leaves from the mappings, and nothing in holes', () => {
    const m = mappingUnitMap('pt', [
      { iova: BASE + MiB, length: MiB, leaf: 64n * 1024n },
      { iova: BASE, length: 4096n, leaf: 4096n },
    ]);
    expect(m.unitOf(BASE_PAGE)).toEqual({ first: BASE_PAGE, count: 1 });
    expect(m.unitOf(BASE_PAGE + 1)).toBeUndefined();
    expect(m.unitOf(BASE_PAGE + 256 + 17)).toEqual({ first: BASE_PAGE + 256 + 16, count: 16 });
    expect(m.unitOf(BASE_PAGE + 512)).toBeUndefined();
  });

  it('derives tracker units from a started VfTracker, and none once it is stopped', () => {
    const vf = new VfTracker({ name: 'vf9' });
    vf.start({ ranges: [{ iova: BASE, length: 4n * MiB }], pageSize: 16384 });
    const m = unitMapOf(vf)!;
    expect(m.name).toBe('vf9');
    expect(m.unitOf(BASE_PAGE + 5)).toEqual({ first: BASE_PAGE + 4, count: 4 });
    expect(m.unitOf(BASE_PAGE + 1024)).toBeUndefined();
    vf.stop();
    expect(unitMapOf(vf)).toBeUndefined();
  });

  it("uses a page table's leafAt lookup when the source has one", () => {
    const fake = {
      name: 'pt',
      leafAt: (iova: bigint) => (iova < BASE + MiB ? { iova: iova & ~(MiB - 1n), size: MiB } : undefined),
    } as unknown as DirtySource;
    const m = unitMapOf(fake)!;
    expect(m.unitOf(BASE_PAGE + 100)).toEqual({ first: BASE_PAGE, count: 256 });
    expect(m.unitOf(BASE_PAGE + 300)).toBeUndefined(); // past the fake's one mapped MiB
  });

  it("derives an IoPageTable's units from its leaves, as mappingUnitMap does from its mappings", () => {
    const mappings = [
      { iova: BASE, length: 2n * MiB, leaf: 4096n },
      { iova: BASE + 2n * MiB, length: MiB, leaf: 64n * 1024n }, // amd-v1 replicated pages
      { iova: BASE + 4n * MiB, length: 4n * MiB, leaf: 2n * MiB },
    ];
    const pt = new IoPageTable({ format: 'amd-v1', name: 'pt' });
    for (const m of mappings) pt.map(m.iova, m.length, { leaf: m.leaf });
    const derived = unitMapOf(pt)!;
    const fromMappings = mappingUnitMap('pt', mappings);
    expect(derived.name).toBe('pt');
    for (let p = BASE_PAGE - 1; p < BASE_PAGE + 2049; p += 7) expect(derived.unitOf(p), `page ${p}`).toEqual(fromMappings.unitOf(p));
    expect(derived.unitOf(BASE_PAGE + 1024 + 300)).toEqual({ first: BASE_PAGE + 1024, count: 512 });
  });
});
