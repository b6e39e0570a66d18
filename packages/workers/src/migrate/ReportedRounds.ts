/**
 * ReportedRounds: per bitmap page of a migration, the last round that reported it.
 * Runs on the main thread (migrate() updates it, the checker reads it).
 *
 * Theory of operation
 * -------------------
 * One byte per bit of the migration's bitmaps: 0 for a page no round reported, r + 1 once round r
 * reported it (rounds are at most 255, ../device/WriteEpochs.ts). migrate() records each round's
 * dirty set, run by run (the streamed chunk runs, or the round bitmap's `dirtyRanges`), never the
 * whole bitmap; the checker (./verifyMigration.ts) compares it with the device's write epochs.
 *
 * {@link ReportedRounds.recordNew} also deduplicates a round: it returns the bits of a run that
 * this round had not recorded yet, which is what a sender would send (two sources, or a unit
 * recorded whole by its owning chunk, hand out the same page twice). A run whose bytes hold no
 * `round + 1` yet (the common case, found by a native `indexOf`) is one `fill`.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { checkInt } from '@iovabitmap/core/internal';
import { MAX_ROUNDS } from '../device/WriteEpochs.js';

/** See the module comment. */
export class ReportedRounds {
  /** One byte per bitmap page: the last round that reported it, plus one (0: never). */
  readonly bytes: Uint8Array;

  /**
   * @param nbits - bits of the migration's bitmaps
   * @throws IovaBitmapError `ENOMEM` when the bytes cannot be allocated.
   */
  constructor(nbits: number) {
    checkInt('ReportedRounds', 'nbits', nbits, 0);
    try {
      this.bytes = new Uint8Array(nbits);
    } catch (cause) {
      throw new IovaBitmapError('ENOMEM', `ReportedRounds: cannot allocate a byte per bitmap page (${nbits} bytes)`, { cause });
    }
  }

  /**
   * Round `round` reported bits [a, b) (clipped to the bitmap); records it.
   * @returns the bits of [a, b) this round had not recorded before
   */
  recordNew(a: number, b: number, round: number): number {
    if (round < 0 || round >= MAX_ROUNDS) throw IovaBitmapError.bad('EINVAL', 'ReportedRounds.recordNew', 'round', round, `must be in [0, ${MAX_ROUNDS - 1}]`);
    const bytes = this.bytes;
    const mark = round + 1;
    if (a < 0) a = 0;
    if (b > bytes.length) b = bytes.length;
    let added = 0;
    while (a < b) {
      // indexOf over a subarray: over the whole array it would scan to its end.
      const k = bytes.subarray(a, b).indexOf(mark);
      const seen = k < 0 ? b : a + k;
      if (seen > a) {
        bytes.fill(mark, a, seen);
        added += seen - a;
      }
      a = seen;
      while (a < b && bytes[a] === mark) a++; // already recorded this round: a duplicate
    }
    return added;
  }
}
