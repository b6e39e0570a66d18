/**
 * WriteEpochs: per 4 KiB page of the ground truth, the migration round of the device's last
 * write, and the "rounds completed" word the migration publishes.
 * Runs on the device worker (it records writes) and the main thread (migrate() publishes rounds,
 * the checker reads epochs); one SharedArrayBuffer shared by both.
 *
 * Theory of operation
 * -------------------
 * The migration checker's union check proves that every written page was reported by *some*
 * round; a page written again after it was reported must also be reported again, or the
 * destination keeps stale memory. To check that, the device records for every page the *epoch* of
 * its last write: the index of the first round whose report had not yet completed when the write
 * began. migrate() stores `roundsCompleted = r + 1` (Atomics.store) right after round r's report
 * resolves; the device loads it (Atomics.load) when a write begins and stores it into the byte of
 * every page of the write, before the ground truth and before the sources (the ground-truth-first
 * rule of ./DeviceEngine.ts, with the epoch first of all). The checker
 * (../migrate/verifyMigration.ts) then requires, for every written page, a report by a round >=
 * its epoch (the argument is in ../migrate/migrate.ts).
 *
 * Layout: bytes [0, 64) a header (Int32 word 0: rounds completed; the rest of the cache line
 * unused), then one byte per 4 KiB page of the ground truth: the epoch, 0 for a page never
 * written (the ground truth tells written pages apart, so 0 needs no second meaning).
 *
 * The wrap rule: none. An epoch is a byte, so a migration may have at most {@link MAX_ROUNDS}
 * rounds in all (254 pre-copy rounds and the final one: epochs 0..254); migrate() refuses more
 * before it starts (`maxRounds` / `rounds` are capped at 254). A modular scheme would need the
 * checker to know each page's write to within 128 rounds of its report; the cap is simpler and a
 * pre-copy that has not converged in 254 rounds will not.
 *
 * A fresh object (attach() makes one per attachment) has rounds completed 0; migrate() refuses an
 * object another migration has advanced.
 */
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { PAGE_SIZE_BIG, checkInt, pageOf } from '@iovabitmap/core/internal';

/** Most rounds of one migration, the final one included (epochs are bytes: 0..254). */
export const MAX_ROUNDS = 255;

const HEADER_BYTES = 64;
const ROUNDS_COMPLETED = 0;

/** What {@link WriteEpochs.share} returns: structured-cloneable, the memory shared, not copied. */
export interface SharedWriteEpochs {
  readonly kind: 'WriteEpochs';
  readonly buffer: SharedArrayBuffer;
  /** First 4 KiB page (IOVA >> 12) covered. */
  readonly firstPage: number;
  /** 4 KiB pages covered. */
  readonly pages: number;
}

/** See the module comment. */
export class WriteEpochs {
  /** First 4 KiB page (IOVA >> 12) covered. */
  readonly firstPage: number;
  /** 4 KiB pages covered. */
  readonly pages: number;
  /** One byte per page: the epoch of its last write (0 for a page never written). */
  readonly bytes: Uint8Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #ctl: Int32Array;

  private constructor(buffer: SharedArrayBuffer, firstPage: number, pages: number) {
    this.#buffer = buffer;
    this.firstPage = firstPage;
    this.pages = pages;
    this.#ctl = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(buffer, HEADER_BYTES, pages);
  }

  /**
   * Fresh epochs (nothing written, no round completed) for the pages of a 4 KiB-page ground truth.
   * @throws IovaBitmapError `EINVAL` for a ground truth that is not a 4 KiB-page IovaBitmap;
   *   `ENOMEM` when the memory (a byte per page) cannot be allocated.
   */
  static forGroundTruth(groundTruth: IovaBitmap): WriteEpochs {
    const where = 'WriteEpochs';
    if (!(groundTruth instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth', groundTruth, 'must be an IovaBitmap');
    if (groundTruth.pageSize !== PAGE_SIZE_BIG) throw IovaBitmapError.bad('EINVAL', where, 'groundTruth.pageSize', groundTruth.pageSize, 'must be 4096');
    let buffer: SharedArrayBuffer;
    try {
      buffer = new SharedArrayBuffer(HEADER_BYTES + groundTruth.nbits);
    } catch (cause) {
      throw new IovaBitmapError('ENOMEM', `${where}: cannot allocate a byte per page of the ground truth (${groundTruth.nbits} bytes)`, { cause });
    }
    return new WriteEpochs(buffer, pageOf(groundTruth.iova), groundTruth.nbits);
  }

  /**
   * Rebuilds a view of the same memory (in the device worker).
   * @throws IovaBitmapError `EINVAL` for anything that is not a {@link SharedWriteEpochs}.
   */
  static fromShared(d: SharedWriteEpochs): WriteEpochs {
    const where = 'WriteEpochs.fromShared';
    if (typeof d !== 'object' || d === null || d.kind !== 'WriteEpochs' || !(d.buffer instanceof SharedArrayBuffer)) {
      throw IovaBitmapError.bad('EINVAL', where, 'descriptor', d, 'is not a shared WriteEpochs descriptor');
    }
    const firstPage = checkInt(where, 'firstPage', d.firstPage, 0);
    const pages = checkInt(where, 'pages', d.pages, 1);
    if (d.buffer.byteLength !== HEADER_BYTES + pages) throw IovaBitmapError.bad('EINVAL', where, 'buffer', d.buffer.byteLength, `must hold ${HEADER_BYTES + pages} bytes`);
    return new WriteEpochs(d.buffer, firstPage, pages);
  }

  /** A descriptor for the device worker. */
  share(): SharedWriteEpochs {
    return { kind: 'WriteEpochs', buffer: this.#buffer, firstPage: this.firstPage, pages: this.pages };
  }

  /** Rounds whose report has completed (Atomics.load). */
  get roundsCompleted(): number {
    return Atomics.load(this.#ctl, ROUNDS_COMPLETED);
  }

  /**
   * migrate(): round `n - 1`'s report has resolved (Atomics.store, so that a write beginning after
   * it records epoch >= n).
   * @throws IovaBitmapError `EINVAL` for n outside [0, MAX_ROUNDS (255)].
   */
  publishRoundsCompleted(n: number): void {
    checkInt('WriteEpochs.publishRoundsCompleted', 'n', n, 0, MAX_ROUNDS);
    Atomics.store(this.#ctl, ROUNDS_COMPLETED, n);
  }

  /**
   * The device: a write of 4 KiB pages [page, page + count) (absolute, inside the ground truth)
   * begins now; records its epoch in each page. Hot path: the caller's region check keeps the
   * pages inside, nothing is checked here.
   */
  recordWrite(page: number, count: number): void {
    const at = page - this.firstPage;
    this.bytes.fill(Atomics.load(this.#ctl, ROUNDS_COMPLETED), at, at + count);
  }
}
