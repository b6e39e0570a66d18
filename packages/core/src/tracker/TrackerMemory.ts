/**
 * The shared record memory of a VF tracker: one SharedArrayBuffer per START.
 *
 * Theory of operation
 * -------------------
 * What it models: the device's dirty log for the ranges of one DMA logging START. A record is one
 * *tracker page* [q·T, (q+1)·T), T = 2^pageShift, aligned to T; its number q = iova >> pageShift is
 * a plain number (< 2^52). The device logs a write to a tracked range as the tracker pages it
 * touches; a write outside every tracked range is not logged.
 *
 * Layout (little-endian, offsets in bytes):
 *
 *   0   Int32 header[8]: MAGIC, STARTED (1/0), pageShift, #ranges, #segments, word offset, #words, 0
 *   32  Float64 table: per range [start4k, end4k, segment]; then per segment [firstPage, endPage,
 *       firstWord]  (every value an integer < 2^53, so exact)
 *   64-aligned: Int32 record words, one bit per tracker page of each segment, each segment
 *       starting on a fresh word (bit k of a segment = page firstPage + k)
 *
 * Segments: the tracker pages of each range, [floor(start/T), ceil(end/T)). When T is coarser than
 * the alignment of the ranges (the device clamped the page size up), two neighbouring ranges can
 * share their edge page; such ranges share one segment so that every tracker page has exactly one
 * bit. Ranges are in 4 KiB units (exact: ranges are 4 KiB-aligned and end below 2^64).
 *
 * Lifetime: {@link TrackerMemory.allocate} builds a new buffer for each START; STOP stores
 * STARTED = 0, which every view sees (Atomics.load), and drops the owner's reference. A view made
 * in another thread with {@link TrackerMemory.open} stays valid until then; after a new START the
 * tracker has a new buffer and must be shared again. The header and tables are written once,
 * before the buffer is shared, and only read afterwards.
 */
import { bufferByteLength, bufferKind } from '../buffers.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { PAGE_SHIFT, pageIova, pageOf } from '../sizes.js';
import { VFIO_MAX_LOG_RANGES } from './trackerLimits.js';
import { lastAtOrBefore } from '../sortedRuns.js';
import { orBitRun } from './trackerKernel.js';
import type { IovaInterval, TrackingPlan } from './trackerRanges.js';

const MAGIC = 0x76667472; // "vftr"
const H_MAGIC = 0;
const H_STARTED = 1;
const H_PAGE_SHIFT = 2;
const H_RANGES = 3;
const H_SEGMENTS = 4;
const H_WORDS_AT = 5;
const H_WORDS = 6;
const HEADER_BYTES = 32;
/** Largest record memory we allocate, bytes (2^35 tracker pages: 128 TiB at 4 KiB pages). */
export const MAX_TRACKER_BYTES = 2 ** 32;

/** Where the record words start, bytes: after the header and the tables, 64-aligned. */
function wordsByteFor(ranges: number, segments: number): number {
  return Math.ceil((HEADER_BYTES + 8 * 3 * (ranges + segments)) / 64) * 64;
}

/**
 * The segments of sorted, disjoint ranges given in tracker pages [first, end) (module comment):
 * neighbours that share an edge page share a segment; each segment's bits start on a fresh word.
 * @returns the segments with their first word, the segment of each range, and the words in all
 */
function segmentsOf(ranges: readonly { first: number; end: number }[]): {
  segs: { first: number; end: number; word: number }[];
  rangeSeg: number[];
  wordCount: number;
} {
  const segs: { first: number; end: number; word: number }[] = [];
  const rangeSeg: number[] = [];
  for (const { first, end } of ranges) {
    const last = segs[segs.length - 1];
    if (last !== undefined && first < last.end) last.end = Math.max(last.end, end);
    else segs.push({ first, end, word: 0 });
    rangeSeg.push(segs.length - 1);
  }
  let wordCount = 0;
  for (const g of segs) {
    g.word = wordCount;
    wordCount += Math.ceil((g.end - g.first) / 32);
  }
  return { segs, rangeSeg, wordCount };
}

/** Int32 words per 4 KiB page of memory. */
const WORDS_PER_PAGE = 1024;

/**
 * Reads one word of every 4 KiB page of `words` [from, end), so that the OS maps the pages now
 * (at START) instead of on the first report that reads them. A fresh SharedArrayBuffer's pages are
 * mapped on first touch, and on this project's VM a first touch costs ~13 µs per page: the first
 * report of a 1 TiB tracker (32 MiB of records) took 61-74 ms against 5-7 ms for the next ones,
 * and 17 ms once the records had been read before it (docs/bench/pool.md, "The first report").
 * Reading maps the pages without writing them, so the memory stays as zero-filled as it was.
 * Returns the OR of the words read (0), so that the reads are not optimised away.
 */
function touchPages(words: Int32Array, from: number, end: number): number {
  let any = 0;
  for (let i = from; i < end; i += WORDS_PER_PAGE) any |= words[i]!;
  return any;
}

/** A view of one tracker's shared memory; any number of views may exist in any threads. */
export class TrackerMemory {
  /** The shared memory (header, tables, record words). */
  readonly buffer: SharedArrayBuffer;
  /** Tracker page shift: page size = 2^pageShift bytes. */
  readonly pageShift: number;
  /** The record words (an Int32 view over the whole buffer; record bits start at word {@link wordsAt}). */
  readonly words: Int32Array;
  /** Index of the first record word in {@link words}. */
  readonly wordsAt: number;
  /** Number of record words. */
  readonly wordCount: number;
  /** Per range: first 4 KiB page, one past the last, and the segment holding its bits. */
  readonly rangeStart4k: readonly number[];
  readonly rangeEnd4k: readonly number[];
  readonly rangeSegment: readonly number[];
  /** Per segment: first tracker page, one past the last, and the absolute bit of its first page. */
  readonly segFirstPage: readonly number[];
  readonly segEndPage: readonly number[];
  readonly segFirstBit: readonly number[];
  readonly #header: Int32Array;
  readonly #pagesPer4k: number;

  private constructor(buffer: SharedArrayBuffer) {
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.buffer = buffer;
    this.#header = header;
    this.pageShift = header[H_PAGE_SHIFT]!;
    this.#pagesPer4k = 2 ** (this.pageShift - PAGE_SHIFT);
    const nr = header[H_RANGES]!;
    const ns = header[H_SEGMENTS]!;
    const table = new Float64Array(buffer, HEADER_BYTES, 3 * (nr + ns));
    const col = (at: number, n: number, k: number) => Array.from({ length: n }, (_, i) => table[at + 3 * i + k]!);
    this.rangeStart4k = col(0, nr, 0);
    this.rangeEnd4k = col(0, nr, 1);
    this.rangeSegment = col(0, nr, 2);
    this.segFirstPage = col(3 * nr, ns, 0);
    this.segEndPage = col(3 * nr, ns, 1);
    this.wordsAt = header[H_WORDS_AT]!;
    this.wordCount = header[H_WORDS]!;
    this.words = new Int32Array(buffer, 0, this.wordsAt + this.wordCount);
    this.segFirstBit = col(3 * nr, ns, 2).map((w) => (this.wordsAt + w) * 32);
  }

  /**
   * Lays out and allocates the memory of a plan (sorted, disjoint ranges), zeroed, STARTED = 1.
   * @throws IovaBitmapError `ENOMEM` when the records need more than {@link MAX_TRACKER_BYTES} or
   *   the allocation fails.
   */
  static allocate(where: string, plan: TrackingPlan): TrackerMemory {
    const s = BigInt(plan.pageShift);
    const { segs, rangeSeg, wordCount } = segmentsOf(plan.ranges.map((r) => ({ first: Number(r.start >> s), end: Number((r.end + (1n << s) - 1n) >> s) })));
    const tableBytes = 8 * 3 * (plan.ranges.length + segs.length);
    const wordsByte = wordsByteFor(plan.ranges.length, segs.length);
    const bytes = wordsByte + 4 * wordCount;
    let buffer: SharedArrayBuffer;
    try {
      if (bytes > MAX_TRACKER_BYTES) throw new RangeError(`more than ${MAX_TRACKER_BYTES} bytes`);
      buffer = new SharedArrayBuffer(bytes);
    } catch (cause) {
      const why = `ranges need ${bytes} bytes of tracker records (${wordCount * 32} tracker pages), which cannot be allocated (limit ${MAX_TRACKER_BYTES})`;
      throw new IovaBitmapError('ENOMEM', `${where}: ${why}`, {
        param: 'ranges',
        value: String(bytes),
        cause,
      });
    }
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    header[H_MAGIC] = MAGIC;
    header[H_PAGE_SHIFT] = plan.pageShift;
    header[H_RANGES] = plan.ranges.length;
    header[H_SEGMENTS] = segs.length;
    header[H_WORDS_AT] = wordsByte / 4;
    header[H_WORDS] = wordCount;
    const table = new Float64Array(buffer, HEADER_BYTES, tableBytes / 8);
    plan.ranges.forEach((r, i) => table.set([pageOf(r.start), pageOf(r.end), rangeSeg[i]!], 3 * i));
    segs.forEach((g, i) => table.set([g.first, g.end, g.word], 3 * (plan.ranges.length + i)));
    touchPages(new Int32Array(buffer), wordsByte / 4, wordsByte / 4 + wordCount);
    Atomics.store(header, H_STARTED, 1);
    return new TrackerMemory(buffer);
  }

  /**
   * A view of memory made by {@link allocate}, in this or another thread. The header and tables
   * are checked against the buffer and against the layout allocate() gives the ranges they list
   * (the segments, their words, the offsets, the size), so a forged or damaged buffer is refused
   * instead of steering the kernels' indices outside the record words.
   * @throws IovaBitmapError `EINVAL` when `buffer` is not a tracker's memory, naming the field.
   */
  static open(where: string, buffer: unknown): TrackerMemory {
    const bad = (field: string, value: unknown, why: string): IovaBitmapError =>
      IovaBitmapError.bad('EINVAL', where, `descriptor.buffer${field}`, value, why);
    if (bufferKind(buffer) !== 'shared') throw bad('', buffer, "is not a VfTracker's shared memory (a SharedArrayBuffer)");
    const sab = buffer as SharedArrayBuffer;
    const size = bufferByteLength(sab, 'shared');
    if (size < HEADER_BYTES || size % 4 !== 0 || new Int32Array(sab, 0, 1)[0] !== MAGIC) throw bad('', buffer, "is not a VfTracker's shared memory");
    const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    const field = (i: number, name: string, min: number, max: number): number => {
      const v = h[i]!;
      if (v < min || v > max) throw bad(`.header.${name}`, v, `must be in [${min}, ${max}]`);
      return v;
    };
    field(H_STARTED, 'started', 0, 1);
    const pageShift = field(H_PAGE_SHIFT, 'pageShift', PAGE_SHIFT, 63);
    const nr = field(H_RANGES, 'ranges', 1, VFIO_MAX_LOG_RANGES);
    const ns = field(H_SEGMENTS, 'segments', 1, nr);
    const wordsByte = wordsByteFor(nr, ns);
    if (size < wordsByte) throw bad('', buffer, `is too small for the tables of ${nr} ranges and ${ns} segments`);
    field(H_WORDS_AT, 'wordsAt', wordsByte / 4, wordsByte / 4);
    const wordCount = field(H_WORDS, 'words', (size - wordsByte) / 4, (size - wordsByte) / 4);
    const table = new Float64Array(sab, HEADER_BYTES, 3 * (nr + ns));
    const per = 2 ** (pageShift - PAGE_SHIFT);
    const pages: { first: number; end: number }[] = [];
    for (let i = 0; i < nr; i++) {
      const a = table[3 * i]!;
      const b = table[3 * i + 1]!;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < (i === 0 ? 0 : table[3 * i - 2]!) || b <= a || b > 2 ** 52) {
        throw bad(`.ranges[${i}]`, [a, b], 'must be ascending, disjoint [start, end) 4 KiB pages below 2^52');
      }
      pages.push({ first: Math.floor(a / per), end: Math.ceil(b / per) });
    }
    const want = segmentsOf(pages);
    const same =
      want.segs.length === ns &&
      want.wordCount === wordCount &&
      want.rangeSeg.every((g, i) => table[3 * i + 2] === g) &&
      want.segs.every((g, i) => table[3 * (nr + i)] === g.first && table[3 * (nr + i) + 1] === g.end && table[3 * (nr + i) + 2] === g.word);
    if (!same) throw bad('.segments', ns, 'do not match the layout of the ranges (segments, their words, the record size)');
    return new TrackerMemory(sab);
  }

  /** True until some view calls {@link markStopped}. */
  isStarted(): boolean {
    return Atomics.load(this.#header, H_STARTED) === 1;
  }

  /** Ends tracking for every view of this memory. */
  markStopped(): void {
    Atomics.store(this.#header, H_STARTED, 0);
  }

  /** The tracked ranges as intervals, bytes. */
  ranges(): IovaInterval[] {
    return this.rangeStart4k.map((a, i) => ({ start: pageIova(a), end: pageIova(this.rangeEnd4k[i]!) }));
  }

  /**
   * Logs a DMA write of 4 KiB pages [page, page + count): for every tracked range it touches, the
   * tracker pages holding the touched part. Numbers only (the device simulator's hot path).
   * @returns the number of distinct tracker pages logged (0 when stopped or outside every range)
   */
  writePages(page: number, count: number): number {
    if (count <= 0 || Atomics.load(this.#header, H_STARTED) !== 1) return 0;
    const hi = page + count;
    const starts = this.rangeStart4k;
    const ends = this.rangeEnd4k;
    const n = starts.length;
    // The first range whose end is above page (the ends ascend too: the ranges are disjoint).
    let i = n > 8 ? lastAtOrBefore(ends, page) + 1 : 0;
    const per = this.#pagesPer4k;
    let total = 0;
    let done = -1; // tracker pages below this were logged by an earlier range of this write
    for (; i < n && starts[i]! < hi; i++) {
      const end = ends[i]!;
      if (end <= page) continue;
      const a = page > starts[i]! ? page : starts[i]!;
      const b = hi < end ? hi : end;
      let qa = Math.floor(a / per);
      const qb = Math.floor((b - 1) / per) + 1;
      if (qa < done) qa = done;
      if (qa >= qb) continue;
      const seg = this.rangeSegment[i]!;
      const bit = this.segFirstBit[seg]! - this.segFirstPage[seg]!;
      orBitRun(this.words, bit + qa, bit + qb);
      total += qb - qa;
      done = qb;
    }
    return total;
  }

  /** Addresses of every recorded tracker page, sorted, bytes (plain loads; for tests and tools). */
  recordedPages(): bigint[] {
    const out: bigint[] = [];
    const s = BigInt(this.pageShift);
    for (let g = 0; g < this.segFirstPage.length; g++) {
      const first = this.segFirstBit[g]!;
      const end = first + this.segEndPage[g]! - this.segFirstPage[g]!;
      for (let bit = first; bit < end; bit++) {
        const x = this.words[Math.floor(bit / 32)]!;
        if (x === 0) {
          bit = Math.floor(bit / 32) * 32 + 31;
          continue;
        }
        if (((x >>> (bit % 32)) & 1) === 1) out.push(BigInt(this.segFirstPage[g]! + bit - first) << s);
      }
    }
    return out;
  }
}
