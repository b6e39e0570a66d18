/**
 * CountAhead: a streamed report's before-counts, piece by piece, just ahead of the writes.
 * Runs on a pool worker (and in-process in the tests).
 *
 * Theory of operation
 * -------------------
 * `bitsSet` is the bitmap's count after the walk minus its count before (../poolStats.ts), taken
 * piece by piece over the count plan (../ChunkPlan.ts `countPlan`): each piece's before-count
 * must precede every write of the report into that piece. A report without streaming counts every
 * piece before the walk starts (the CountBefore phase of ../ControlBlock.ts); a streamed report
 * would then hand over its first range only after a count of the whole bitmap (milliseconds at
 * 1 TiB of mostly dirty bitmap). Instead, its capturing bitmap (./RunCapture.ts, which every write
 * of a streamed report goes through) calls {@link CountAhead.beforeWrite} with the bits a write is
 * about to touch, and the pieces they lie in are counted first (by this worker, after winning the
 * piece's CAS, or by the one that won it: then this worker waits). Pieces no write touched are
 * counted after the walk (reportTask.ts), before any after-count.
 *
 * Once a piece is counted it stays counted, so each worker keeps a local flag per piece, and the
 * capture skips the call while its writes stay inside the pieces of the last call
 * ({@link WriteGuard.safeLo}, {@link WriteGuard.safeHi}): two compares per write.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import type { ChunkPlan } from '../ChunkPlan.js';
import { type ControlBlock, Phase } from '../ControlBlock.js';

/** What a capturing bitmap calls before each write (see the module comment). */
export interface WriteGuard {
  /** Called before a write into bits [firstBit, endBit) of the bitmap (0 ≤ firstBit < endBit ≤ nbits). */
  beforeWrite(firstBit: number, endBit: number): void;
  /**
   * After {@link WriteGuard.beforeWrite}: bits [safeLo, safeHi) (holding the ones it was given)
   * need no call before a write.
   */
  readonly safeLo: number;
  readonly safeHi: number;
}

/** Counts the bits of one piece of the count plan (the bitmap's `countBits`). */
export type PieceCounter = (firstBit: number, bitCount: number) => number;

/** See the module comment. */
export class CountAhead implements WriteGuard {
  readonly #ctrl: ControlBlock;
  readonly #counts: ChunkPlan;
  readonly #count: PieceCounter;
  /** Bits per count piece (the count plan's one piece size) and the grid index of piece 0. */
  readonly #pieceBits: number;
  readonly #grid0: number;
  readonly #bitBase: number;
  /** known[i] = 1 once this worker saw piece i counted. */
  readonly #known: Uint8Array;
  safeLo = 0;
  safeHi = 0;

  /**
   * @param counts - the report's count plan (`countPlan(nbits, bitBase)`)
   * @param bitBase - position of bit 0 in the bitmap's word view, as given to `countPlan`
   */
  constructor(ctrl: ControlBlock, counts: ChunkPlan, bitBase: number, count: PieceCounter) {
    this.#ctrl = ctrl;
    this.#counts = counts;
    this.#count = count;
    this.#pieceBits = counts.chunkBits[0]!;
    this.#bitBase = bitBase;
    this.#grid0 = Math.floor(bitBase / this.#pieceBits);
    this.#known = new Uint8Array(counts.chunks);
  }

  /** The count piece holding bit `bit` (0 ≤ bit < nbits). */
  pieceOf(bit: number): number {
    return Math.floor((this.#bitBase + bit) / this.#pieceBits) - this.#grid0;
  }

  beforeWrite(firstBit: number, endBit: number): void {
    const first = this.pieceOf(firstBit);
    const last = this.pieceOf(endBit - 1);
    for (let i = first; i <= last; i++) if (this.#known[i] === 0) this.#settle(i);
    const a = this.#counts.locate(first);
    const z = first === last ? a : this.#counts.locate(last);
    this.safeLo = a.firstBit;
    this.safeHi = z.firstBit + z.bitCount;
  }

  /**
   * Counts piece `i` before, if nobody has claimed it.
   * @returns true when this call counted it
   */
  countIfFree(i: number): boolean {
    if (!this.#ctrl.claimPiece(i)) return false;
    const at = this.#counts.locate(i);
    this.#ctrl.pieceCounted(Phase.CountBefore, i, this.#count(at.firstBit, at.bitCount));
    this.#known[i] = 1;
    return true;
  }

  /** Makes sure piece i is counted: counts it, or waits for the worker counting it. */
  #settle(i: number): void {
    if (!this.countIfFree(i) && !this.#ctrl.waitPieceCounted(i)) {
      // Another worker died while counting it: the report fails anyway (the first failure wins).
      throw new IovaBitmapError('EIO', `reportWorker: count piece ${i} was never counted (its worker failed); nothing was written into it`);
    }
    this.#known[i] = 1;
  }
}
