/**
 * The migration checker: did the reports find every page the device wrote, and nothing else?
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * Inputs: the ground truth GT (4 KiB pages the device wrote; ../device/DeviceEngine.ts), the union
 * U of every round's bitmap, and each source's unit geometry (./unitMaps.ts). All comparisons are
 * made in U's geometry (its IOVA range and page size B >= 4 KiB); GT is clipped to U's range.
 *
 *   G = project(GT)                bits of U's geometry holding a written page
 *   E = project(GT ∪ ⋃s widen_s(GT))  bits holding a written page or another page of a unit
 *                                  (leaf, tracker page) that holds one
 *   missing    = |G \ U|           written pages no report found: lost dirty state
 *   unexpected = |U \ E|           reported pages no write can explain: invented dirty state
 *
 * What it proves. missing = 0: every page written before the quiesce was reported by some round
 * (the union); with the ground-truth-first rule and the quiesce protocol, any page whose dirty mark
 * was lost — cleared without being recorded, dropped by a racing read-modify-write, skipped by a
 * window or chunk edge — shows up here. unexpected = 0: no report set a bit outside the widened
 * ground truth; because GT is written before the source is marked, this holds for every round
 * even while the device writes, so a round's bitmap can be checked on its own as well.
 *
 * What it cannot prove.
 * - Anything finer than the widening: a source that reports a whole leaf when only the right
 *   sub-pages were due looks correct, since a real leaf reports whole. With B > 4 KiB, anything
 *   finer than B.
 * - Which round found a page: a page dirtied in round 2 but first reported in round 5 passes; so
 *   does a page reported twice (duplicates are allowed: record before clear may repeat, never lose).
 * - That every *unit* was reported whole: a report that sets only the written pages of a dirty
 *   2 MiB leaf passes (E is an upper bound, G a lower bound).
 * - Writes the device did not record: the checker trusts the device's ground truth (it is written by
 *   simple code, first, with atomics), and pages outside U's range are out of scope.
 * - Timing-dependent losses that did not happen in this run: it checks one execution.
 *
 * G and E are built with plain byte loops here, not with IovaBitmap's kernels, so a bug in the
 * set kernels (packages/core/src/bitmap/bitKernels.ts) cannot cancel out between U and the expectation.
 */
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { PAGE_SHIFT_BIG, PAGE_SIZE_BIG, pageOf } from '@iovabitmap/core/internal';
import { checkOptions } from '../checks.js';
import { checkUnitMaps, type UnitMap } from './unitMaps.js';

/** Outcome of {@link verifyMigration}. */
export interface VerifyResult {
  /** True when nothing is missing and nothing is unexpected. */
  readonly ok: boolean;
  /** Bits (bitmap pages) holding a written page that no round reported. */
  readonly missing: number;
  /** Reported bits outside the widened ground truth. */
  readonly unexpected: number;
  /** Up to 8 IOVAs (bytes) of missing bitmap pages, lowest first. */
  readonly missingSample: readonly bigint[];
  /** Up to 8 IOVAs (bytes) of unexpected bitmap pages, lowest first. */
  readonly unexpectedSample: readonly bigint[];
  /** Bits of G: bitmap pages holding a written page. */
  readonly groundTruthBits: number;
  /** Bits of E: bitmap pages a report may set. */
  readonly allowedBits: number;
  /** Bits of U: bitmap pages reported. */
  readonly reportedBits: number;
  /**
   * Per source: 4 KiB ground-truth pages (inside the range) the source does not cover (unmapped in
   * the page table, untracked by the tracker). Non-zero means the device wrote where that source
   * cannot see; see the region rule of ../device/DeviceEngine.ts.
   */
  readonly uncoveredPages: Readonly<Record<string, number>>;
}

/** A plain bit array in a bitmap's geometry, set with byte loops (independent of core's bitKernels.ts). */
class PlainBits {
  readonly bytes: Uint8Array;
  readonly #basePage: number;
  readonly #pagesPerBit: number;

  constructor(readonly nbits: number, iova: bigint, pageSize: bigint) {
    this.bytes = new Uint8Array(Math.ceil(nbits / 8));
    this.#basePage = pageOf(iova);
    this.#pagesPerBit = pageOf(pageSize);
  }

  /** Marks the bits holding 4 KiB pages [first, first + count), clipped. */
  setPages(first: number, count: number): void {
    let a = Math.floor((first - this.#basePage) / this.#pagesPerBit);
    let b = Math.floor((first + count - 1 - this.#basePage) / this.#pagesPerBit);
    if (a < 0) a = 0;
    if (b > this.nbits - 1) b = this.nbits - 1;
    if (a > b) return;
    const bytes = this.bytes;
    while (a <= b && (a & 7) !== 0) bytes[a >> 3]! |= 1 << (a & 7), a++;
    const wholeEnd = (b + 1) & ~7; // first bit of the byte after the last whole byte
    if (a < wholeEnd) {
      bytes.fill(0xff, a >> 3, wholeEnd >> 3);
      a = wholeEnd;
    }
    while (a <= b) bytes[a >> 3]! |= 1 << (a & 7), a++;
  }
}

function popcount8(x: number): number {
  x = x - ((x >> 1) & 0x55);
  x = (x & 0x33) + ((x >> 2) & 0x33);
  return (x + (x >> 4)) & 0x0f;
}

/** Counts the bits of `a & ~b` (byte arrays of equal length) and samples the first few. */
function diff(a: Uint8Array, b: Uint8Array, u: IovaBitmap): { n: number; sample: bigint[] } {
  let n = 0;
  const sample: bigint[] = [];
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! & ~b[i]!;
    if (d === 0) continue;
    n += popcount8(d);
    for (let j = 0; j < 8 && sample.length < 8; j++) {
      if ((d >> j) & 1) sample.push(u.iova + (BigInt(i * 8 + j) << BigInt(u.pageShift)));
    }
  }
  return { n, sample };
}

function count(a: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) n += popcount8(a[i]!);
  return n;
}

/** Arguments of {@link verifyMigration}. */
export interface VerifyOptions {
  /** The device's ground truth (4 KiB pages). */
  readonly groundTruth: IovaBitmap;
  /** The union of the rounds' bitmaps (any page size >= 4 KiB, a multiple of 4 KiB). */
  readonly reported: IovaBitmap;
  /** The unit geometry of every source the device wrote into. */
  readonly units: readonly UnitMap[];
}

/**
 * Compares the reports with the ground truth; see the module comment. Never throws on a mismatch.
 * @throws IovaBitmapError `EINVAL` for arguments of the wrong shape (a ground truth that is not a
 *   4 KiB-page IovaBitmap, a `reported` that is not an IovaBitmap, `units` that are not unit maps).
 */
export function verifyMigration(o: VerifyOptions): VerifyResult {
  const where = 'verifyMigration';
  checkOptions(where, 'options', o);
  if (!(o.groundTruth instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth', o.groundTruth, 'must be an IovaBitmap');
  if (o.groundTruth.pageSize !== PAGE_SIZE_BIG) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth.pageSize', o.groundTruth.pageSize, 'must be 4096');
  if (!(o.reported instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'reported', o.reported, 'must be an IovaBitmap');
  checkUnitMaps(where, 'units', o.units);
  const u = o.reported;
  const g = new PlainBits(u.nbits, u.iova, u.pageSize);
  const e = new PlainBits(u.nbits, u.iova, u.pageSize);
  const lo = u.iova >> PAGE_SHIFT_BIG;
  const hi = u.end >> PAGE_SHIFT_BIG;
  const uncovered: Record<string, number> = {};
  for (const m of o.units) uncovered[m.name] = 0;
  for (const run of o.groundTruth.dirtyRanges()) {
    let a = run.iova >> PAGE_SHIFT_BIG;
    let b = (run.iova + run.length) >> PAGE_SHIFT_BIG;
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    if (a >= b) continue;
    const first = Number(a);
    const end = Number(b);
    g.setPages(first, end - first);
    e.setPages(first, end - first);
    for (const m of o.units) {
      // One lookup per unit, not per page: a fully written 2 MiB leaf costs one call.
      for (let p = first; p < end; ) {
        const unit = m.unitOf(p);
        if (unit === undefined || unit.first + unit.count <= p) {
          uncovered[m.name] = (uncovered[m.name] ?? 0) + 1;
          p++;
        } else {
          e.setPages(unit.first, unit.count);
          p = unit.first + unit.count;
        }
      }
    }
  }
  const reported = u.snapshot();
  const missing = diff(g.bytes, reported, u);
  const unexpected = diff(reported, e.bytes, u);
  return {
    ok: missing.n === 0 && unexpected.n === 0,
    missing: missing.n,
    unexpected: unexpected.n,
    missingSample: missing.sample,
    unexpectedSample: unexpected.sample,
    groundTruthBits: count(g.bytes),
    allowedBits: count(e.bytes),
    reportedBits: count(reported),
    uncoveredPages: uncovered,
  };
}
