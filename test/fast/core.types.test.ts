/**
 * Wrongly typed arguments and forged descriptors get a typed EINVAL (never a TypeError, never a
 * coercion), and nothing is written or cleared. Each case is one that an adversarial review found
 * (or one of the same kind found since); hostile.core.test.ts sweeps every API with hostile values.
 */
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, reportDirty, VfTracker, type SharedIoPageTable, type SharedVfTracker } from '@iovabitmap/core';
import { addSourceStats, computeWindows, dirtySourceFromShared, lastAtOrBefore, log2Exact, newSegmentMemory } from '@iovabitmap/core/internal';
import { rejection } from '../helpers/rejection.js';
import { fillRandom } from './helpers/bitModel.js';
import { MIB } from '../helpers/sizes.js';


/** A 64-page bitmap at byteOffset 3 of a buffer of random bytes, and a check that nothing changed. */
function guarded(): { bitmap: IovaBitmap; unchanged: () => void } {
  const buffer = new SharedArrayBuffer(16);
  fillRandom(new Uint8Array(buffer), 5);
  new Uint8Array(buffer).fill(0, 3, 11);
  const before = new Uint8Array(buffer).slice();
  const bitmap = new IovaBitmap({ iova: 0, length: 64 * 4096, pageSize: 4096, buffer, byteOffset: 3 });
  return { bitmap, unchanged: () => expect(new Uint8Array(buffer)).toEqual(before) };
}

function startedTracker(): VfTracker {
  const t = new VfTracker({ name: 'vf' });
  t.start({ ranges: [{ iova: 0, length: MIB }], pageSize: 4096 });
  t.dmaWrite(8192, 4096);
  return t;
}

function dirtyTable(): IoPageTable {
  const t = new IoPageTable({ format: 'vtd-ss' });
  t.map(0, 2 * MIB, { leaf: 4096 });
  t.setDirtyTracking(true);
  t.dmaWrite(8192, 4096);
  return t;
}

const never = <T>(v: unknown): T => v as T;

describe('bitmap methods refuse what is not a safe integer or a 32-bit mask, and write nothing', () => {
  const cases: [string, (b: IovaBitmap) => unknown, string][] = [
    ['orMask(0, 5n)', (b) => b.orMask(0, never(5n)), 'mask'],
    ['orMask(0, "0xff") (used to set 8 bits)', (b) => b.orMask(0, never('0xff')), 'mask'],
    ['orMask(0, 2^32)', (b) => b.orMask(0, 2 ** 32), 'mask'],
    ['orMask(0, 0.5)', (b) => b.orMask(0, 0.5), 'mask'],
    ['orMask(2^53 + 2, -1)', (b) => b.orMask(2 ** 53 + 2, -1), 'firstBit'],
    ['setBits(-1e20, 1e20 + 100) (unsafe integers)', (b) => b.setBits(-1e20, 1e20 + 100), 'firstBit'],
    ['setBits(0, 2^53 + 2)', (b) => b.setBits(0, 2 ** 53 + 2), 'count'],
    ['setBits("5", 1)', (b) => b.setBits(never('5'), 1), 'firstBit'],
    ['countBits("3", 10) (used to count 307 bits)', (b) => b.countBits(never('3'), 10), 'firstBit'],
    ['testBit("5") (used to read the wrong bit)', (b) => b.testBit(never('5')), 'bit'],
    ['bitOfUnit("5", 12)', (b) => b.bitOfUnit(never('5'), 12), 'unit'],
    ['equals(null)', (b) => b.equals(never(null)), 'other'],
  ];
  it.each(cases)('%s', (_name, call, param) => {
    const { bitmap, unchanged } = guarded();
    const e = rejection(() => call(bitmap));
    expect([e.code, e.param]).toEqual(['EINVAL', param]);
    unchanged();
  });

  it('orMask still takes every int32 and uint32 spelling of a mask', () => {
    const { bitmap } = guarded();
    bitmap.orMask(0, 0xffffffff);
    bitmap.orMask(32, -1);
    expect(bitmap.count()).toBe(64);
  });
});

describe('reports refuse options of the wrong type before anything is cleared', () => {
  it('reportDirty(undefined) is EINVAL, not a TypeError', () => {
    expect([rejection(() => reportDirty(never(undefined))).code, rejection(() => reportDirty(never(undefined))).param]).toEqual(['EINVAL', 'options']);
  });

  it("VfTracker.readAndClearDirty(..., { noClear: 'false' }) is EINVAL and keeps every record", () => {
    const t = startedTracker();
    const { bitmap, unchanged } = guarded();
    const e = rejection(() => t.readAndClearDirty(bitmap, 0, 64 * 4096, never({ noClear: 'false' })));
    expect([e.code, e.param]).toEqual(['EINVAL', 'noClear']);
    unchanged();
    expect(t.recordedPages()).toEqual([8192n]);
  });

  it("the same rule in IoPageTable, reportChunk and reportDirty", () => {
    const t = dirtyTable();
    const { bitmap, unchanged } = guarded();
    const chunk = { chunkLo: 0n, chunkHi: 64n * 4096n, clipLo: 0n, clipHi: 64n * 4096n };
    expect(rejection(() => t.readAndClearDirty(bitmap, 0, 64 * 4096, never({ noClear: 1 }))).param).toBe('noClear');
    expect(rejection(() => t.reportChunk(bitmap, chunk, never({ noClear: 'yes' }))).param).toBe('noClear');
    expect(rejection(() => startedTracker().reportChunk(bitmap, chunk, never({ noClear: 0 }))).param).toBe('noClear');
    expect(rejection(() => reportDirty({ bitmap, sources: [t], noClear: never('false') })).param).toBe('noClear');
    expect(rejection(() => t.reportChunk(bitmap, never(null))).param).toBe('chunk');
    expect(rejection(() => t.reportChunk(bitmap, never({ ...chunk, clipHi: 5 }))).param).toBe('chunk.clipHi');
    unchanged();
    t.readAndClearDirty(bitmap, 0, 64 * 4096);
    expect(bitmap.testBit(2)).toBe(true);
  });
});

describe('forged descriptors are refused with EINVAL, naming the field', () => {
  const table = (): SharedIoPageTable => dirtyTable().share();
  const tracker = (): SharedVfTracker => startedTracker().share();
  /** The tracker descriptor with its buffer copied and one header word or table value changed. */
  const forgedTracker = (edit: (h: Int32Array, t: Float64Array) => void): SharedVfTracker => {
    const d = tracker();
    const copy = new SharedArrayBuffer(d.buffer.byteLength);
    new Uint8Array(copy).set(new Uint8Array(d.buffer));
    edit(new Int32Array(copy, 0, 8), new Float64Array(copy, 32, 6));
    return { ...d, buffer: copy };
  };
  const cases: [string, () => unknown, string][] = [
    ['IoPageTable: a 5-byte segment', () => IoPageTable.fromShared({ ...table(), segments: [new SharedArrayBuffer(5)] }), 'descriptor.segments[0]'],
    ['IoPageTable: a 4-byte control block', () => IoPageTable.fromShared({ ...table(), control: new SharedArrayBuffer(4) }), 'descriptor.control'],
    ['IoPageTable: segments ["x"]', () => IoPageTable.fromShared({ ...table(), segments: never(['x']) }), 'descriptor.segments[0]'],
    [
      'IoPageTable: plain ArrayBuffer segments',
      () => IoPageTable.fromShared({ ...table(), segments: table().segments.map((s) => new ArrayBuffer(s.byteLength)) as never }),
      'descriptor.segments[0]',
    ],
    ['IoPageTable: no segments', () => IoPageTable.fromShared({ ...table(), segments: [] }), 'descriptor.segments'],
    ['IoPageTable: more memories than segments', () => IoPageTable.fromShared({ ...table(), memories: new Array(10).fill(null) }), 'descriptor.memories'],
    ['IoPageTable: a memory that is a SharedArrayBuffer', () => IoPageTable.fromShared({ ...table(), memories: table().segments as never }), 'descriptor.memories[0]'],
    ['IoPageTable: a table id that is not 16 hex digits', () => IoPageTable.fromShared({ ...table(), tableId: 'x' }), 'descriptor.tableId'],
    ['IoPageTable: a memory of another size', () => IoPageTable.fromShared({ ...table(), memories: table().memories!.map(() => newSegmentMemory(2 * 65536)!) }), 'descriptor.memories[0]'],
    ['IoPageTable: areas of odd length', () => IoPageTable.fromShared({ ...table(), areas: new Float64Array(3) }), 'descriptor.areas'],
    ['IoPageTable: areas out of order', () => IoPageTable.fromShared({ ...table(), areas: new Float64Array([10, 20, 0, 5]) }), 'descriptor.areas[2]'],
    ['IoPageTable: areas past the address width', () => IoPageTable.fromShared({ ...table(), areas: new Float64Array([0, 2 ** 40]) }), 'descriptor.areas[0]'],
    ['VfTracker: a negative pageShift', () => VfTracker.fromShared(forgedTracker((h) => (h[2] = -1))), 'descriptor.buffer.header.pageShift'],
    ['VfTracker: 2^31 - 1 ranges', () => VfTracker.fromShared(forgedTracker((h) => (h[3] = 2 ** 31 - 1))), 'descriptor.buffer.header.ranges'],
    ['VfTracker: a record count past the buffer', () => VfTracker.fromShared(forgedTracker((h) => (h[6]! += 1))), 'descriptor.buffer.header.words'],
    ['VfTracker: a range that is not its segment', () => VfTracker.fromShared(forgedTracker((_h, t) => (t[1] = 2 ** 20))), 'descriptor.buffer.segments'],
    ['VfTracker: a fractional range', () => VfTracker.fromShared(forgedTracker((_h, t) => (t[1] = 1.5))), 'descriptor.buffer.ranges[0]'],
    ['VfTracker: limits that are not an object', () => VfTracker.fromShared({ ...tracker(), limits: never(5) }), 'descriptor.limits'],
    [
      'IovaBitmap: a plain ArrayBuffer (a worker would write into a copy)',
      () => IovaBitmap.fromShared({ ...new IovaBitmap({ iova: 0, length: 64, pageSize: 1 }).share(), buffer: never(new ArrayBuffer(8)) }),
      'descriptor.buffer',
    ],
    ['dirtySourceFromShared: a string', () => dirtySourceFromShared(never('x')), 'descriptor'],
  ];
  it.each(cases)('%s', (_name, call, param) => {
    const e = rejection(call);
    expect([e.code, e.param]).toEqual(['EINVAL', param]);
  });

  it('the real descriptors still open, after a structured clone', () => {
    expect(IoPageTable.fromShared(structuredClone(table())).dirtyTracking).toBe(true);
    expect(VfTracker.fromShared(structuredClone(tracker())).recordedPages()).toEqual([8192n]);
  });
});

describe('helpers of the public surface refuse wrong types', () => {
  const cases: [string, () => unknown, string][] = [
    ['computeWindows with nbits "16" (used to be coerced)', () => computeWindows({ iova: 0n, pageSize: 4096n, nbits: never('16'), byteOffset: 0, windowPages: 512 }), 'nbits'],
    ['computeWindows(null)', () => computeWindows(never(null)), 'geometry'],
    [
      'addSourceStats with a string field (used to concatenate)',
      () => addSourceStats({ entriesVisited: 1, dirtyLeaves: 0, bitsMarked: 0 }, never({ entriesVisited: '1', dirtyLeaves: 0, bitsMarked: 0 })),
      'b.entriesVisited',
    ],
    ['log2Exact(5)', () => log2Exact(never(5)), 'v'],
    ['lastAtOrBefore(null, 1)', () => lastAtOrBefore(never(null), 1), 'starts'],
    ['lastAtOrBefore([1], "2")', () => lastAtOrBefore([1], never('2')), 'p'],
    ["IoPageTable.workProfile('0', 4096n)", () => dirtyTable().workProfile(never('0'), 4096n), 'iova'],
    ["VfTracker.workProfile(0n, '4096') (used to concatenate)", () => startedTracker().workProfile(0n, never('4096')), 'length'],
    ['IoPageTable.dmaWritePages(2^53 + 2, 1)', () => dirtyTable().dmaWritePages(2 ** 53 + 2, 1), 'page'],
    ['new VfTracker([1, 2])', () => new VfTracker(never([1, 2])), 'limits'],
    ['IoPageTable name of 65 characters', () => new IoPageTable({ format: 'vtd-ss', name: 'n'.repeat(65) }), 'name'],
  ];
  it.each(cases)('%s', (_name, call, param) => {
    const e = rejection(call);
    expect([e.code, e.param]).toEqual(['EINVAL', param]);
  });

  it('an unknown format that is not a string is EOPNOTSUPP, not a TypeError', () => {
    expect(rejection(() => new IoPageTable({ format: never(Object.create(null)) })).code).toBe('EOPNOTSUPP');
  });
});
