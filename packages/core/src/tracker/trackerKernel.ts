/**
 * Hot kernels of the VF tracker: record a DMA write, and read-and-clear the records.
 *
 * Theory of operation
 * -------------------
 * The tracker's records are bits in an Int32Array over a SharedArrayBuffer (./TrackerMemory.ts):
 * bit p is bit p % 32 of word floor(p / 32). Three kinds of thread touch them at once: the device
 * (one or more writers setting bits), and any number of readers reporting disjoint bit ranges,
 * which may share a word at their edges.
 *
 * Writer ({@link orBitRun}). A bit is set with `Atomics.or` of exactly its word's mask, so a
 * concurrent reader's `Atomics.and` or another writer's `Atomics.or` on the same word is never
 * undone. A word that already holds every bit of the mask is only loaded, not written: a set bit is
 * cleared only by a reader that loaded it as set and therefore reports it in a report that ends
 * after the clear, so this write is covered exactly as if it had been ORed in.
 *
 * Reader ({@link readRuns}). Record before clear, never the reverse: a *plain* load of a word, the
 * runs of its set bits handed to the sink (which writes them into the caller's bitmap), and only
 * then `Atomics.and(word, ~recorded)`, which removes exactly the bits recorded. A bit a writer sets
 * between the load and the AND is not in `recorded` and survives for the next report; a failure
 * between record and clear reports a page twice and never loses one. An `Atomics.exchange(word, 0)`
 * would clear before recording and lose the records if the reporter died in between, so it is not
 * used. Runs of consecutive set bits are merged across words into one sink call (one
 * `bitmap.setUnits` for a fully dirty region); a word whose last bit continues the run therefore
 * has its clear deferred until that run is recorded.
 *
 * Shape (figures: docs/bench/limits.md §1, §3, §4; why: docs/design/performance.md §2-§5):
 * - a word that is zero costs one plain load and a compare: the walk over a clean tracker is a read
 *   loop, not a read-modify-write loop, and a loop of its own (a `while` over zero words before
 *   the body): with the dirty path's calls inlined into the same loop, as TurboFan does once the
 *   pool's warm-up has shown it dense words, the clean scan of a 1 TiB tracker took 17.8 ms
 *   instead of 10.3 (docs/bench/limits.md §9.5);
 * - never an atomic RMW per word regardless of content (it costs the same high price at any
 *   density, many times a plain read); an `Atomics.and` only on words with records;
 * - one sink call per run rather than per bit (a run as word stores costs a small fraction of it
 *   bit by bit), and one `Atomics.or` per word in the writer.
 * What it costs as written: docs/bench/limits.md §9.2 (at random 50% density the runs are short
 * and the one setUnits per run dominates).
 *
 * Word reader ({@link readMasks}). When a tracker page is exactly one bitmap page (the common
 * case: QEMU asks for the host page size), a record word *is* 32 bitmap bits, so the reader hands
 * the whole word to the sink as a mask (one `bitmap.orMask`: one or two Atomics.or) and clears it
 * with one Atomics.and: at most three atomics per non-zero word whatever the density, instead of
 * one sink call per run. Same record-before-clear order as readRuns.
 */
import { recordRunsBelowTop, runEndAt, spanMask, wordSpan, type RunSink } from '../bitmap/bitKernels.js';

export type { RunSink } from '../bitmap/bitKernels.js';

/** ORs `mask` into word `w` unless every bit of it is already set. */
function orIfMissing(words: Int32Array, w: number, mask: number): void {
  if ((words[w]! & mask) !== mask) Atomics.or(words, w, mask);
}

/**
 * Sets bits [b0, b1) (absolute bit positions in `words`, b0 < b1, safe integers). Safe against
 * concurrent writers and readers (see the module comment).
 */
export function orBitRun(words: Int32Array, b0: number, b1: number): void {
  let w = Math.floor(b0 / 32);
  const we = Math.floor((b1 - 1) / 32);
  const lo = b0 - w * 32;
  const hi = b1 - we * 32;
  if (w === we) {
    orIfMissing(words, w, spanMask(lo, hi));
    return;
  }
  orIfMissing(words, w, spanMask(lo, 32));
  for (w++; w < we; w++) orIfMissing(words, w, -1);
  orIfMissing(words, we, spanMask(0, hi));
}

/** Clears the deferred words: `first` by ~firstMask, then (first, end) wholly (they were all ones). */
function clearDeferred(words: Int32Array, first: number, firstMask: number, end: number): void {
  Atomics.and(words, first, ~firstMask);
  for (let i = first + 1; i < end; i++) Atomics.and(words, i, 0);
}

/**
 * Reads the set bits among absolute bits [b0, b1) of `words`, hands each maximal run of them to
 * `sink` as tracker pages (page = bit + pageOffset), and, when `clear` is true, clears exactly the
 * bits handed over, each after its run was recorded.
 * @returns the number of words read (SourceStats.entriesVisited)
 */
export function readRuns(words: Int32Array, b0: number, b1: number, pageOffset: number, sink: RunSink, clear: boolean): number {
  if (b1 <= b0) return 0;
  const { w0, wLast, headMask, tailMask } = wordSpan(b0, b1);
  let runStart = -1; // pending run [runStart, runEnd) of absolute bits, -1 when none
  let runEnd = 0;
  let deferW = -1; // first word whose clear waits for the pending run; words after it up to w - 1 are all ones
  let deferMask = 0;
  for (let w = w0; w <= wLast; w++) {
    // Clean words in a loop of their own (module comment, "Shape"); the last word is left to the
    // body, which masks it.
    if (runStart < 0) while (w < wLast && words[w] === 0) w++;
    let x = words[w]!;
    if (x === 0 && runStart < 0) continue;
    if (w === w0) x &= headMask;
    if (w === wLast) x &= tailMask;
    const base = w * 32;
    if (runStart >= 0 && (x & 1) === 0) {
      // The pending run ended at the previous word's last bit.
      sink.record(runStart + pageOffset, runEnd - runStart);
      runStart = -1;
      if (clear) clearDeferred(words, deferW, deferMask, w);
      deferW = -1;
    }
    if (x === 0) continue;
    let m = x;
    if (runStart >= 0) {
      // The pending run goes on through this word's low run (bit 0 is set, see above).
      const e = runEndAt(m, 0);
      runEnd = base + e;
      if (e === 32) continue; // it covers the whole word (x === -1): the word's clear stays deferred
      sink.record(runStart + pageOffset, runEnd - runStart);
      runStart = -1;
      m &= -1 << e;
    }
    const top = recordRunsBelowTop(m, base + pageOffset, sink);
    if (top < 32) {
      runStart = base + top;
      runEnd = base + 32;
    }
    if (runStart < 0) {
      if (clear) {
        if (deferW >= 0) clearDeferred(words, deferW, deferMask, w);
        Atomics.and(words, w, ~x);
      }
      deferW = -1;
    } else {
      // A run that started in this word runs on past it: earlier deferred words are recorded.
      if (clear && deferW >= 0) clearDeferred(words, deferW, deferMask, w);
      deferW = w;
      deferMask = x;
    }
  }
  if (runStart >= 0) {
    sink.record(runStart + pageOffset, runEnd - runStart);
    if (clear) clearDeferred(words, deferW, deferMask, wLast + 1);
  }
  return wLast - w0 + 1;
}

/** Receives whole words of records, and runs of all-ones words, from {@link readMasks}. */
export interface MaskSink extends RunSink {
  /**
   * Records the tracker pages whose bits are set in `mask`: bit j stands for page `page + j`.
   * Must not throw: the bits are cleared after it returns.
   */
  recordMask(page: number, mask: number): void;
}

/**
 * Word-at-a-time twin of {@link readRuns}: reads absolute bits [b0, b1) of `words`; a run of
 * all-ones words goes to `sink.record` as one run (one bitmap fill, as in readRuns), any other
 * non-zero word (masked to the range) to `sink.recordMask` with page = bit + pageOffset of its
 * bit 0. When `clear` is true, exactly the bits handed over are then cleared, by Atomics.and.
 * @returns the number of words read (SourceStats.entriesVisited)
 */
export function readMasks(words: Int32Array, b0: number, b1: number, pageOffset: number, sink: MaskSink, clear: boolean): number {
  if (b1 <= b0) return 0;
  const { w0, wLast, headMask, tailMask } = wordSpan(b0, b1);
  let fullFrom = -1; // first word of a pending run of all-ones words, -1 when none
  for (let w = w0; w <= wLast; w++) {
    // Clean words in a loop of their own (module comment, "Shape"): the last word is left to the
    // body, which masks it.
    if (fullFrom < 0) while (w < wLast && words[w] === 0) w++;
    let x = words[w]!;
    if (w === w0) x &= headMask;
    if (w === wLast) x &= tailMask;
    if (x === -1) {
      if (fullFrom < 0) fullFrom = w;
      continue;
    }
    if (fullFrom >= 0) {
      flushFull(words, fullFrom, w, pageOffset, sink, clear);
      fullFrom = -1;
    }
    if (x === 0) continue;
    sink.recordMask(w * 32 + pageOffset, x);
    if (clear) Atomics.and(words, w, ~x);
  }
  if (fullFrom >= 0) flushFull(words, fullFrom, wLast + 1, pageOffset, sink, clear);
  return wLast - w0 + 1;
}

/** Records all-ones words [from, to) as one run, then clears them (they were all ones when read). */
function flushFull(words: Int32Array, from: number, to: number, pageOffset: number, sink: RunSink, clear: boolean): void {
  sink.record(from * 32 + pageOffset, (to - from) * 32);
  if (clear) for (let i = from; i < to; i++) Atomics.and(words, i, 0);
}
