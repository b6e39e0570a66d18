/**
 * Every rejected call of IoPageTable has iommufd's code and writes nothing: neither the table's
 * shared memory (segments and control block) nor the caller's bitmap changes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { IoPageTable, PTE_FORMATS, sameTable, snapshotTable, type PteFormat } from './helpers/pagetableHelpers.js';
import { GIB, GiB, MIB } from '../helpers/sizes.js';
import { rejection } from '../helpers/rejection.js';
const RUNS = { numRuns: 25, endOnFailure: true };

/**
 * A table with holes and huge leaves, tracking on, some leaves dirty:
 * [1 GiB, 1 GiB + 64 MiB) 4 KiB leaves; hole; [2 GiB, 2 GiB + 64 MiB) 2 MiB leaves;
 * hole; [4 GiB, 6 GiB) 1 GiB leaves.
 */
function fixture(format: PteFormat): IoPageTable {
  const pt = new IoPageTable({ format });
  pt.map(GIB, 64 * MIB, { leaf: 4096 });
  pt.map(2 * GIB, 64 * MIB, { leaf: 2 * MIB });
  pt.map(4 * GIB, 2 * GIB, { leaf: GIB });
  pt.setDirtyTracking(true);
  pt.dmaWrite(GIB, 64 * MIB);
  pt.dmaWrite(2 * GIB + 5 * MIB, 1);
  pt.dmaWrite(5 * GIB, 1);
  return pt;
}

/** Runs `call`, expects an IovaBitmapError with `code`, and checks that nothing was written. */
function rejects(pt: IoPageTable, bitmap: IovaBitmap | undefined, code: string, call: () => unknown): void {
  const table = snapshotTable(pt);
  bitmap?.set(bitmap.iova, 1); // a known bit, to tell "untouched" from "cleared"
  const marked = bitmap?.snapshot();
  expect(call).toThrow(expect.objectContaining({ name: 'IovaBitmapError', code }));
  expect(sameTable(pt, table)).toBe(true);
  if (bitmap !== undefined) expect(Buffer.compare(bitmap.snapshot(), marked!)).toBe(0);
}

describe.each(PTE_FORMATS)('IoPageTable %s rejects', (format) => {
  const pt = fixture(format);
  const page = fc.integer({ min: 0, max: 2 ** 20 - 1 });
  const sub4k = fc.integer({ min: 1, max: 4095 });

  it('bad constructor options', () => {
    expect(() => new IoPageTable({ format: 'x86' as PteFormat })).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(() => new IoPageTable({ format, levels: 3 as 4 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new IoPageTable({ format, name: '' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('map: unaligned, zero, overlapping, bad leaf, past the width, on a view', () => {
    fc.assert(
      fc.property(page, sub4k, (p, odd) => {
        const iova = 8 * GIB + p * 4096;
        rejects(pt, undefined, 'EINVAL', () => pt.map(iova + odd, 4096, { leaf: 4096 }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(iova, 4096 + odd, { leaf: 4096 }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(iova, 0, { leaf: 4096 }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(iova, 4096, { leaf: 4096 + odd }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(8 * GIB + 4096, 2 * MIB, { leaf: 2 * MIB }));
        // Overlap: any range touching the 4 KiB area, the 2 MiB area or a 1 GiB leaf.
        rejects(pt, undefined, 'EINVAL', () => pt.map(GIB + (p % 16384) * 4096, 4096, { leaf: 4096 }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(GIB - 4096, 8192, { leaf: 4096 }));
        rejects(pt, undefined, 'EINVAL', () => pt.map(4 * GIB + (p % 1024) * 2 * MIB, 2 * MIB, { leaf: 2 * MIB }));
        rejects(pt, undefined, 'EOVERFLOW', () => pt.map(2n ** 48n - 4096n * BigInt(1 + (p % 8)), 4096n * 9n, { leaf: 4096 }));
        return true;
      }),
      RUNS,
    );
    rejects(pt, undefined, 'EOPNOTSUPP', () => pt.map(8 * GIB, 2 * GIB, { leaf: 2 * GIB }));
    if (format !== 'amd-v1') rejects(pt, undefined, 'EOPNOTSUPP', () => pt.map(8 * GIB, 8192, { leaf: 8192 }));
    rejects(pt, undefined, 'EINVAL', () => pt.map(8 * GIB, 4096, { leaf: 4096, writable: 1 as unknown as boolean }));
    rejects(pt, undefined, 'EINVAL', () => pt.map(-4096, 4096, { leaf: 4096 }));
    rejects(pt, undefined, 'EOVERFLOW', () => pt.map(2n ** 64n, 4096, { leaf: 4096 }));
    const view = IoPageTable.fromShared(pt.share());
    rejects(pt, undefined, 'EOPNOTSUPP', () => view.map(8 * GIB, 4096, { leaf: 4096 }));
    rejects(pt, undefined, 'EOPNOTSUPP', () => view.unmap(GIB, 4096));
  });

  it('unmap: a range that cuts a huge leaf, unaligned, past the width', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 511 }), fc.integer({ min: 1, max: 262143 }), sub4k, (in2m, in1g, odd) => {
        rejects(pt, undefined, 'EINVAL', () => pt.unmap(2 * GIB + in2m * 4096, 2 * MIB));
        rejects(pt, undefined, 'EINVAL', () => pt.unmap(2 * GIB, 2 * MIB + in2m * 4096));
        rejects(pt, undefined, 'EINVAL', () => pt.unmap(4 * GIB + in1g * 4096, 4096));
        rejects(pt, undefined, 'EINVAL', () => pt.unmap(3 * GIB, GIB + in1g * 4096));
        rejects(pt, undefined, 'EINVAL', () => pt.unmap(GIB + odd, 4096));
        rejects(pt, undefined, 'EOVERFLOW', () => pt.unmap(2n ** 48n - 4096n, 8192n));
        return true;
      }),
      RUNS,
    );
  });

  it('reports: tracking off, unaligned, overflow, short bitmap, hole (named)', () => {
    const bitmap = new IovaBitmap({ iova: 0, length: 8n * GiB, pageSize: 4096 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 1, max: 16383 }), sub4k, (a, n, odd) => {
        const lo = GIB + a * 4096;
        const len = Math.min(n, 16384 - a) * 4096;
        rejects(pt, bitmap, 'EINVAL', () => pt.readAndClearDirty(bitmap, lo + odd, len));
        rejects(pt, bitmap, 'EINVAL', () => pt.readAndClearDirty(bitmap, lo, len - 4096 + odd));
        rejects(pt, bitmap, 'EOVERFLOW', () => pt.readAndClearDirty(bitmap, lo, 0)); // iova + 0 - 1 wraps, as in iommufd
        const short = new IovaBitmap({ iova: lo + 4096, length: 64 * MIB, pageSize: 4096 });
        rejects(pt, short, 'EINVAL', () => pt.readAndClearDirty(short, lo, len));
        // A range that runs past the 4 KiB area into the hole at GiB + 64 MiB: ENOENT naming it.
        const hole = BigInt(GIB + 64 * MIB);
        let err: unknown;
        rejects(pt, bitmap, 'ENOENT', () => {
          try {
            return pt.readAndClearDirty(bitmap, lo, 64 * MIB - a * 4096 + 4096 * (1 + (n % 8)));
          } catch (e) {
            err = e;
            throw e;
          }
        });
        expect((err as { value: string }).value).toContain(`0x${hole.toString(16)}`);
        return true;
      }),
      RUNS,
    );
    rejects(pt, bitmap, 'EOVERFLOW', () => pt.readAndClearDirty(bitmap, 2n ** 48n - 4096n, 8192n));
    const big = new IovaBitmap({ iova: 0, length: 1n << 48n, pageSize: 1n << 30n });
    rejects(pt, big, 'EINVAL', () => pt.readAndClearDirty(big, 4n * GiB + 4096n, GiB)); // not aligned to the bitmap page
    rejects(pt, big, 'ENOENT', () => pt.readAndClearDirty(big, 0n, 8n * GiB));
    rejects(pt, bitmap, 'EINVAL', () => pt.checkReport(bitmap, GiB, 4096n, { noClear: 'yes' as unknown as boolean }));
    const off = fixture(format);
    off.setDirtyTracking(false);
    rejects(off, bitmap, 'EINVAL', () => off.readAndClearDirty(bitmap, GIB, 64 * MIB));
    rejects(off, bitmap, 'EINVAL', () => off.readAndClearDirty(bitmap, GIB, 64 * MIB, { noClear: true }));
  });

  it('device writes and tracking: past the width, not integers, not a boolean', () => {
    rejects(pt, undefined, 'EOVERFLOW', () => pt.dmaWrite(2n ** 48n - 1n, 2n));
    rejects(pt, undefined, 'EOVERFLOW', () => pt.dmaWritePages(2 ** 36 - 1, 2));
    rejects(pt, undefined, 'EINVAL', () => pt.dmaWritePages(1.5, 1));
    rejects(pt, undefined, 'EINVAL', () => pt.dmaWritePages(0, -1));
    expect([rejection(() => pt.dmaWritePages(-1, 1)).param, rejection(() => pt.dmaWritePages(0, 0.5)).param]).toEqual(['page', 'count']);
    rejects(pt, undefined, 'EINVAL', () => pt.dmaWrite(-1, 1));
    rejects(pt, undefined, 'EINVAL', () => pt.setDirtyTracking(1 as unknown as boolean));
  });
});
