/**
 * A bitmap whose memory disappears must not lose dirty pages. Regression: a bitmap on a plain
 * ArrayBuffer that was then detached (transferred) made reports succeed, set no bit (stores to an
 * out-of-bounds typed array are dropped) and clear the sources. Now: a resizable ArrayBuffer is
 * refused up front, and a detached one gives EFAULT from every report before anything is cleared,
 * and from every bitmap method that writes or returns data.
 */
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, reportDirty, VfTracker, type DirtySource } from '@iovabitmap/core';
import { rejection } from '../helpers/rejection.js';
import { MIB } from '../helpers/sizes.js';

/** WebAssembly.Memory (the test types have no DOM lib). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new () => object } }).WebAssembly.Memory;


/** ES2024 resizable and growable buffers (Node 20 has them; the project's TypeScript lib predates them). */
type Resizable = ArrayBuffer & { resize(n: number): void };
type Growable = SharedArrayBuffer & { grow(n: number): void };
const ResizableArrayBuffer = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable;
const SPAN = 64 * MIB;
const GEOMETRY = { iova: 0, length: SPAN, pageSize: 4096 } as const;

/** A bitmap over a plain ArrayBuffer (at an unaligned offset), then the buffer transferred away. */
function detachedBitmap(): IovaBitmap {
  const buffer = new ArrayBuffer(4096);
  const bitmap = new IovaBitmap({ ...GEOMETRY, buffer, byteOffset: 101 });
  structuredClone(buffer, { transfer: [buffer] });
  expect(buffer.byteLength).toBe(0);
  return bitmap;
}

/** The device's writes: scattered pages, a run across a 2 MiB edge, the last page. */
function dirty(write: (iova: number, length: number) => unknown): void {
  for (const [iova, length] of [
    [0, 1],
    [5 * 4096 + 7, 3 * 4096],
    [2 * MIB - 8192, 5 * 4096],
    [33 * MIB, 100 * 4096],
    [SPAN - 1, 1],
  ] as const) {
    write(iova, length);
  }
}

interface SourceCase {
  readonly name: string;
  readonly make: () => DirtySource;
  /** The source's own one-thread report (readAndClearDirty). */
  readonly own: (s: DirtySource, bitmap: IovaBitmap) => unknown;
}

function table(leaf: number): IoPageTable {
  const t = new IoPageTable({ format: 'vtd-ss', name: `iommu-${leaf}` });
  t.map(0, SPAN, { leaf });
  t.setDirtyTracking(true);
  dirty((iova, length) => t.dmaWrite(iova, length));
  return t;
}

const SOURCES: SourceCase[] = [
  { name: 'IoPageTable, 4 KiB leaves', make: () => table(4096), own: (s, b) => (s as IoPageTable).readAndClearDirty(b, 0, SPAN) },
  { name: 'IoPageTable, 2 MiB leaves', make: () => table(2 * MIB), own: (s, b) => (s as IoPageTable).readAndClearDirty(b, 0, SPAN) },
  {
    name: 'VfTracker',
    make: () => {
      const t = new VfTracker({ name: 'vf' });
      t.start({ ranges: [{ iova: 0, length: SPAN }], pageSize: 4096 });
      dirty((iova, length) => t.dmaWrite(iova, length));
      return t;
    },
    own: (s, b) => (s as VfTracker).readAndClearDirty(b, 0, SPAN),
  },
];

const REPORTS: { name: string; run: (c: SourceCase, s: DirtySource, b: IovaBitmap) => unknown }[] = [
  { name: 'reportDirty', run: (_c, s, b) => reportDirty({ bitmap: b, sources: [s] }) },
  { name: "the source's own report", run: (c, s, b) => c.own(s, b) },
  { name: 'checkReport', run: (_c, s, b) => s.checkReport(b, b.iova, b.length) },
  { name: 'reportChunk', run: (_c, s, b) => s.reportChunk(b, { chunkLo: 0n, chunkHi: BigInt(SPAN), clipLo: 0n, clipHi: BigInt(SPAN) }) },
];

describe('a detached ArrayBuffer: every report refuses with EFAULT and the sources keep every dirty page', () => {
  for (const c of SOURCES) {
    it.each(REPORTS)(`${c.name}: $name`, ({ run }) => {
      const source = c.make();
      const expected = new IovaBitmap(GEOMETRY);
      reportDirty({ bitmap: expected, sources: [source], noClear: true });
      expect(expected.count()).toBeGreaterThan(100);

      const e = rejection(() => run(c, source, detachedBitmap()));
      expect(e.code).toBe('EFAULT');
      expect(e.message).toMatch(/detached/);

      const after = new IovaBitmap(GEOMETRY);
      reportDirty({ bitmap: after, sources: [source] });
      expect(after.equals(expected)).toBe(true);
    });
  }
});

describe('a detached ArrayBuffer: every bitmap method that writes or reads gives EFAULT', () => {
  const calls: [string, (b: IovaBitmap) => unknown][] = [
    ['set', (b) => b.set(0, 4096)],
    ['setBits', (b) => b.setBits(0, 64)],
    ['setBits of whole words (plain stores)', (b) => b.setBits(27, 64)],
    ['setUnits', (b) => b.setUnits(0, 512, 12)],
    ['orMask', (b) => b.orMask(3, -1)],
    ['clear', (b) => b.clear()],
    ['test', (b) => b.test(0)],
    ['testBit', (b) => b.testBit(0)],
    ['count', (b) => b.count()],
    ['countBits', (b) => b.countBits(0, 100)],
    ['dirtyRanges', (b) => b.dirtyRanges()],
    ['snapshot', (b) => b.snapshot()],
    ['equals', (b) => b.equals(new IovaBitmap(GEOMETRY))],
    ['checkMemory', (b) => b.checkMemory()],
  ];
  it.each(calls)('%s', (_name, call) => {
    expect(rejection(() => call(detachedBitmap())).code).toBe('EFAULT');
  });

  it('dirtyRanges() detached between two steps stops with EFAULT', () => {
    const buffer = new ArrayBuffer(4096);
    const b = new IovaBitmap({ ...GEOMETRY, buffer });
    b.setBits(1, 1);
    b.setBits(10, 1);
    const it = b.dirtyRanges();
    expect(it.next().value).toEqual({ iova: 4096n, length: 4096n });
    structuredClone(buffer, { transfer: [buffer] });
    expect(rejection(() => it.next()).code).toBe('EFAULT');
  });

  it('windows() and the geometry need no memory and still answer', () => {
    const b = detachedBitmap();
    expect(b.windows().length).toBe(1);
    expect(b.nbits).toBe(SPAN / 4096);
  });
});

describe('a resizable ArrayBuffer is refused, so a shrink under a bitmap cannot arise', () => {
  it('the constructor gives EINVAL for a resizable ArrayBuffer, even one that is large enough', () => {
    const buffer = new ResizableArrayBuffer(4096, { maxByteLength: 8192 });
    const e = rejection(() => new IovaBitmap({ ...GEOMETRY, buffer }));
    expect([e.code, e.param]).toEqual(['EINVAL', 'buffer']);
    expect(e.message).toMatch(/resizable/);
    buffer.resize(0); // the scenario the rule exists for: no bitmap was built over this memory
    expect(buffer.byteLength).toBe(0);
  });

  it('a growable SharedArrayBuffer only grows: the bitmap keeps working, and reports into it', () => {
    const buffer = new GrowableSharedArrayBuffer(4096, { maxByteLength: 65536 });
    const b = new IovaBitmap({ ...GEOMETRY, buffer, byteOffset: 3 });
    b.setBits(0, 10);
    buffer.grow(65536);
    b.setBits(100, 10);
    const t = table(2 * MIB);
    reportDirty({ bitmap: b, sources: [t] });
    expect([b.testBit(0), b.testBit(109), b.count() > 1000]).toEqual([true, true, true]);
  });

  it('a plain non-resizable ArrayBuffer works while it lives', () => {
    const buffer = new ArrayBuffer(4096);
    const b = new IovaBitmap({ ...GEOMETRY, buffer });
    reportDirty({ bitmap: b, sources: [table(4096)] });
    expect(b.count()).toBeGreaterThan(100);
  });
});

describe('a bitmap of 64 KiB or more over fresh memory lives in a shared WebAssembly memory', () => {
  const big = { iova: 0, length: 2n ** 31n, pageSize: 4096 } as const; // 64 KiB of bitmap

  it('from 64 KiB on: its buffer is the memory\'s (whole 64 KiB pages); below: a SharedArrayBuffer of its bytes', () => {
    const b = new IovaBitmap(big);
    const memory = b.share().memory!;
    expect(memory).toBeInstanceOf(WasmMemory);
    expect(b.buffer).toBe(memory.buffer);
    expect(b.buffer.byteLength % 65536).toBe(0);
    const odd = new IovaBitmap({ ...big, length: 2n ** 31n + 4096n }); // one byte more: a second page
    expect([odd.byteLength, odd.buffer.byteLength]).toEqual([65537, 131072]);
    const small = new IovaBitmap({ ...big, length: 2n ** 31n - 4096n * 8n });
    expect([small.share().memory, small.buffer.byteLength]).toEqual([undefined, 65535]);
    expect(new IovaBitmap({ ...big, buffer: new SharedArrayBuffer(65536) }).share().memory).toBeUndefined();
  });

  it('travels with share(), through structuredClone, and a view writes the same words and summary', () => {
    const b = new IovaBitmap(big);
    const view = IovaBitmap.fromShared(structuredClone(b.share()));
    expect(view.share().memory).toBeInstanceOf(WasmMemory);
    const t = new IoPageTable({ format: 'vtd-ss' });
    t.map(0, 64 * MIB, { leaf: 4096 });
    t.setDirtyTracking(true);
    for (let p = 0; p < 16384; p += 7) t.dmaWritePages(p, 1);
    t.readAndClearDirty(view, 0, 64 * MIB);
    expect(b.count()).toBe(Math.ceil(16384 / 7));
    expect([...b.dirtyRanges()].length).toBe(Math.ceil(16384 / 7));
  });

  it('counts in WebAssembly (i64.popcnt) exactly what the JavaScript count of the same bits gives, for any range', () => {
    // The same random bits in a WebAssembly-memory bitmap and in one over a SharedArrayBuffer
    // (whose count is the JavaScript loop); the summary makes both count the same marked runs.
    const wasm = new IovaBitmap({ ...big, length: 2n ** 33n }); // 256 KiB of bitmap
    const js = new IovaBitmap({ ...big, length: 2n ** 33n, buffer: new SharedArrayBuffer(wasm.byteLength) });
    js.rescan();
    expect([wasm.share().memory !== undefined, js.share().memory]).toEqual([true, undefined]);
    let seed = 12345;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let i = 0; i < 300; i++) {
      const first = rnd(wasm.nbits);
      const count = i % 10 === 0 ? rnd(40_000) : rnd(70); // long runs (whole words, full blocks) and short ones
      wasm.setBits(first, count);
      js.setBits(first, count);
    }
    expect(wasm.count()).toBe(js.count());
    expect(wasm.count()).toBeGreaterThan(100_000);
    for (let i = 0; i < 500; i++) {
      const first = rnd(wasm.nbits);
      const n = i % 5 === 0 ? rnd(wasm.nbits) : rnd(3000); // any start: unaligned words, 4 bytes off 8
      expect(wasm.countBits(first, n), `${first} +${n}`).toBe(js.countBits(first, n));
    }
    wasm.setBits(0, wasm.nbits);
    expect(wasm.count()).toBe(wasm.nbits); // 2^21 bits in one call: past any 32-bit partial sum
  });

  it('fromShared refuses a memory that is not the buffer\'s, or no memory at all', () => {
    const d = new IovaBitmap(big).share();
    const other = new IovaBitmap(big).share().memory;
    const forged = { buffer: d.buffer };
    for (const memory of [other, forged, d.buffer, 1]) {
      const e = rejection(() => IovaBitmap.fromShared({ ...d, memory: memory as never }));
      expect([e.code, e.param]).toEqual(['EINVAL', 'descriptor.memory']);
    }
    expect(IovaBitmap.fromShared({ ...d, memory: undefined }).share().memory).toBeUndefined();
  });
});
