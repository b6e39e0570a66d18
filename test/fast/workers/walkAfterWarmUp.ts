/**
 * Child process of ../pagetable.deopt.test.ts (run with --trace-deopt): warms the walk up as a
 * report worker does, prints a marker, then walks realistic tables: leaves above 2 GiB (PTE low
 * words with bit 31 set) and above 4 GiB (high words in use), every format, 4 KiB and huge leaves,
 * amd-v1 replicated pages, sparse to full, whole and chunked, with and without clearing, into
 * bitmaps of every sink mode, and the clean snapshot of enabling tracking. The parent reads the
 * deoptimisations printed after the marker.
 */
import { IoPageTable, IovaBitmap, PTE_FORMATS } from '@iovabitmap/core';
import { createRng, warmUpKernels } from '@iovabitmap/workers/internal';
import { GiB, MiB } from '../../helpers/sizes.js';


warmUpKernels();
console.log('--- warm ---');

const rng = createRng(7);
for (const format of PTE_FORMATS) {
  const t = new IoPageTable({ format });
  const base = 6n * GiB + 2n * GiB; // pfn bit 19 set: low words >= 2^31, high words non-zero
  t.map(base, 256n * MiB, { leaf: 4096n });
  t.map(base + 256n * MiB, 768n * MiB, { leaf: 2n * MiB });
  t.map(base + GiB, GiB, { leaf: GiB });
  if (format === 'amd-v1') t.map(base + 2n * GiB, 64n * MiB, { leaf: 4n * MiB });
  const end = base + (format === 'amd-v1' ? 2n * GiB + 64n * MiB : 2n * GiB);
  const length = end - base;
  const page0 = Number(base >> 12n);
  const pages = Number(length >> 12n);
  const bitmaps = [
    new IovaBitmap({ iova: base, length, pageSize: 4096n }),
    new IovaBitmap({ iova: base, length, pageSize: 4096n, buffer: new SharedArrayBuffer(IovaBitmap.bytesFor(length, 4096n) + 3), byteOffset: 3 }),
    new IovaBitmap({ iova: base, length, pageSize: 2048n }),
  ];
  for (const density of [0.001, 0.3, 0.9, 1]) {
    t.setDirtyTracking(true);
    if (density === 1) t.dmaWritePages(page0, pages);
    else for (let i = 0; i < pages * density * 0.25; i++) t.dmaWritePages(page0 + rng.int(65536), 1 + rng.int(64));
    for (const bm of bitmaps) {
      t.readAndClearDirty(bm, base, length, { noClear: true });
      const step = 3n * MiB + 4096n * 5n;
      for (let lo = base; lo < end; lo += step) {
        const hi = lo + step < end ? lo + step : end;
        t.reportChunk(bm, { chunkLo: lo, chunkHi: hi, clipLo: base, clipHi: end }, { noClear: true });
      }
    }
    t.readAndClearDirty(bitmaps[0]!, base, length);
    for (const bm of bitmaps) bm.clear();
  }
}
console.log('--- done ---');
