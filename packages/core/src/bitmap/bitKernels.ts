/**
 * Hot kernels that write runs of bits into a shared bitmap.
 *
 * Theory of operation
 * -------------------
 * A bitmap lives at an arbitrary byte offset of a SharedArrayBuffer. The kernels address it
 * through {@link BitViews}: an Int32Array over the buffer's words that hold the bitmap's bits,
 * starting at the 4-byte-aligned word that holds its first byte, and a small byte view of the
 * buffer's bytes past its last whole word (when the bitmap reaches them). A *view bit position*
 * p is bit p % 32 of word floor(p / 32) of that Int32Array, and equally bit p % 8 of byte
 * floor(p / 8) counted from the view's first byte; bit k of a bitmap at byteOffset is p = bitBase + k
 * with bitBase = 8 * (byteOffset mod 4) (see {@link bitViewsOf}). This holds on every little-endian
 * host (x86-64, arm64), serves bitmaps at any offset (the selftests use +0xff1) without unaligned
 * accesses, and since the view starts on a word of the buffer, its word edges are the buffer's.
 *
 * The views cover the bitmap's words only, never the whole buffer: a small bitmap in a huge
 * buffer costs a small view, and a bitmap's words fit one Int32Array as long as it has at most
 * 2^32 words (V8 caps a typed array at 2^32 elements; the bitmap's size limit, MAX_BITMAP_BITS in
 * ./bitmapGeometry.ts, keeps it there).
 *
 * Concurrency rule: any number of threads may set bits at once. A word that may hold bits set by
 * another thread, or bits that are not ours (the guard bytes around the bitmap, the unused bits
 * of its last byte), is only ever changed by `Atomics.or` with an exact mask, so no bit outside
 * the run is written and no concurrent bit is lost. A word that lies wholly inside the run is
 * stored as -1 once, with a plain store: every thread that writes that word writes all-ones, so
 * the racing stores agree, and an aligned 32-bit store does not tear on the hosts we target.
 *
 * Shape: a per-bit Atomics.or loop costs tens of times one Atomics.or per word, which costs
 * several times plain word stores, and `fill` wins on long runs (figures: docs/bench/limits.md §4;
 * why: docs/design/performance.md §5). Hence: atomics only on the two edge words, plain stores
 * in between, `fill` for long runs.
 *
 * The tail of a buffer whose byteLength is not a multiple of 4 has no Int32 word; bits there go
 * through byte-sized `Atomics.or` on the tail view: that partial word is word `words.length` of
 * the view, its bytes `tail[0..]`.
 */

import type { CountBytes } from './bitmapKernel.js';

/** Runs of at least this many whole words are stored with TypedArray.fill (64 words = 2048 bits). */
const FILL_THRESHOLD = 64;

/** The two views of one bitmap's memory that the kernels write through. */
export interface BitViews {
  /**
   * Int32 view over the buffer's whole words that hold the bitmap's bits, from the 4-byte-aligned
   * word holding its first byte. View word w is the buffer's word (first / 4 + w).
   */
  readonly words: Int32Array;
  /**
   * The buffer's bytes past its last whole word, when the bitmap has bits there (else empty): the
   * partial word `words.length` of the view.
   */
  readonly tail: Uint8Array;
}

/**
 * Makes the views over the memory of a bitmap of `byteLength` bytes at `byteOffset` of `buffer`
 * (no copy), and the view bit position of the bitmap's bit 0.
 * @param size - the buffer's byteLength (as read from its internal slot by the caller)
 * @param byteOffset - 0 <= byteOffset < size
 * @param byteLength - >= 1, byteOffset + byteLength <= size, words at most 2^32
 */
export function bitViewsOf(
  buffer: SharedArrayBuffer | ArrayBuffer,
  size: number,
  byteOffset: number,
  byteLength: number,
): { views: BitViews; bitBase: number } {
  const first = byteOffset - (byteOffset % 4);
  const whole = size - (size % 4); // end of the buffer's last whole word
  const end = byteOffset + byteLength;
  const wordsEnd = Math.min(Math.ceil(end / 4) * 4, whole);
  const words = new Int32Array(buffer, first, Math.max(0, wordsEnd - first) / 4);
  const tail = end > whole ? new Uint8Array(buffer, whole, size - whole) : new Uint8Array(0);
  return { views: { words, tail }, bitBase: 8 * (byteOffset - first) };
}

/**
 * Atomically ORs `mask` into 32-bit word `w` (view word index). Falls back to byte atomics for
 * the partial word past the last whole word of the buffer (the mask has bits in existing bytes only).
 */
export function orWord(v: BitViews, w: number, mask: number): void {
  if (w < v.words.length) {
    Atomics.or(v.words, w, mask);
    return;
  }
  const at = (w - v.words.length) * 4;
  for (let i = 0; i < 4; i++) {
    const m = (mask >>> (8 * i)) & 0xff;
    if (m !== 0) Atomics.or(v.tail, at + i, m);
  }
}

/**
 * Atomically ANDs `mask` into word `w` (view word index), with the same byte fallback as
 * {@link orWord}. Used to clear bits without touching neighbours.
 */
export function andWord(v: BitViews, w: number, mask: number): void {
  if (w < v.words.length) {
    Atomics.and(v.words, w, mask);
    return;
  }
  const at = (w - v.words.length) * 4;
  for (let i = 0; i < 4; i++) {
    const m = (mask >>> (8 * i)) & 0xff;
    if (m !== 0xff) Atomics.and(v.tail, at + i, m);
  }
}

/** Reads word `w` (view index) including a partial tail word; plain load. */
export function loadWord(v: BitViews, w: number): number {
  if (w < v.words.length) return v.words[w]!;
  const at = (w - v.words.length) * 4;
  let x = 0;
  for (let i = 0; i < 4; i++) {
    const b = at + i;
    if (b < v.tail.length) x |= v.tail[b]! << (8 * i);
  }
  return x;
}

/** Mask of bits [lo, hi) of a 32-bit word, 0 <= lo < hi <= 32. */
export function spanMask(lo: number, hi: number): number {
  const upper = hi === 32 ? -1 : (1 << hi) - 1;
  return upper & ~((1 << lo) - 1);
}

/**
 * Sets view bits [p, end) (end exclusive; `end > p`, both safe integers). Edge words by
 * `Atomics.or`, whole words by plain stores or `fill` (see the module comment).
 */
export function setRun(v: BitViews, p: number, end: number): void {
  let w = Math.floor(p / 32);
  const lo = p - w * 32;
  const we = Math.floor(end / 32);
  const hi = end - we * 32;
  if (w === we) {
    orWord(v, w, spanMask(lo, hi));
    return;
  }
  if (lo !== 0) {
    orWord(v, w, spanMask(lo, 32));
    w++;
  }
  // Whole words [w, we): all inside the buffer's Int32 view (a whole word's 4 bytes all exist).
  fillWords(v.words, w, we);
  if (hi !== 0) orWord(v, we, spanMask(0, hi));
}

/**
 * Sets every bit of whole words [w, we) of `words` with plain stores of all ones (w <= we): safe
 * beside any other writer, as an OR of anything into all ones is all ones. TypedArray.fill from
 * {@link FILL_THRESHOLD} words on, a loop below (a builtin call costs more than a few stores).
 */
export function fillWords(words: Int32Array, w: number, we: number): void {
  if (we - w >= FILL_THRESHOLD) {
    words.fill(-1, w, we);
    return;
  }
  for (; w < we; w++) words[w] = -1;
}

/**
 * ORs a 32-bit `mask` whose bit j stands for view bit p + j, restricted to view bits
 * [lo, hi). The mask may straddle two words (one Atomics.or each). This is the write of the
 * page-table walk: 32 PTEs tested into one register, written once.
 */
export function orMaskAt(v: BitViews, p: number, mask: number, lo: number, hi: number): void {
  if (mask === 0) return;
  // Clip the mask to [lo, hi).
  if (p < lo) {
    const d = lo - p;
    if (d >= 32) return;
    mask &= -1 << d;
  }
  if (p + 32 > hi) {
    const keep = hi - p;
    if (keep <= 0) return;
    if (keep < 32) mask &= (1 << keep) - 1;
  }
  if (mask === 0) return;
  const w = Math.floor(p / 32);
  const s = p - w * 32;
  if (s === 0) {
    orWord(v, w, mask);
    return;
  }
  const a = mask << s;
  const b = mask >>> (32 - s);
  if (a !== 0) orWord(v, w, a);
  if (b !== 0) orWord(v, w + 1, b);
}

/** The words all of whose 32 bits lie in view bits [lo, hi): indices [first, end). */
export interface WholeWords {
  readonly first: number;
  readonly end: number;
}

/** See {@link WholeWords}. */
export function wholeWordsOf(lo: number, hi: number): WholeWords {
  return { first: Math.ceil(lo / 32), end: Math.floor(hi / 32) };
}

/**
 * The page-table walk's write of an aligned mask (32 leaves that map onto one bitmap word), when
 * word `w` is in `whole` (its 32 bits are all bits of the run, so nothing outside it can change):
 * all-ones with a plain store (the rule of the words inside a run, see the module comment), any
 * other mask with one Atomics.or; returns true. Otherwise it writes nothing and returns false, and
 * the caller takes the clipping path ({@link orMaskAt}). It skips orMaskAt's clipping and
 * splitting, and the atomic of a full word, which cost as much as the rest of a dense block
 * (docs/bench/pteWalk.md §2). It takes Atomics.or in plain memory too, unlike
 * {@link orWholeWordAt}: the block kernels inline it, and the memory test made amd-v1's walk
 * about 10 % slower (V8's inlining budget, docs/bench/pteWalk.md §11).
 */
export function orWholeWord(words: Int32Array, w: number, mask: number, whole: WholeWords): boolean {
  if (w < whole.first || w >= whole.end) return false;
  if (mask === -1) words[w] = -1;
  else Atomics.or(words, w, mask);
  return true;
}

/**
 * ORs `mask` into word `w`, all of whose 32 bits are bits of the run: all-ones with a plain store
 * (the rule of the words inside a run, see the module comment); any other mask with one
 * Atomics.or when `atomic` (shared memory), or with a plain `|=` when not: memory that is not
 * shared (a plain ArrayBuffer) is reachable from this thread only, and V8 (11.3) runs every
 * Atomics.or as a call of about 10 ns (docs/bench/pteWalk.md §11).
 */
export function orWholeWordAt(words: Int32Array, w: number, mask: number, atomic: boolean): void {
  if (mask === -1) words[w] = -1;
  else if (atomic) Atomics.or(words, w, mask);
  else words[w]! |= mask;
}

/** Clears view bits [p, end) with atomics on the edges and `fill(0)` inside. */
export function clearRun(v: BitViews, p: number, end: number): void {
  if (end <= p) return;
  let w = Math.floor(p / 32);
  const lo = p - w * 32;
  const we = Math.floor(end / 32);
  const hi = end - we * 32;
  if (w === we) {
    andWord(v, w, ~spanMask(lo, hi));
    return;
  }
  if (lo !== 0) {
    andWord(v, w, ~spanMask(lo, 32));
    w++;
  }
  if (we > w) v.words.fill(0, w, we);
  if (hi !== 0) andWord(v, we, ~spanMask(0, hi));
}

/** The words holding bits [b0, b1) of a word array (b0 < b1): first and last index, and the masks of the bits of the range in each. */
export interface WordSpan {
  readonly w0: number;
  readonly wLast: number;
  /** Bits of the range in word w0. */
  readonly headMask: number;
  /** Bits of the range in word wLast. */
  readonly tailMask: number;
}

/** See {@link WordSpan}. */
export function wordSpan(b0: number, b1: number): WordSpan {
  const w0 = Math.floor(b0 / 32);
  const wLast = Math.floor((b1 - 1) / 32);
  return { w0, wLast, headMask: spanMask(b0 - w0 * 32, 32), tailMask: spanMask(0, b1 - wLast * 32) };
}

/** Count of trailing zeros of a non-zero 32-bit value (-1 for 0: callers test for 0 first). */
export function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * End (exclusive) of the run of set bits of `m` that starts at bit `s` (bit s set): the first
 * clear bit above s, or 32 when the run reaches bit 31.
 */
export function runEndAt(m: number, s: number): number {
  const rest = ~(m >>> s); // the bits above 31 - s become ones: rest is 0 only for s = 0, m = -1
  return rest === 0 ? 32 : s + ctz32(rest);
}

/** Receives runs of units (pages, leaves, tracker pages) [unit, unit + count). */
export interface RunSink {
  /**
   * Records units [unit, unit + count) into the caller's bitmap. Must not throw when its caller
   * clears state after it returns (the trackers' reader).
   */
  record(unit: number, count: number): void;
}

/**
 * The one mask-to-runs loop: hands each maximal run of set bits of `mask` (bit j = unit
 * `unit + j`) to `sink.record`, lowest first, except a run that reaches bit 31, whose first bit it
 * returns instead (32 when bit 31 is clear), so that a caller can continue it into the next word.
 */
export function recordRunsBelowTop(mask: number, unit: number, sink: RunSink): number {
  let m = mask;
  while (m !== 0) {
    const s = ctz32(m);
    const e = runEndAt(m, s);
    if (e === 32) return s;
    sink.record(unit + s, e - s);
    m &= -1 << e;
  }
  return 32;
}

/** Hands every maximal run of set bits of `mask` (bit j = unit `unit + j`) to `sink.record`, lowest first. */
export function recordRuns(mask: number, unit: number, sink: RunSink): void {
  const top = recordRunsBelowTop(mask, unit, sink);
  if (top < 32) sink.record(unit + top, 32 - top);
}

/** Population count of a 32-bit value. */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Words from which a count takes the WebAssembly kernel when it has one: below, a call costs more
 * than the JavaScript loop over them.
 */
const WASM_COUNT_MIN_WORDS = 16;
/** The kernel's byte addresses stay below this (./bitmapKernel.wat `count`: a + 32 must not wrap). */
const WASM_COUNT_END = 2 ** 32 - 64;

/**
 * Counts set bits among view bits [p, end). With `wasm` (the bitmap's WebAssembly count over the
 * memory that holds `v`: byte address of view word w = words.byteOffset + 4 w), runs of at least
 * {@link WASM_COUNT_MIN_WORDS} whole words go through it, 8 bytes per instruction.
 */
export function countRun(v: BitViews, p: number, end: number, wasm?: CountBytes): number {
  if (end <= p) return 0;
  let w = Math.floor(p / 32);
  const lo = p - w * 32;
  const we = Math.floor(end / 32);
  const hi = end - we * 32;
  if (w === we) return popcount32(loadWord(v, w) & spanMask(lo, hi));
  let n = 0;
  if (lo !== 0) {
    n += popcount32(loadWord(v, w) & spanMask(lo, 32));
    w++;
  }
  n += countWholeWords(v.words, w, we, wasm);
  if (hi !== 0) n += popcount32(loadWord(v, we) & spanMask(0, hi));
  return n;
}

/**
 * Set bits in whole words [w, we) of `words` (w <= we): through `wasm` (the WebAssembly count over
 * the memory that holds `words`) from {@link WASM_COUNT_MIN_WORDS} words on, else the JavaScript
 * loop.
 */
export function countWholeWords(words: Int32Array, w: number, we: number, wasm: CountBytes | undefined): number {
  const a = words.byteOffset + 4 * w;
  const e = a + 4 * (we - w);
  return wasm !== undefined && we - w >= WASM_COUNT_MIN_WORDS && e <= WASM_COUNT_END ? wasm(a, e) : countWords(words, w, we);
}

/**
 * Set bits in whole words [from, to) of `words`. Int32 loop indices (while they fit: below 2^31
 * words) and one zero test per 4 words: indices from Math.floor stay float64 in
 * optimised code, and a branch per word mispredicts on half-full bitmaps. See
 * packages/bench/src/benches/bitmapCount.bench.ts: 1 TiB bitmap (8 Mi words) at 0 / 1 / 50 / 100%
 * set, 9.2 / 27.6 / 16.3 / 16.4 ms before, 5.6 / 17.1 / 14.8 / 14.6 ms with this loop.
 */
function countWords(words: Int32Array, from: number, to: number): number {
  let n = 0;
  if (to > 0x7fffffff) {
    // Beyond int32 indices (a bitmap of 8 GiB or more): the plain loop.
    for (let w = from; w < to; w++) n += popcount32(words[w]!);
    return n;
  }
  let i = from | 0;
  const e = to | 0;
  for (; i + 4 <= e; i += 4) {
    const a = words[i]!;
    const b = words[i + 1]!;
    const c = words[i + 2]!;
    const d = words[i + 3]!;
    if ((a | b | c | d) === 0) continue;
    if ((a & b & c & d) === -1) {
      n += 128;
      continue;
    }
    n += popcount32(a) + popcount32(b) + popcount32(c) + popcount32(d);
  }
  for (; i < e; i++) n += popcount32(words[i]!);
  return n;
}

/** Tests view bit `p`. */
export function testBit(v: BitViews, p: number): boolean {
  const w = Math.floor(p / 32);
  return ((loadWord(v, w) >>> (p - w * 32)) & 1) === 1;
}

/**
 * The first word in [from, to) of `words` that is not `skip` (0 or -1), or `to`: the scan of
 * {@link nextSetBit} and {@link nextClearBit} over the words between two runs, 4 words per test
 * (int32 indices while they fit, as in countWords).
 */
function firstWordNot(words: Int32Array, from: number, to: number, skip: 0 | -1): number {
  if (to > 0x7fffffff) {
    let w = from;
    while (w < to && words[w] === skip) w++;
    return w;
  }
  let i = from | 0;
  const e = to | 0;
  if (skip === 0) {
    while (i + 4 <= e && (words[i]! | words[i + 1]! | words[i + 2]! | words[i + 3]!) === 0) i += 4;
  } else {
    while (i + 4 <= e && (words[i]! & words[i + 1]! & words[i + 2]! & words[i + 3]!) === -1) i += 4;
  }
  while (i < e && words[i] === skip) i++;
  return i;
}

/**
 * The first view bit in [p, end) that is set (`want` 0: the words are read as they are) or clear
 * (`want` -1: read inverted), or -1. The first word bit by bit, then whole words by
 * {@link firstWordNot}, then the partial tail word (the last word there can be).
 */
function nextBitOf(v: BitViews, p: number, end: number, want: 0 | -1): number {
  if (p >= end) return -1;
  let w = Math.floor(p / 32);
  let x = (loadWord(v, w) ^ want) >>> (p - w * 32);
  if (x !== 0) {
    const q = p + ctz32(x);
    return q < end ? q : -1;
  }
  const wEnd = Math.ceil(end / 32);
  const inWords = Math.min(wEnd, v.words.length);
  w++;
  if (w < inWords) w = firstWordNot(v.words, w, inWords, want);
  if (w >= wEnd) return -1;
  x = loadWord(v, w) ^ want;
  if (x === 0) return -1; // the tail word, past which there is none
  const q = w * 32 + ctz32(x);
  return q < end ? q : -1;
}

/**
 * Finds the next set view bit in [p, end), or -1. Skips zero words four at a time, so scanning a
 * sparse bitmap costs about one load per 32 bits.
 */
export function nextSetBit(v: BitViews, p: number, end: number): number {
  return nextBitOf(v, p, end, 0);
}

/** Finds the next clear view bit in [p, end), or `end`; skips all-ones words as nextSetBit skips zeros. */
export function nextClearBit(v: BitViews, p: number, end: number): number {
  const q = nextBitOf(v, p, end, -1);
  return q < 0 ? end : q;
}
