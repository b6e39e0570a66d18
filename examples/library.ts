import { IoPageTable, IovaBitmap, IovaBitmapError, VfTracker } from '@iovabitmap/core';
import { ReportPool } from '@iovabitmap/workers';

const GiB = 1n << 30n;

// The IOMMU page table of a 64 GiB guest mapped with 2 MiB leaves, dirty tracking on.
const iommu = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
iommu.map(0n, 64n * GiB, { leaf: 2n << 20n });
iommu.setDirtyTracking(true);

// The device's own tracker (VFIO DMA logging) over the same range, 4 KiB granularity.
const vf = new VfTracker({ name: 'vf' });
vf.start({ ranges: [{ iova: 0n, length: 64n * GiB }], pageSize: 4096 });

// The device writes by DMA: 8 KiB through the IOMMU, 4 KiB seen by its tracker.
iommu.dmaWrite(5n * GiB + 123n, 8192);
vf.dmaWrite(40n * GiB, 4096);

// The caller's bitmap: one bit per 4 KiB page, in a SharedArrayBuffer the workers share.
const bitmap = new IovaBitmap({ iova: 0n, length: 64n * GiB, pageSize: 4096 });
const pool = new ReportPool({ threads: 2 });
const stats = await pool.report({ bitmap, sources: [iommu, vf] });
for (const r of bitmap.dirtyRanges()) console.log(`dirty: 0x${r.iova.toString(16)} +${r.length} bytes`);
console.log(`${stats.bitsSet} pages, ${stats.chunks} chunks, ${stats.tasks === 0 ? 'on this thread (a report this small)' : `on ${stats.workers.length} worker(s)`}`);
await pool.close();

// Bad input gets a typed error with a stable code, and nothing is written.
try {
  new IovaBitmap({ iova: 4095n, length: 64n * GiB, pageSize: 4096 });
} catch (e) {
  if (IovaBitmapError.is(e)) console.log(`${e.code}: ${e.message}`);
}
