/**
 * A naive model of the VF tracker for the property tests (tracker.*.test.ts), written from the spec,
 * not from the implementation: the log is a Set of tracker page addresses (bigint), merging closes
 * the k smallest gaps (sorted by size, then position) instead of merging step by step, and a report
 * is computed page by page.
 */
import fc from 'fast-check';

/** [start, end) in bytes. */
export interface Iv {
  start: bigint;
  end: bigint;
}

/** Sorts, then closes the (n - max) smallest gaps (ties: leftmost first). */
export function modelMerge(ranges: readonly Iv[], max: number): Iv[] {
  const s = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
  const gaps = s.slice(1).map((r, i) => ({ i, gap: r.start - s[i]!.end }));
  gaps.sort((a, b) => (a.gap < b.gap ? -1 : a.gap > b.gap ? 1 : a.i - b.i));
  const closed = new Set(gaps.slice(0, Math.max(0, s.length - max)).map((g) => g.i));
  const out: Iv[] = [];
  s.forEach((r, i) => {
    if (i > 0 && closed.has(i - 1)) out[out.length - 1]!.end = r.end;
    else out.push({ ...r });
  });
  return out;
}

/** The device's log as a set of tracker page addresses. */
export class TrackerModel {
  readonly pages = new Set<bigint>();
  constructor(
    readonly T: bigint,
    readonly ranges: readonly Iv[],
  ) {}

  /** A DMA write of bytes [lo, hi); returns the distinct tracker pages it logs. */
  write(lo: bigint, hi: bigint): number {
    const touched = new Set<bigint>();
    for (const r of this.ranges) {
      const a = lo > r.start ? lo : r.start;
      const b = hi < r.end ? hi : r.end;
      if (a >= b) continue;
      for (let p = (a / this.T) * this.T; p < b; p += this.T) touched.add(p);
    }
    for (const p of touched) this.pages.add(p);
    return touched.size;
  }

  /** Pages a report of [cl, ch) reports, sorted. */
  owned(cl: bigint, ch: bigint): bigint[] {
    return [...this.pages].filter((a) => a < ch && a + this.T > cl).sort((x, y) => (x < y ? -1 : 1));
  }

  /** Bitmap bits (relative) and stats a report of [cl, ch) must produce; clears unless noClear. */
  report(bmIova: bigint, bmShift: number, cl: bigint, ch: bigint, noClear: boolean): { bits: Set<number>; leaves: number; marked: number } {
    const bits = new Set<number>();
    let marked = 0;
    const owned = this.owned(cl, ch);
    const sh = BigInt(bmShift);
    for (const a of owned) {
      const lo = a > cl ? a : cl;
      const hi = a + this.T < ch ? a + this.T : ch;
      const b0 = Number((lo - bmIova) >> sh);
      const b1 = Number((hi - 1n - bmIova) >> sh);
      for (let b = b0; b <= b1; b++) bits.add(b);
      marked += b1 - b0 + 1;
      if (!noClear) this.pages.delete(a);
    }
    return { bits, leaves: owned.length, marked };
  }

  sorted(): bigint[] {
    return [...this.pages].sort((x, y) => (x < y ? -1 : 1));
  }
}

/** IOVA bases that exercise 0, 2^40, 2^63 and the very top of the 64-bit space. */
export const BASES = [0n, 1n << 40n, 1n << 63n, (1n << 64n) - (1n << 32n)] as const;

/** A random START against random device limits, within a few MiB above a base. */
export interface StartCase {
  base: bigint;
  reqShift: number;
  limits: { maxRanges: number; minPageSize: bigint; maxPageSize: bigint };
  ranges: { iova: bigint; length: bigint }[];
}

export const startCaseArb = (o: { minShiftLo?: number } = {}): fc.Arbitrary<StartCase> =>
  fc
    .record({
      base: fc.constantFrom(...BASES),
      reqShift: fc.integer({ min: 12, max: 16 }),
      minShift: fc.integer({ min: o.minShiftLo ?? 12, max: 17 }),
      extra: fc.integer({ min: 0, max: 3 }),
      maxRanges: fc.integer({ min: 1, max: 5 }),
      pieces: fc.array(fc.record({ gap: fc.integer({ min: 0, max: 4 }), len: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 8 }),
      seed: fc.integer(),
    })
    .map(({ base, reqShift, minShift, extra, maxRanges, pieces, seed }) => {
      const R = 1n << BigInt(reqShift);
      let at = base;
      const ranges = pieces.map(({ gap, len }) => {
        at += BigInt(gap) * R;
        const r = { iova: at, length: BigInt(len) * R };
        at += r.length;
        return r;
      });
      let x = seed >>> 0; // deterministic shuffle: start() must accept any order
      for (let i = ranges.length - 1; i > 0; i--) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const j = x % (i + 1);
        [ranges[i], ranges[j]] = [ranges[j]!, ranges[i]!];
      }
      const limits = { maxRanges, minPageSize: 1n << BigInt(minShift), maxPageSize: 1n << BigInt(minShift + extra) };
      return { base, reqShift, limits, ranges };
    });

/** A DMA write: its place as a fraction (of 2^20) of the tracked span plus 64 KiB each side, its length in bytes. */
export interface WriteCase {
  frac: number;
  len: bigint;
  pages: boolean;
}

/** DMA writes; `pages` picks dmaWritePages (4 KiB page numbers) over dmaWrite (bytes). */
export const writesArb: fc.Arbitrary<WriteCase[]> = fc.array(
  fc.record({
    frac: fc.integer({ min: 0, max: 1 << 20 }),
    len: fc.oneof(fc.bigInt({ min: 1n, max: 8192n }), fc.bigInt({ min: 1n, max: 200_000n })),
    pages: fc.boolean(),
  }),
  { maxLength: 25 },
);

/** The first byte of a write of case `c`. */
export function writeAt(c: StartCase, w: WriteCase): bigint {
  const lo = c.ranges.reduce((m, r) => (r.iova < m ? r.iova : m), c.ranges[0]!.iova);
  const hi = c.ranges.reduce((m, r) => (r.iova + r.length > m ? r.iova + r.length : m), 0n);
  const from = lo < 65536n ? 0n : lo - 65536n;
  return from + ((hi + 65536n - from) * BigInt(w.frac)) / BigInt(1 << 20);
}
