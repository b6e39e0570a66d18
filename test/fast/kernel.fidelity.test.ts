/**
 * Kernel fidelity of the argument checks: where the kernel's order or code differs from what the
 * project did, follow the kernel; where the project is stricter on purpose, pin that documented
 * rule. One describe per point:
 * - GET_DIRTY_BITMAP with length 0 (iommufd computes iova + length - 1, which wraps): EOVERFLOW;
 * - DMA logging START checks each range in turn and stops at the first failure;
 * - START's page size: stricter than the kernel (a power of two of at least 4 KiB), documented;
 * - mlx5's address-space limits apply to log2 of the total length of the merged ranges.
 */
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker } from '@iovabitmap/core';
import { rejection } from '../helpers/rejection.js';

const KiB4 = 4096n;
const U64 = 1n << 64n;
const r = (iova: bigint, length: bigint) => ({ iova, length });

describe('GET_DIRTY_BITMAP with length 0 is EOVERFLOW, as in iommufd', () => {
  const table = () => {
    const t = new IoPageTable({ format: 'vtd-ss' });
    t.map(0, 1n << 21n, { leaf: 4096 });
    t.setDirtyTracking(true);
    t.dmaWrite(0, 1n << 21n);
    return t;
  };
  const bitmap = () => new IovaBitmap({ iova: 0, length: 1n << 21n, pageSize: 4096 });

  it.each([0n, 8192n])('at iova %s: readAndClearDirty and checkReport, nothing read or cleared', (iova) => {
    const t = table();
    const b = bitmap();
    for (const call of [() => t.readAndClearDirty(b, iova, 0), () => t.checkReport(b, iova, 0n)]) {
      const e = rejection(call);
      expect([e.code, e.param]).toEqual(['EOVERFLOW', 'length']);
    }
    expect(b.count()).toBe(0);
    t.readAndClearDirty(b, 0, 1n << 21n);
    expect(b.count()).toBe(512);
  });

  it('map and unmap keep EINVAL for an empty range (our rule, documented in rangeChecks.ts)', () => {
    const t = table();
    expect(rejection(() => t.map(1n << 30n, 0, { leaf: 4096 })).code).toBe('EINVAL');
    expect(rejection(() => t.unmap(0, 0)).code).toBe('EINVAL');
  });
});

describe('DMA logging START checks each range in turn, stopping at the first failure (vfio_main.c order)', () => {
  const start = (ranges: { iova: bigint; length: bigint }[]) => {
    const t = new VfTracker({ maxSpanLog2: 64 });
    const e = rejection(() => t.start({ pageSize: 4096, ranges }));
    expect(t.started).toBe(false);
    return e;
  };

  it('[0, +8K), [4K, +8K), [2^64 - 4K, +8K): EINVAL at range 1 (overlap), before range 2 overflows', () => {
    const e = start([r(0n, 2n * KiB4), r(KiB4, 2n * KiB4), r(U64 - KiB4, 2n * KiB4)]);
    expect([e.code, e.param]).toEqual(['EINVAL', 'ranges[1]']);
    expect(e.message).toContain('must not overlap ranges[0]');
  });

  it('an overlap at range 1 comes before a misaligned range 2', () => {
    const e = start([r(0n, 2n * KiB4), r(KiB4, KiB4), r(123n, KiB4)]);
    expect([e.code, e.param]).toEqual(['EINVAL', 'ranges[1]']);
  });

  it('an overflow at range 0 comes before an overlap later', () => {
    const e = start([r(U64 - KiB4, 2n * KiB4), r(0n, 2n * KiB4), r(KiB4, KiB4)]);
    expect([e.code, e.param]).toEqual(['EOVERFLOW', 'ranges[0].length']);
  });

  it('an overlap with any earlier range, in any order, names the later one', () => {
    const e = start([r(10n * KiB4, KiB4), r(0n, 4n * KiB4), r(3n * KiB4, 8n * KiB4)]);
    expect([e.param, e.message.includes('ranges[1]')]).toEqual(['ranges[2]', true]);
  });
});

describe("START's page size: a power of two of at least 4 KiB (stricter than the kernel's START; documented)", () => {
  it.each([0n, 2048n, 12288n, 3n])('pageSize %s is EINVAL and nothing starts', (pageSize) => {
    const t = new VfTracker();
    const e = rejection(() => t.start({ pageSize, ranges: [r(0n, 1n << 20n)] }));
    expect([e.code, e.param]).toEqual(['EINVAL', 'pageSize']);
    expect(t.started).toBe(false);
  });
});

describe("mlx5's address-space limits: log2 of the total length of the merged ranges, rounded up", () => {
  it('[0, +4K) and [2^47, +4K) total 8 KiB: a 40-bit device accepts them', () => {
    const t = new VfTracker({ maxSpanLog2: 40 });
    expect(t.start({ pageSize: 4096, ranges: [r(0n, KiB4), r(1n << 47n, KiB4)] }).ranges).toEqual([r(0n, KiB4), r(1n << 47n, KiB4)]);
    t.dmaWrite(1n << 47n, 1);
    expect(t.recordedPages()).toEqual([1n << 47n]);
  });

  it('the same two ranges merged into one (maxRanges 1) total 2^47 + 4 KiB: EOPNOTSUPP', () => {
    const t = new VfTracker({ maxSpanLog2: 40, maxRanges: 1 });
    const e = rejection(() => t.start({ pageSize: 4096, ranges: [r(0n, KiB4), r(1n << 47n, KiB4)] }));
    expect([e.code, e.param]).toEqual(['EOPNOTSUPP', 'ranges']);
    expect(e.message).toContain('it is 48');
  });

  it('rounding up: a total of exactly 2^40 fits 40 bits, 2^40 + 4 KiB does not', () => {
    expect(new VfTracker({ maxSpanLog2: 40 }).start({ pageSize: 4096, ranges: [r(0n, 1n << 39n), r(1n << 45n, 1n << 39n)] }).ranges.length).toBe(2);
    const e = rejection(() => new VfTracker({ maxSpanLog2: 40 }).start({ pageSize: 4096, ranges: [r(0n, 1n << 40n), r(1n << 45n, KiB4)] }));
    expect(e.code).toBe('EOPNOTSUPP');
  });

  it('the minimum counts too: 8 KiB (log2 13) is below a device minimum of 14', () => {
    const t = new VfTracker({ minSpanLog2: 14 });
    expect(rejection(() => t.start({ pageSize: 4096, ranges: [r(0n, KiB4), r(1n << 30n, KiB4)] })).code).toBe('EOPNOTSUPP');
    expect(t.start({ pageSize: 4096, ranges: [r(0n, 4n * KiB4), r(1n << 30n, KiB4)] }).ranges.length).toBe(2); // 20 KiB: log2 15
  });
});
