/**
 * VfTracker: every rejected input (code, parameter, value in the message, and nothing changed or
 * written), the lifecycle (start/stop/share/fromShared), and small hand-worked reports.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, type IovaErrorCode, VfTracker } from '@iovabitmap/core';
import { rejection } from '../helpers/rejection.js';
import { MiB } from '../helpers/sizes.js';

const U64_MAX = (1n << 64n) - 1n;

function expectBad(f: () => unknown, code: IovaErrorCode, param: string, value: string) {
  const e = rejection(f);
  expect(e.code).toBe(code);
  expect(e.param).toBe(param);
  expect(e.message).toContain(param);
  expect(e.message).toContain(value);
  return e;
}

/** A started tracker with some records, and a snapshot function of everything observable. */
function busyTracker() {
  const t = new VfTracker({ name: 'vf7' });
  t.start({ pageSize: 4096, ranges: [{ iova: MiB, length: MiB }] });
  t.dmaWrite(MiB + 5000n, 10_000);
  const state = () => JSON.stringify({ s: t.started, p: String(t.pageSize), r: t.ranges.map(String), d: t.recordedPages().map(String) });
  return { t, state };
}

describe('VfTracker limits', () => {
  it.each([
    [{ name: '' }, 'EINVAL', 'limits.name', '""'],
    [{ maxRanges: 0 }, 'EINVAL', 'limits.maxRanges', '0'],
    [{ maxRanges: 257 }, 'EINVAL', 'limits.maxRanges', '257'],
    [{ minPageSize: 2048 }, 'EINVAL', 'limits.minPageSize', '2048'],
    [{ minPageSize: 12288 }, 'EINVAL', 'limits.minPageSize', '12288'],
    [{ minPageSize: 8192, maxPageSize: 4096 }, 'EINVAL', 'limits.maxPageSize', '4096'],
    [{ maxPageSize: 1n << 64n }, 'EOVERFLOW', 'limits.maxPageSize', String(1n << 64n)],
    [{ maxSpanLog2: 65 }, 'EINVAL', 'limits.maxSpanLog2', '65'],
    [{ maxSpanLog2: 11 }, 'EINVAL', 'limits.maxSpanLog2', '11'],
    [{ minSpanLog2: 11 }, 'EINVAL', 'limits.minSpanLog2', '11'],
    [{ minSpanLog2: 40, maxSpanLog2: 39 }, 'EINVAL', 'limits.maxSpanLog2', '39'],
  ] as const)('rejects %o', (limits, code, param, value) => {
    expectBad(() => new VfTracker(limits as never), code, param, value);
  });

  it('fills in the defaults', () => {
    const t = new VfTracker();
    expect(t.name).toBe('vf');
    expect(t.limits).toEqual({ name: 'vf', maxRanges: 4, minPageSize: 4096n, maxPageSize: 1n << 30n, minSpanLog2: 12, maxSpanLog2: 48 });
    expect(t.started).toBe(false);
    expect(t.pageSize).toBe(0n);
  });
});

describe('VfTracker.start rejects (VFIO core and device checks) and changes nothing', () => {
  const r = (iova: bigint | number, length: bigint | number) => ({ iova, length });
  it.each([
    ['no ranges', [], 4096, 'EINVAL', 'ranges.length', '0'],
    ['more than 256 ranges', Array.from({ length: 257 }, (_, i) => r(BigInt(i) * 8192n, 4096)), 4096, 'E2BIG', 'ranges.length', '257'],
    ['a page size that is not a power of two', [r(0, 12288)], 12288, 'EINVAL', 'pageSize', '12288'],
    ['a page size below 4 KiB', [r(0, 2048)], 2048, 'EINVAL', 'pageSize', '2048'],
    ['a misaligned iova', [r(0, 8192), r(12288, 8192)], 8192, 'EINVAL', 'ranges[1].iova', '12288'],
    ['a misaligned length', [r(0, 8192 + 4096)], 8192, 'EINVAL', 'ranges[0].length', '12288'],
    ['a zero-length range', [r(0, 4096), r(8192, 0)], 4096, 'EINVAL', 'ranges[1].length', '0'],
    ['a range past 2^64', [r((1n << 64n) - 4096n, 8192)], 4096, 'EOVERFLOW', 'ranges[0].length', '8192'],
    ['a length of 2^64', [r(0, 1n << 64n)], 4096, 'EOVERFLOW', 'ranges[0].length', String(1n << 64n)],
    ['a range reaching 2^64', [r((1n << 64n) - 8192n, 8192)], 4096, 'EOVERFLOW', 'ranges[0].length', '8192'],
    ['overlapping ranges', [r(0, 16384), r(32768, 4096), r(8192, 8192)], 4096, 'EINVAL', 'ranges[2]', 'ranges[0]'],
    ['a negative iova', [r(-4096, 4096)], 4096, 'EINVAL', 'ranges[0].iova', '-4096'],
    ['ranges that are not an array', 'x', 4096, 'EINVAL', 'ranges', '"x"'],
    ['a total length above 2^maxSpanLog2', [r(0, 1n << 48n), r(1n << 49n, 4096)], 4096, 'EOPNOTSUPP', 'ranges', String((1n << 48n) + 4096n)],
    ['records too large to allocate', [r(0, 1n << 47n)], 4096, 'ENOMEM', 'ranges', '4294967424 bytes'],
  ] as const)('%s', (_what, ranges, pageSize, code, param, value) => {
    const t = new VfTracker();
    expectBad(() => t.start({ ranges: ranges as never, pageSize }), code, param, value);
    expect(t.started).toBe(false);
    expect(t.pageSize).toBe(0n);
    expect(t.ranges).toEqual([]);
  });

  it('a second start is EBUSY and leaves the running tracker and its records alone', () => {
    const { t, state } = busyTracker();
    const before = state();
    expectBad(() => t.start({ ranges: [{ iova: 0, length: 4096 }], pageSize: 4096 }), 'EBUSY', 'tracker', '"vf7"');
    expect(state()).toBe(before);
  });
});

describe('VfTracker report checks reject and write nothing', () => {
  const cases: [string, (t: VfTracker, bm: IovaBitmap) => unknown, IovaErrorCode, string, string][] = [
    ['a bitmap page below 4 KiB', (t) => t.readAndClearDirty(new IovaBitmap({ iova: 0, length: 4n * MiB, pageSize: 2048 }), MiB, MiB), 'EINVAL', 'bitmap.pageSize', '2048'],
    ['a range starting below the bitmap', (t, bm) => t.readAndClearDirty(bm, MiB - 4096n, MiB), 'EINVAL', 'iova', String(MiB - 4096n)],
    ['a range ending past the bitmap', (t, bm) => t.readAndClearDirty(bm, MiB, 2n * MiB), 'EINVAL', 'iova', String(MiB)],
    ['a zero length', (t, bm) => t.readAndClearDirty(bm, MiB, 0), 'EINVAL', 'length', '0'],
    ['an overflowing range', (t, bm) => t.checkReport(bm, U64_MAX - 4095n, 8192n), 'EOVERFLOW', 'length', '8192'],
    ['something that is not a bitmap', (t) => t.checkReport({} as IovaBitmap, 0n, 4096n), 'EINVAL', 'bitmap', '{}'],
  ];
  it.each(cases)('%s', (_what, f, code, param, value) => {
    const { t, state } = busyTracker();
    const bm = new IovaBitmap({ iova: MiB, length: 2n * MiB - 4096n, pageSize: 4096 });
    bm.set(MiB + 65536n, 3 * 4096);
    const bits = bm.snapshot();
    const before = state();
    expectBad(() => f(t, bm), code, param, value);
    expect(bm.snapshot()).toEqual(bits);
    expect(state()).toBe(before);
  });

  it('a report on a stopped tracker is EINVAL', () => {
    const t = new VfTracker({ name: 'vf3' });
    const bm = new IovaBitmap({ iova: 0, length: MiB, pageSize: 4096 });
    expectBad(() => t.readAndClearDirty(bm, 0, MiB), 'EINVAL', 'tracker', '"vf3"');
    expectBad(() => t.checkReport(bm, 0n, MiB), 'EINVAL', 'tracker', '"vf3"');
    expect(bm.count()).toBe(0);
  });

  it('dmaWritePages rejects a page or count that is not a non-negative safe integer', () => {
    const { t, state } = busyTracker();
    const before = state();
    expectBad(() => t.dmaWritePages(-1, 1), 'EINVAL', 'page', '-1');
    expectBad(() => t.dmaWritePages(1.5, 1), 'EINVAL', 'page', '1.5');
    expectBad(() => t.dmaWritePages(256, Number.NaN), 'EINVAL', 'count', 'NaN');
    expectBad(() => t.dmaWrite(-1, 1), 'EINVAL', 'iova', '-1');
    expect(state()).toBe(before);
  });
});

describe('VfTracker lifecycle and sharing', () => {
  it('stop() through a view ends tracking everywhere; start() after stop() allocates new memory', () => {
    const t = new VfTracker({ name: 'vf1' });
    expectBad(() => t.share(), 'EINVAL', 'tracker', '"vf1"');
    t.start({ pageSize: 4096, ranges: [{ iova: 0, length: MiB }] });
    const d = structuredClone(t.share()); // as a worker would receive it: the memory is shared
    const old = t.share().buffer;
    const v = VfTracker.fromShared(d);
    expect(v.name).toBe('vf1');
    expect(v.dmaWritePages(3, 2)).toBe(2);
    expect(t.recordedPages()).toEqual([3n * 4096n, 4n * 4096n]);
    v.stop();
    expect(t.started).toBe(false);
    expect(t.pageSize).toBe(0n);
    expect(t.dmaWritePages(3, 1)).toBe(0);
    t.stop(); // idempotent
    t.start({ pageSize: 4096, ranges: [{ iova: 0, length: MiB }] });
    expect(t.share().buffer).not.toBe(old);
    expect(t.recordedPages()).toEqual([]);
    expect(v.started).toBe(false);
    expect(v.dmaWritePages(3, 1)).toBe(0);
  });

  it('fromShared rejects what is not a tracker descriptor', () => {
    expectBad(() => VfTracker.fromShared({ kind: 'IoPageTable' } as never), 'EINVAL', 'descriptor', 'IoPageTable');
    expectBad(() => VfTracker.fromShared({ kind: 'VfTracker', name: 'x', limits: {}, buffer: new SharedArrayBuffer(64) } as never), 'EINVAL', 'descriptor.buffer', 'SharedArrayBuffer(64)');
  });
});

describe('VfTracker hand-worked reports', () => {
  it('a coarse tracker page (clamped to 64 KiB) reports whole pages into a 4 KiB bitmap, clipped to the report', () => {
    const t = new VfTracker({ minPageSize: 65536 });
    const res = t.start({ pageSize: 4096, ranges: [{ iova: 0x10000, length: 0x1000 }, { iova: 0x1f000, length: 0x2000 }] });
    expect(res.pageSize).toBe(65536n);
    // Ranges [0x10000,0x11000) and [0x1f000,0x21000) share tracker page 0x10000; the gap is not tracked.
    expect(t.dmaWrite(0x12000, 0x1000)).toBe(0);
    expect(t.dmaWrite(0x10fff, 0x10002)).toBe(2); // touches both ranges: pages 0x10000 and 0x20000
    expect(t.recordedPages()).toEqual([0x10000n, 0x20000n]);
    const bm = new IovaBitmap({ iova: 0, length: 0x40000, pageSize: 4096 });
    const s = t.readAndClearDirty(bm, 0x18000, 0x10000); // clip [0x18000, 0x28000)
    expect([...bm.dirtyRanges()]).toEqual([{ iova: 0x18000n, length: 0x10000n }]);
    expect(s).toEqual({ entriesVisited: 1, dirtyLeaves: 2, bitsMarked: 16 });
    expect(t.recordedPages()).toEqual([]);
  });

  it('a fine tracker page marks the coarse bitmap page that holds it; zero words cost one load each', () => {
    const t = new VfTracker({ maxRanges: 1 });
    t.start({ pageSize: 4096, ranges: [{ iova: 0, length: 4096n * 64n }, { iova: 4096n * 512n, length: 4096n * 64n }] });
    expect(t.ranges).toEqual([{ iova: 0n, length: 4096n * 576n }]); // merged to one range of 576 pages = 18 words
    t.dmaWritePages(1, 1);
    t.dmaWritePages(2, 1);
    t.dmaWritePages(520, 3);
    const bm = new IovaBitmap({ iova: 0, length: 4n * MiB, pageSize: MiB });
    expect(t.readAndClearDirty(bm, 0, 4n * MiB)).toEqual({ entriesVisited: 18, dirtyLeaves: 5, bitsMarked: 5 });
    expect([0, 1, 2, 3].map((b) => bm.testBit(b))).toEqual([true, false, true, false]);
  });
});
