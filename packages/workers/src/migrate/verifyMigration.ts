/**
 * The migration checker: did the reports find every page the device wrote, late enough, and
 * nothing else?
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * Inputs: the ground truth GT (4 KiB pages the device wrote; ../device/DeviceEngine.ts), the union
 * U of every round's bitmap, each source's unit geometry (./unitMaps.ts), and optionally the
 * epochs: per written page the epoch of its last write (../device/WriteEpochs.ts) and per bit of U
 * the last round that reported it (./ReportedRounds.ts). All comparisons are made in U's geometry
 * (its IOVA range and page size B >= 4 KiB); GT is clipped to U's range.
 *
 *   G = project(GT)                bits of U's geometry holding a written page
 *   E = project(GT ∪ ⋃s widen_s(GT))  bits holding a written page or another page of a unit
 *                                  (leaf, tracker page) that holds one
 *   missing    = |G \ U|           written pages no report found: lost dirty state
 *   unexpected = |U \ E|           reported pages no write can explain: invented dirty state
 *   stale      = written 4 KiB pages p with lastReported(bit(p)) < epoch(p): the page's last
 *                write began after every round that reported it had completed, so the
 *                destination would keep an older copy (missing pages are stale too)
 *
 * What it proves. stale = 0 (with the epochs): every page's last write was reported by a round
 * that had not completed when the write began, i.e. a round whose copy holds the final data;
 * ../migrate/migrate.ts gives the argument, races with a harvest and the quiesce included.
 * missing = 0: every page written before the quiesce was reported by some round (the union);
 * with the ground-truth-first rule and the quiesce protocol, any page whose dirty mark was lost —
 * cleared without being recorded, dropped by a racing read-modify-write, skipped by a window or
 * chunk edge — shows up here. unexpected = 0: no report set a bit outside the widened ground
 * truth; because GT is written before the source is marked, this holds for every round even while
 * the device writes, so a round's bitmap can be checked on its own as well.
 *
 * What it cannot prove.
 * - Anything finer than the widening: a source that reports a whole leaf when only the right
 *   sub-pages were due looks correct, since a real leaf reports whole. With B > 4 KiB, anything
 *   finer than B.
 * - Without the epochs, which round found a page: a page dirtied in round 2 but first reported in
 *   round 5 passes the union check, and so does a page reported in round 1, written again in
 *   round 4 and never reported again. The epochs catch the second (stale); the first is a late
 *   report, not a loss, and passes both. Duplicates are allowed (record before clear may repeat,
 *   never lose).
 * - That every *unit* was reported whole: a report that sets only the written pages of a dirty
 *   2 MiB leaf passes (E is an upper bound, G a lower bound).
 * - Writes the device did not record: the checker trusts the device's ground truth and epochs
 *   (written by simple code, first, with atomics), and pages outside U's range are out of scope.
 *   It also trusts GT's summary (core's bitSummary.ts: GT's runs come from `dirtyRanges`, which
 *   skips unmarked blocks), the one piece it shares with the reports' writers; that layer is
 *   checked on its own (bitmap.summary and bitmap.threads tests: every set bit lies in a marked
 *   block, against a model), and missing reads U's bytes, not U's summary.
 * - Timing-dependent losses that did not happen in this run: it checks one execution.
 *
 * Cost: proportional to the written pages and the reported runs, never to the size of the
 * bitmaps. G and E are sorted lists of bit intervals, built from GT's runs and the unit maps
 * (never by setting bits, so a bug in the set kernels, packages/core/src/bitmap/bitKernels.ts,
 * cannot cancel out between U and the expectation); missing reads U's bytes under G's intervals;
 * unexpected walks U's runs (`dirtyRanges`) against E's intervals; stale visits each written page
 * once.
 */
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { PAGE_SHIFT, PAGE_SHIFT_BIG, PAGE_SIZE_BIG, pageOf } from '@iovabitmap/core/internal';
import { checkOptions } from '../checks.js';
import { WriteEpochs } from '../device/WriteEpochs.js';
import { ReportedRounds } from './ReportedRounds.js';
import { checkUnitMaps, type UnitMap } from './unitMaps.js';

/** Outcome of {@link verifyMigration}. */
export interface VerifyResult {
  /** True when nothing is missing, unexpected or stale. */
  readonly ok: boolean;
  /** Bits (bitmap pages) holding a written page that no round reported. */
  readonly missing: number;
  /** Reported bits outside the widened ground truth. */
  readonly unexpected: number;
  /**
   * With the epochs: written 4 KiB pages whose last write began after every round that reported
   * them had completed (missing pages included); 0 without them.
   */
  readonly stale: number;
  /** True when the epochs were given (the stale check ran). */
  readonly epochsChecked: boolean;
  /** Up to 8 IOVAs (bytes) of missing bitmap pages, lowest first. */
  readonly missingSample: readonly bigint[];
  /** Up to 8 IOVAs (bytes) of unexpected bitmap pages, lowest first. */
  readonly unexpectedSample: readonly bigint[];
  /** Up to 8 IOVAs (bytes) of stale 4 KiB pages, lowest first. */
  readonly staleSample: readonly bigint[];
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

/**
 * Sorted, disjoint intervals [a, b) of bits, appended in ascending order of a (an interval that
 * touches or overlaps the last one extends it).
 */
class Intervals {
  readonly a: number[] = [];
  readonly b: number[] = [];

  push(a: number, b: number): void {
    const n = this.a.length;
    if (n > 0 && a <= this.b[n - 1]!) {
      if (b > this.b[n - 1]!) this.b[n - 1] = b;
      return;
    }
    this.a.push(a);
    this.b.push(b);
  }

  /** Bits covered. */
  bits(): number {
    let n = 0;
    for (let i = 0; i < this.a.length; i++) n += this.b[i]! - this.a[i]!;
    return n;
  }

  /** The union of two interval lists. */
  static union(x: Intervals, y: Intervals): Intervals {
    const out = new Intervals();
    let i = 0;
    let j = 0;
    while (i < x.a.length || j < y.a.length) {
      if (j >= y.a.length || (i < x.a.length && x.a[i]! <= y.a[j]!)) out.push(x.a[i]!, x.b[i++]!);
      else out.push(y.a[j]!, y.b[j++]!);
    }
    return out;
  }
}

/** Up to 8 IOVAs of the first bits found, lowest first. */
const SAMPLE = 8;

/** The epochs of a migration, for the stale check of {@link verifyMigration}. */
export interface VerifyEpochs {
  /** The device's per-page epochs of its last writes (`DeviceSimulator.writeEpochs`). */
  readonly written: WriteEpochs;
  /** Per bit of `reported`, the last round that reported it (migrate() keeps it). */
  readonly reported: ReportedRounds;
}

/** Arguments of {@link verifyMigration}. */
export interface VerifyOptions {
  /** The device's ground truth (4 KiB pages). */
  readonly groundTruth: IovaBitmap;
  /** The union of the rounds' bitmaps (any page size >= 4 KiB, a multiple of 4 KiB). */
  readonly reported: IovaBitmap;
  /** The unit geometry of every source the device wrote into. */
  readonly units: readonly UnitMap[];
  /** The epochs: with them, the stale check runs too. @defaultValue none (stale is 0, `epochsChecked` false) */
  readonly epochs?: VerifyEpochs;
}

/**
 * Compares the reports with the ground truth; see the module comment. Never throws on a mismatch.
 * @throws IovaBitmapError `EINVAL` for arguments of the wrong shape (a ground truth that is not a
 *   4 KiB-page IovaBitmap, a `reported` that is not an IovaBitmap, `units` that are not unit maps,
 *   epochs that do not cover the ground truth's pages and `reported`'s bits).
 */
export function verifyMigration(o: VerifyOptions): VerifyResult {
  const where = 'verifyMigration';
  checkOptions(where, 'options', o);
  const gt = o.groundTruth;
  if (!(gt instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth', gt, 'must be an IovaBitmap');
  if (gt.pageSize !== PAGE_SIZE_BIG) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth.pageSize', gt.pageSize, 'must be 4096');
  const u = o.reported;
  if (!(u instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'reported', u, 'must be an IovaBitmap');
  checkUnitMaps(where, 'units', o.units);
  const epochs = o.epochs === undefined ? undefined : checkEpochs(where, o.epochs, gt, u);
  const base = pageOf(u.iova);
  const hiPage = pageOf(u.end);
  const shift = u.pageShift - PAGE_SHIFT;
  const ppb = 2 ** shift; // 4 KiB pages per bit
  const bitOf = (page: number): number => Math.floor((page - base) / ppb);
  const g = new Intervals();
  const widened = o.units.map(() => new Intervals());
  const uncovered: Record<string, number> = {};
  for (const m of o.units) uncovered[m.name] = 0;
  const uBytes = new Uint8Array(u.buffer, u.byteOffset, u.byteLength);
  let stale = 0;
  const staleSample: bigint[] = [];
  for (const run of gt.dirtyRanges()) {
    let first = pageOf(run.iova);
    let end = pageOf(run.iova + run.length);
    if (first < base) first = base;
    if (end > hiPage) end = hiPage;
    if (first >= end) continue;
    g.push(bitOf(first), bitOf(end - 1) + 1);
    for (let k = 0; k < o.units.length; k++) {
      const m = o.units[k]!;
      // One lookup per unit, not per page: a fully written 2 MiB leaf costs one call.
      for (let p = first; p < end; ) {
        const unit = m.unitOf(p);
        if (unit === undefined || unit.first + unit.count <= p) {
          uncovered[m.name] = (uncovered[m.name] ?? 0) + 1;
          p++;
        } else {
          const a = Math.max(unit.first, base);
          const b = Math.min(unit.first + unit.count, hiPage);
          if (a < b) widened[k]!.push(bitOf(a), bitOf(b - 1) + 1);
          p = unit.first + unit.count;
        }
      }
    }
    if (epochs !== undefined) {
      const wrote = epochs.written.bytes;
      const at = epochs.written.firstPage;
      const last = epochs.reported.bytes;
      for (let p = first; p < end; p++) {
        // last[] holds round + 1 (0: never reported): stale when round < epoch.
        if (last[bitOf(p)]! <= wrote[p - at]!) {
          stale++;
          if (staleSample.length < SAMPLE) staleSample.push(BigInt(p) << PAGE_SHIFT_BIG);
        }
      }
    }
  }
  let e = g;
  for (const w of widened) e = Intervals.union(e, w);
  const missing = missingBits(g, uBytes, u);
  const unexpected = unexpectedBits(u, e);
  return {
    ok: missing.n === 0 && unexpected.n === 0 && stale === 0,
    missing: missing.n,
    unexpected: unexpected.n,
    stale,
    missingSample: missing.sample,
    unexpectedSample: unexpected.sample,
    staleSample,
    epochsChecked: epochs !== undefined,
    groundTruthBits: g.bits(),
    allowedBits: e.bits(),
    reportedBits: unexpected.reported,
    uncoveredPages: uncovered,
  };
}

function checkEpochs(where: string, e: VerifyEpochs, gt: IovaBitmap, u: IovaBitmap): VerifyEpochs {
  checkOptions(where, 'epochs', e);
  if (!(e.written instanceof WriteEpochs) || e.written.firstPage !== pageOf(gt.iova) || e.written.pages !== gt.nbits) {
    throw IovaBitmapError.bad('EINVAL', where, 'epochs.written', e.written, "must be the WriteEpochs of the ground truth's pages");
  }
  if (!(e.reported instanceof ReportedRounds) || e.reported.bytes.length !== u.nbits) {
    throw IovaBitmapError.bad('EINVAL', where, 'epochs.reported', e.reported, 'must be the ReportedRounds of a bitmap of the geometry of reported');
  }
  return e;
}

/** The IOVA of bit `bit` of `u`. */
function iovaOfBit(u: IovaBitmap, bit: number): bigint {
  return u.iova + (BigInt(bit) << BigInt(u.pageShift));
}

/** Bits of G not set in U, read from U's bytes (plain reads, no kernel). */
function missingBits(g: Intervals, bytes: Uint8Array, u: IovaBitmap): { n: number; sample: bigint[] } {
  let n = 0;
  const sample: bigint[] = [];
  for (let i = 0; i < g.a.length; i++) {
    for (let bit = g.a[i]!; bit < g.b[i]!; bit++) {
      if (((bytes[bit >>> 3]! >> (bit & 7)) & 1) === 0) {
        n++;
        if (sample.length < SAMPLE) sample.push(iovaOfBit(u, bit));
      }
    }
  }
  return { n, sample };
}

/** U's runs against E's intervals: bits of U outside E, and U's bits in all. */
function unexpectedBits(u: IovaBitmap, e: Intervals): { n: number; sample: bigint[]; reported: number } {
  let n = 0;
  let reported = 0;
  const sample: bigint[] = [];
  const shift = BigInt(u.pageShift);
  let j = 0;
  const outside = (a: number, b: number): void => {
    n += b - a;
    for (let bit = a; bit < b && sample.length < SAMPLE; bit++) sample.push(iovaOfBit(u, bit));
  };
  for (const run of u.dirtyRanges()) {
    let a = Number((run.iova - u.iova) >> shift);
    const b = a + Number(run.length >> shift);
    reported += b - a;
    while (a < b) {
      while (j < e.a.length && e.b[j]! <= a) j++;
      if (j >= e.a.length || e.a[j]! >= b) {
        outside(a, b);
        break;
      }
      if (e.a[j]! > a) outside(a, e.a[j]!);
      a = e.b[j]!;
    }
  }
  return { n, sample, reported };
}
