/**
 * Memory the library cannot (or must not) allocate is a typed ENOMEM naming the bytes asked, before
 * anything is written. Regression: IoPageTable.map of 64 TiB of 4 KiB leaves (128 GiB of tables)
 * reserved every segment (SharedArrayBuffer memory is reserved lazily, so that succeeds here) and
 * then wrote tables until the OOM killer came. Allocation failures are simulated by SharedArrayBuffer
 * and WebAssembly.Memory constructors that refuse after a number of calls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker } from '@iovabitmap/core';
import { MAX_TABLE_BYTES, MAX_TRACKER_BYTES, wasmSegments } from '@iovabitmap/core/internal';
import { rejection } from '../helpers/rejection.js';
import { GiB, TiB } from '../helpers/sizes.js';

const RealSharedArrayBuffer = SharedArrayBuffer;
/** The WebAssembly namespace, typed for what is swapped here (the test types have no DOM lib). */
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (...a: unknown[]) => object } }).WebAssembly;
const RealMemory = wasm.Memory;

/** A constructor that fails (as V8 does when the host refuses) once `left()` says so. */
function failing<T extends new (...a: never[]) => object>(real: T, left: () => number, message: string): T {
  return new Proxy(real, {
    construct(target, args: unknown[]) {
      if (left() < 0) throw new RangeError(message);
      return Reflect.construct(target, args) as object;
    },
  });
}

/**
 * Makes `new SharedArrayBuffer` and `new WebAssembly.Memory` (table segments are WebAssembly
 * memories where the engine gives them) fail after `allowed` allocations of either, in all.
 */
function failAllocationsAfter(allowed: number): void {
  let left = allowed;
  const take = () => --left;
  globalThis.SharedArrayBuffer = failing(RealSharedArrayBuffer, take, 'Array buffer allocation failed');
  wasm.Memory = failing(RealMemory, take, 'WebAssembly.Memory(): could not allocate memory');
}

afterEach(() => {
  globalThis.SharedArrayBuffer = RealSharedArrayBuffer;
  wasm.Memory = RealMemory;
});

/** Everything observable about a table's memory and mappings. */
const state = (t: IoPageTable) => JSON.stringify(t.memoryStats(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

describe('IoPageTable.map refuses tables it cannot hold, before writing anything', () => {
  it('64 TiB of 4 KiB leaves (128 GiB of tables) is ENOMEM at once, naming the bytes', () => {
    const t = new IoPageTable({ format: 'vtd-ss' });
    t.map(0, GiB, { leaf: 2n ** 21n });
    const before = state(t);
    const t0 = performance.now();
    const e = rejection(() => t.map(TiB, 64n * TiB, { leaf: 4096 }));
    expect(performance.now() - t0).toBeLessThan(500); // a guard against building the tables (minutes), not a speed claim
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toMatch(/needs up to 137\d{9} more bytes of page table/);
    expect(e.message).toContain(String(MAX_TABLE_BYTES));
    expect(state(t)).toBe(before);
    t.map(TiB, GiB, { leaf: 4096 }); // the table still works
    expect(t.memoryStats().mappedBytes).toBe(2n * GiB);
  });

  it('a segment that cannot be allocated is ENOMEM, and the segments made for that map are dropped again', () => {
    const t = new IoPageTable({ format: 'amd-v1' });
    const before = state(t);
    failAllocationsAfter(2); // 64 GiB of 4 KiB leaves needs ~32 Ki table pages: many segments
    const e = rejection(() => t.map(0, 64n * GiB, { leaf: 4096 }));
    expect([e.code, e.param]).toEqual(['ENOMEM', 'length']);
    expect(e.message).toMatch(/cannot allocate \d+ bytes of page table/);
    expect(state(t)).toBe(before);
    globalThis.SharedArrayBuffer = RealSharedArrayBuffer;
    wasm.Memory = RealMemory;
    t.map(0, 4n * GiB, { leaf: 4096 });
    t.setDirtyTracking(true);
    t.dmaWrite(4096, 1);
    expect(t.leafAt(4096)?.size).toBe(4096n);
  });

  it('a segment whose WebAssembly memory is refused is a plain SharedArrayBuffer, and the walk still finds every page', () => {
    wasm.Memory = failing(RealMemory, () => -1, 'WebAssembly.Memory(): could not allocate memory');
    const t = new IoPageTable({ format: 'vtd-ss' });
    t.map(0, GiB, { leaf: 4096 });
    expect(wasmSegments(t)).toBe(0);
    t.setDirtyTracking(true);
    t.dmaWrite(3 * 4096, 4096);
    t.dmaWrite(GiB - 4096n, 1);
    const bm = new IovaBitmap({ iova: 0, length: GiB, pageSize: 4096 });
    t.readAndClearDirty(bm, 0, GiB);
    expect([...bm.dirtyRanges()].map((r) => [r.iova, r.length])).toEqual([
      [3n * 4096n, 4096n],
      [GiB - 4096n, 4096n],
    ]);
  });
});

describe('bitmaps and tracker records: ENOMEM naming the bytes', () => {
  it('a bitmap whose SharedArrayBuffer cannot be allocated', () => {
    failAllocationsAfter(0);
    const e = rejection(() => new IovaBitmap({ iova: 0, length: 64n * GiB, pageSize: 4096 }));
    expect([e.code, e.message]).toEqual(['ENOMEM', 'IovaBitmap: cannot allocate 2097152 bytes of bitmap']);
  });

  it('a bitmap whose WebAssembly memory is refused is a SharedArrayBuffer of its bytes, and the walk records every page into it', () => {
    const t = new IoPageTable({ format: 'vtd-ss' });
    t.map(0, GiB, { leaf: 4096 });
    t.setDirtyTracking(true);
    t.dmaWrite(3 * 4096, 4096 * 40);
    wasm.Memory = failing(RealMemory, () => -1, 'WebAssembly.Memory(): could not allocate memory');
    const bm = new IovaBitmap({ iova: 0, length: 64n * GiB, pageSize: 4096 });
    expect([bm.share().memory, bm.buffer.byteLength]).toEqual([undefined, 2097152]);
    t.readAndClearDirty(bm, 0, GiB);
    expect([...bm.dirtyRanges()].map((r) => [r.iova, r.length])).toEqual([[3n * 4096n, 40n * 4096n]]);
  });

  it('a snapshot larger than one Uint8Array can hold', () => {
    const b = new IovaBitmap({ iova: 0n, length: 1n << 48n, pageSize: 4096n }); // 8 GiB, untouched
    expect(rejection(() => b.snapshot()).code).toBe('ENOMEM');
  });

  it('tracker records that cannot be allocated leave the tracker stopped', () => {
    const t = new VfTracker({ name: 'vf' });
    failAllocationsAfter(0);
    const e = rejection(() => t.start({ ranges: [{ iova: 0, length: 64n * GiB }], pageSize: 4096 }));
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toMatch(/ranges need 2097\d{3} bytes of tracker records/);
    expect(t.started).toBe(false);
    globalThis.SharedArrayBuffer = RealSharedArrayBuffer;
    expect(rejection(() => t.start({ ranges: [{ iova: 0, length: 1n << 47n }], pageSize: 4096 })).message).toContain(String(MAX_TRACKER_BYTES));
  });
});
