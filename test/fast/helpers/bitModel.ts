/**
 * An independent, deliberately naive model of the IovaBitmap specification, for tests.
 *
 * Theory of operation
 * -------------------
 * The model keeps one JavaScript boolean per IOVA page (a plain array indexed by page number),
 * does its IOVA arithmetic in BigInt with division (no page shifts), and touches one page at a
 * time (no 32-bit words, no run masks), so it shares no code path and no trick with packages/core
 * (bitmap/bitKernels.ts, bitmap/windows.ts). It is written from the specification (the README's
 * theory of operation, docs/design/iommufd.md):
 *
 * - page k stands for IOVA [iova + k * pageSize, iova + (k + 1) * pageSize);
 * - set(x, len) marks every page that bytes [x, x + len - 1] touch, ignoring what lies outside
 *   the range; length 0 marks nothing;
 * - setBits / orMask / setUnits are the same operation expressed in bits, masks and units;
 * - the uAPI layout: page k is bit k % 8 of byte floor(k / 8);
 * - windows: each window pins the 4 KiB buffer pages [P, P + windowPages) where P is the page
 *   holding its first byte, and covers the bitmap bytes that fall in them.
 *
 * It is slow (one step per page) on purpose; keep nbits to a few thousand.
 *
 * The second half of the file holds the fast-check arbitraries the bitmap tests share: geometries
 * spread over the whole 64-bit IOVA space and every page size 2^0..2^63, and operation sequences
 * that hit inside, across and outside the range. {@link applyOp} applies one operation to anything
 * with the setter methods, so the same sequence drives the model and the real bitmap. The last
 * part builds *arenas*: a bitmap inside a buffer of random guard bytes, and the exact buffer
 * contents expected after the model's operations (guards untouched).
 */
import fc from 'fast-check';
import { firstDiff } from '../../helpers/bitmaps.js';
import { applySetterOp } from './setterOps.js';

/** 4 KiB: the size of the pages the bitmap memory is cut into (the kernel's PAGE_SIZE). */
export const MODEL_PAGE_BYTES = 4096;

/** A run of dirty IOVA, bytes. */
export interface ModelRange {
  iova: bigint;
  length: bigint;
}

/** The naive per-page model of one bitmap. */
export class BitModel {
  readonly iova: bigint;
  readonly length: bigint;
  readonly pageSize: bigint;
  readonly nbits: number;
  /** One entry per page: true when dirty. */
  readonly pages: boolean[];

  constructor(iova: bigint, length: bigint, pageSize: bigint) {
    if (length <= 0n || length % pageSize !== 0n) throw new Error('model: bad geometry');
    this.iova = iova;
    this.length = length;
    this.pageSize = pageSize;
    const n = length / pageSize;
    if (n > 1_000_000n) throw new Error('model: too many pages for the naive model');
    this.nbits = Number(n);
    this.pages = new Array<boolean>(this.nbits).fill(false);
  }

  /** One past the last IOVA, bytes. */
  get end(): bigint {
    return this.iova + this.length;
  }

  /** Marks the pages touched by IOVA bytes [x, x + len - 1], clipped to the range. */
  set(x: bigint, len: bigint): void {
    if (len <= 0n) return;
    const last = x + len - 1n;
    const from = x > this.iova ? x : this.iova;
    const to = last < this.end - 1n ? last : this.end - 1n;
    if (from > to) return;
    const k0 = Number((from - this.iova) / this.pageSize);
    const k1 = Number((to - this.iova) / this.pageSize);
    for (let k = k0; k <= k1; k++) this.pages[k] = true;
  }

  /** Marks pages [first, first + count) that exist. */
  setBits(first: number, count: number): void {
    for (let k = first; k < first + count; k++) if (k >= 0 && k < this.nbits) this.pages[k] = true;
  }

  /** Marks the pages touched by IOVA [unit * 2^shift, (unit + count) * 2^shift). */
  setUnits(unit: number, count: number, shift: number): void {
    if (count <= 0) return;
    const u = 2n ** BigInt(shift);
    this.set(BigInt(unit) * u, BigInt(count) * u);
  }

  /** For each set bit j of the 32-bit `mask`, marks page first + j when it exists. */
  orMask(first: number, mask: number): void {
    for (let j = 0; j < 32; j++) {
      if (((mask >>> j) & 1) === 1) this.setBits(first + j, 1);
    }
  }

  /** The page index of IOVA x as a floor division (may be out of [0, nbits)). */
  pageOf(x: bigint): bigint {
    const d = x - this.iova;
    const q = d / this.pageSize;
    return d < 0n && q * this.pageSize !== d ? q - 1n : q;
  }

  /** True when the page holding x is dirty; false outside the range. */
  test(x: bigint): boolean {
    if (x < this.iova || x >= this.end) return false;
    return this.pages[Number(this.pageOf(x))]!;
  }

  /** Number of dirty pages. */
  count(): number {
    let n = 0;
    for (const p of this.pages) if (p) n++;
    return n;
  }

  /** Marks nothing dirty. */
  clear(): void {
    this.pages.fill(false);
  }

  /** Maximal runs of dirty pages as IOVA ranges. */
  ranges(): ModelRange[] {
    const out: ModelRange[] = [];
    let k = 0;
    while (k < this.nbits) {
      if (!this.pages[k]) {
        k++;
        continue;
      }
      let e = k;
      while (e < this.nbits && this.pages[e]) e++;
      out.push({ iova: this.iova + BigInt(k) * this.pageSize, length: BigInt(e - k) * this.pageSize });
      k = e;
    }
    return out;
  }

  /** The expected bitmap bytes in the uAPI layout: page k is bit k % 8 of byte floor(k / 8). */
  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.nbits / 8));
    for (let k = 0; k < this.nbits; k++) if (this.pages[k]) out[Math.floor(k / 8)]! += 2 ** (k % 8);
    return out;
  }
}

/** A window as the model computes it (same fields as BitmapWindow). */
export interface ModelWindow {
  index: number;
  iova: bigint;
  length: bigint;
  firstBit: number;
  bitCount: number;
  byteOffset: number;
  byteLength: number;
}

/**
 * The windows from the spec, stated as pinning: a window starting at buffer byte s pins the
 * 4 KiB pages [floor(s / 4096), floor(s / 4096) + windowPages) and covers every bitmap byte in
 * them; the next window starts at the first byte not covered.
 */
export function modelWindows(iova: bigint, pageSize: bigint, nbits: number, byteOffset: number, windowPages: number): ModelWindow[] {
  const bytes = Math.ceil(nbits / 8);
  const endByte = byteOffset + bytes;
  const out: ModelWindow[] = [];
  let s = byteOffset;
  while (s < endByte) {
    const firstPage = Math.floor(s / MODEL_PAGE_BYTES);
    const e = Math.min(endByte, (firstPage + windowPages) * MODEL_PAGE_BYTES);
    const firstBit = (s - byteOffset) * 8;
    const bitCount = Math.min((e - s) * 8, nbits - firstBit);
    out.push({
      index: out.length,
      iova: iova + BigInt(firstBit) * pageSize,
      length: BigInt(bitCount) * pageSize,
      firstBit,
      bitCount,
      byteOffset: s,
      byteLength: e - s,
    });
    s = e;
  }
  return out;
}

/** Fills `bytes` with a deterministic pseudo-random pattern (xorshift32 from `seed`). */
export function fillRandom(bytes: Uint8Array, seed: number): void {
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries shared by the bitmap tests.

/** 2^64 - 1, the largest IOVA. */
export const MODEL_U64_MAX = 2n ** 64n - 1n;

/** A valid bitmap geometry: iova and length aligned to pageSize = 2^pageShift, end <= 2^64. */
export interface Geometry {
  iova: bigint;
  length: bigint;
  pageSize: bigint;
  pageShift: number;
  nbits: number;
}

/**
 * Geometries with every page size 2^0..2^63 (4 KiB more often) and iova anywhere in the 64-bit
 * space (fast-check's bigint bias favours both ends: iova 0 and ranges ending at 2^64 - 1).
 */
export function geometryArb(maxBits = 3000): fc.Arbitrary<Geometry> {
  return fc.oneof(fc.constant(12), fc.integer({ min: 0, max: 63 })).chain((pageShift) => {
    const pageSize = 2n ** BigInt(pageShift);
    const pagesInSpace = 2n ** BigInt(64 - pageShift);
    // length is a u64 too, so at most 2^64 - 1 bytes: one page fewer than the whole space.
    const maxN = pagesInSpace - 1n < BigInt(maxBits) ? Number(pagesInSpace - 1n) : maxBits;
    return fc.integer({ min: 1, max: maxN }).chain((nbits) => {
      const maxFirst = pagesInSpace - BigInt(nbits);
      const clampFirst = (v: bigint): bigint => (v < 0n ? 0n : v > maxFirst ? maxFirst : v);
      // Ranges that start or end near a large power-of-two boundary of the IOVA space (where a
      // unit of 2^t bytes begins): the shapes where unit and window arithmetic round.
      const nearBoundary = fc.integer({ min: 0, max: 64 - pageShift }).chain((t) =>
        fc
          .tuple(fc.bigInt({ min: 0n, max: 2n ** BigInt(64 - pageShift - t) }), fc.integer({ min: -nbits - 2, max: 2 }))
          .map(([m, j]) => clampFirst(m * 2n ** BigInt(t) + BigInt(j))),
      );
      const firstPageArb = fc.oneof(fc.bigInt({ min: 0n, max: maxFirst }), nearBoundary);
      return firstPageArb.map((firstPage) => ({
        iova: firstPage * pageSize,
        length: BigInt(nbits) * pageSize,
        pageSize,
        pageShift,
        nbits,
      }));
    });
  });
}

/** One operation on a bitmap. */
export type BitOp =
  | { kind: 'set'; iova: bigint; length: bigint }
  | { kind: 'setBits'; first: number; count: number }
  | { kind: 'setUnits'; unit: number; count: number; shift: number }
  | { kind: 'orMask'; first: number; mask: number }
  | { kind: 'clear' };

/** Anything that has the setter methods: the model and the real IovaBitmap. */
export interface BitSetter {
  set(iova: bigint, length: bigint): void;
  setBits(first: number, count: number): void;
  setUnits(unit: number, count: number, shift: number): void;
  orMask(first: number, mask: number): void;
  clear(): void;
}

/** Applies one operation (the setters through the threads test's applySetterOp, so one switch serves both). */
export function applyOp(t: BitSetter, op: BitOp): void {
  if (op.kind === 'clear') t.clear();
  else applySetterOp(t, op);
}

const clampU64 = (v: bigint): bigint => (v < 0n ? 0n : v > MODEL_U64_MAX ? MODEL_U64_MAX : v);
const clampSafe = (v: bigint): number => Number(v < 0n ? 0n : v > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : v);

/** set(iova, length) with both ends near, inside or far from the range, sub-page offsets included. */
export function setOpArb(g: Geometry): fc.Arbitrary<BitOp> {
  const near = fc
    .tuple(fc.integer({ min: -3, max: g.nbits + 3 }), fc.bigInt({ min: 0n, max: g.pageSize - 1n }))
    .map(([k, sub]) => clampU64(g.iova + BigInt(k) * g.pageSize + sub));
  const start = fc.oneof({ weight: 4, arbitrary: near }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MODEL_U64_MAX }) });
  const pages = fc.integer({ min: 0, max: Math.min(g.nbits + 4, 64) });
  const len = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(pages, fc.bigInt({ min: -(g.pageSize - 1n), max: g.pageSize - 1n })).map(([n, d]) => clampU64(BigInt(n) * g.pageSize + d)) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MODEL_U64_MAX }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 3n }) },
  );
  return fc.tuple(start, len).map(([iova, length]) => ({ kind: 'set' as const, iova, length }));
}

/** setUnits with every unit shift 0..63, units near the range, and counts up to 2^53 - 1. */
export function setUnitsOpArb(g: Geometry): fc.Arbitrary<BitOp> {
  // t: the largest unit shift with a unit boundary within a page of the range; units of 2^t and
  // more have an edge next to the bitmap, which is where inexact unit arithmetic shows.
  let t = 63;
  while (t > 0 && ((g.iova + g.length + g.pageSize) >> BigInt(t)) << BigInt(t) < g.iova - g.pageSize) t--;
  const shiftArb = fc.oneof(fc.constant(12), fc.integer({ min: 0, max: 63 }), fc.integer({ min: Math.max(0, t - 2), max: 63 }));
  return shiftArb.chain((shift) => {
    const u = 2n ** BigInt(shift);
    const base = g.iova / u;
    const span = (g.length + u - 1n) / u + 2n;
    const spanN = Number(span > 64n ? 64n : span);
    const unitNear = fc.bigInt({ min: -2n, max: span }).map((d) => clampSafe(base + d));
    const unit = fc.oneof({ weight: 5, arbitrary: unitNear }, { weight: 1, arbitrary: fc.maxSafeNat() });
    const count = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: -1, max: spanN + 2 }) },
      { weight: 1, arbitrary: fc.maxSafeNat() },
    );
    return fc.tuple(unit, count).map(([unitV, countV]) => ({ kind: 'setUnits' as const, unit: unitV, count: countV, shift }));
  });
}

/** Any operation, clear() rarely. */
export function opArb(g: Geometry): fc.Arbitrary<BitOp> {
  const bit = fc.integer({ min: -40, max: g.nbits + 8 });
  return fc.oneof(
    { weight: 4, arbitrary: setOpArb(g) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(bit, fc.oneof(fc.integer({ min: -5, max: 70 }), fc.integer({ min: -5, max: g.nbits + 50 })))
        .map(([first, count]) => ({ kind: 'setBits' as const, first, count })),
    },
    { weight: 3, arbitrary: setUnitsOpArb(g) },
    {
      weight: 2,
      arbitrary: fc.tuple(bit, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })).map(([first, mask]) => ({ kind: 'orMask' as const, first, mask })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );
}

/** Renders an op for failure messages (bigints as hex). */
export function showOp(op: BitOp): string {
  return JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}n` : v));
}

// ---------------------------------------------------------------------------------------------
// Arenas: a bitmap inside a larger buffer full of random guard bytes.

/** A buffer holding one bitmap at `byteOffset`, every other bit random (the canaries). */
export interface Arena {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly nbits: number;
  /** The buffer's bytes right after setup: guards random, the bitmap's nbits bits zero. */
  readonly initial: Uint8Array;
}

/**
 * Makes a SharedArrayBuffer of byteOffset + ceil(nbits / 8) + tailBytes bytes, fills it with
 * random bytes, then clears exactly the bitmap's nbits bits (the unused high bits of its last
 * byte keep their random value).
 */
export function makeArena(nbits: number, byteOffset: number, tailBytes: number, seed: number): Arena {
  const buffer = new SharedArrayBuffer(byteOffset + Math.ceil(nbits / 8) + tailBytes);
  const bytes = new Uint8Array(buffer);
  fillRandom(bytes, seed);
  for (let k = 0; k < nbits; k++) writeBit(bytes, byteOffset, k, false);
  return { buffer, byteOffset, nbits, initial: bytes.slice() };
}

function writeBit(bytes: Uint8Array, byteOffset: number, k: number, on: boolean): void {
  const i = byteOffset + Math.floor(k / 8);
  const m = 1 << k % 8;
  bytes[i] = on ? bytes[i]! | m : bytes[i]! & ~m;
}

/** The whole buffer as it must be: the initial guards, and the model's pages in the bitmap bits. */
export function expectedBuffer(arena: Arena, model: BitModel): Uint8Array {
  const out = arena.initial.slice();
  for (let k = 0; k < model.nbits; k++) writeBit(out, arena.byteOffset, k, model.pages[k]!);
  return out;
}

/** Describes a byte mismatch in an arena, for assertion messages. */
export function describeMismatch(arena: Arena, actual: Uint8Array, expected: Uint8Array): string {
  const i = firstDiff(actual, expected);
  if (i < 0) return 'equal';
  const bo = arena.byteOffset;
  const where = i < bo ? `guard byte ${i} before the bitmap` : i >= bo + Math.ceil(arena.nbits / 8) ? `guard byte ${i} after the bitmap` : `bitmap byte ${i - bo}`;
  return `${where}: got 0x${actual[i]!.toString(16)}, want 0x${expected[i]!.toString(16)}`;
}
