/**
 * The small two-source world of the device and migration tests: over IOVA [base, base + length),
 * an IOMMU page table named `iommu` (first half mapped with `leaf` leaves, second half with 4 KiB
 * leaves, tracking on), a VF tracker `vf0` over all of it at 4 KiB pages, a 4 KiB-page ground
 * truth, and the unit maps the checker widens with, built from the mapping plan (not from the
 * table's own lookup).
 */
import { IoPageTable, IovaBitmap, VfTracker, type PteFormat } from '@iovabitmap/core';
import { mappingUnitMap, trackerUnitMap } from '@iovabitmap/workers';
import { MiB } from './sizes.js';

/** See the module comment. `length` is a multiple of 2 × `leaf`. */
export function halfHugeWorld(base: bigint, length: bigint, format: PteFormat = 'vtd-ss', leaf = 2n * MiB) {
  const mappings = [
    { iova: base, length: length / 2n, leaf },
    { iova: base + length / 2n, length: length / 2n, leaf: 4096n },
  ];
  const pt = new IoPageTable({ format, name: 'iommu' });
  for (const m of mappings) pt.map(m.iova, m.length, { leaf: m.leaf });
  pt.setDirtyTracking(true);
  const vf = new VfTracker({ name: 'vf0' });
  const started = vf.start({ ranges: [{ iova: base, length }], pageSize: 4096 });
  const gt = new IovaBitmap({ iova: base, length, pageSize: 4096 });
  const units = [mappingUnitMap('iommu', mappings), trackerUnitMap({ name: 'vf0', ...started })];
  return { pt, vf, gt, units, sources: [pt, vf] as const };
}
