/**
 * The control block of one parallel report: a small SharedArrayBuffer that the main thread and
 * the report's workers share for its whole life.
 * Runs on the main thread and the pool workers, at once (that is its purpose).
 *
 * Theory of operation
 * -------------------
 * A report runs in three *phases*, each a list of items that workers claim dynamically:
 *
 *   0 CountBefore  count the bitmap's set bits, piece by piece   (items: countPlan's pieces)
 *   1 Walk         report the chunks                              (items: the plan's chunks)
 *   2 CountAfter   count the set bits again                       (items: countPlan's pieces)
 *
 * `bitsSet` = after − before. Counting in the workers keeps the main thread's serial part small:
 * one `bitmap.count()` of a 2 MiB bitmap (64 GiB at 4 KiB) on one thread would cap a 2-thread
 * speed-up well below 1.8x (figures: docs/bench/limits.md §9.4). Each piece is counted through
 * the bitmap's summary (`countBits` reads only marked blocks), so a mostly clean bitmap costs its
 * summary words, and a wholly dirty one what a flat count costs (docs/bench/summary.md §3).
 *
 * Layout (Int32 words unless said otherwise; the header lines and every slot own a 64-byte cache
 * line, so two workers' per-item counters do not share a line with a slot):
 *
 *   byte 0    header, i32[0..15]
 *     [0] STOP         0 = run, 1 = abort requested (AbortSignal), 2 = stop after a fault
 *     [1] SLOTS        slots: one per task, and one for the caller's share when it may walk
 *                      (./callerShare.ts; written once, before any task is posted)
 *     [2 + 3p]         phase p cursor: next item to claim (Atomics.add(1) returns the claim)
 *     [3 + 3p]         phase p done: items finished (Atomics.add; the last one notifies)
 *     [4 + 3p]         phase p total (written once)
 *     [11] POSTED      streaming: chunk messages posted (Atomics.add before each post)
 *   byte 64   sums, i64[8..15]
 *     [8]  BITS_DONE   bitmap bits of finished chunks, summed over sources (progress)
 *     [9]  BEFORE      set bits counted in phase 0
 *     [10] AFTER       set bits counted in phase 2
 *   byte 128 + 64 s   slot s (one per task of the report, then the caller's share's)
 *     [+0] STATE       PENDING 0 → RUNNING 1 → DONE 2, or PENDING → CANCELLED 3
 *     [+1] CHUNK       the chunk this slot is walking, or -1 (published before the walk, so a
 *                      worker that dies mid-chunk is named by the main thread)
 *     [+2] DONE        chunks this slot finished
 *   after the slots   one i32 per count piece: its before-count state, FREE 0 → COUNTING 1 →
 *                      COUNTED 2 (the worker that wins the CAS FREE → COUNTING counts it)
 *
 * Claim protocol. In each phase a worker loops: read STOP (non-zero → leave), i = claim (i ≥ total
 * → phase over for it), do item i, count it. Claims are atomic adds, orders of magnitude cheaper
 * than an item even when the line bounces (figures: docs/bench/limits.md §6), so dynamic
 * claiming costs nothing and a skewed dirty distribution cannot idle a core.
 *
 * Phase barrier. Before the next phase a worker waits (Atomics.wait) until the phase's done count
 * reaches its total, or STOP is set. It cannot deadlock: a worker waits only after the cursor is
 * exhausted, so every unfinished item is held by a running task that finishes it without
 * waiting; the worker that finishes the last item notifies, and the main thread notifies after
 * setting STOP (a task that died never finishes its item, so STOP is what releases the others).
 *
 * Counting ahead (streaming reports only). A streamed report wants its first chunk out at once,
 * not after a count of the whole bitmap, so its workers skip the CountBefore phase's up-front
 * loop: before each write into the bitmap, the capturing bitmap (./worker/RunCapture.ts, which
 * sees every write of a streamed report) makes sure the count pieces the write touches were
 * counted (./worker/CountAhead.ts: claim a FREE piece and count it, or wait for the worker
 * COUNTING it). So every piece's before-count still precedes every write of the report into
 * it. After the walk barrier the workers count the pieces no write touched (the same phase
 * cursor, skipping pieces already claimed) and wait at the CountBefore barrier before counting
 * after. Waiting for a piece cannot deadlock: the worker COUNTING it never waits while it counts;
 * only a worker that died holding it leaves it COUNTING, and then STOP (Fault) releases the
 * waiters. A report without streaming runs the phases in order and claims each piece through the
 * same CAS (it always wins it).
 *
 * Skipping the counts. When the bitmap's summary is clean as the report starts (a migration round
 * reports into a bitmap it has just cleared), its count is 0 without reading anything: the main
 * thread creates the block with the CountBefore phase finished (`skip.before`), and each worker's
 * first claim finds the phase over. That "before" was taken on the main thread before the tasks
 * were posted, so before any write of the report, as a worker's count would be; 128 contended
 * claims and counter updates per worker cost ~90 µs at 1 TiB (docs/bench/scale.md). When, on top
 * of that, the report has one source whose records are disjoint bits of this bitmap (its work
 * profile's `unitShift` at least the bitmap's page shift: core's DirtySource.ts), the bits it set
 * are the sum of its records' bits, which the workers return anyway (`bitsMarked`): the block is
 * created with the CountAfter phase finished too (`skip.after`), and nobody reads the bitmap
 * again. The count after read every marked block the walk had just written, mostly lines in the
 * other worker's cache: 0.25 ms on a fast host, 1 ms on a busy one, at 1 TiB of 2 MiB leaves, 1 %
 * (docs/bench/scale.md). What `bitsSet` means then is in ./poolStats.ts.
 *
 * Start/cancel protocol. A task's first act is CAS(STATE, PENDING → RUNNING); the main thread
 * cancels a task that has not started with CAS(STATE, PENDING → CANCELLED). Exactly one wins, so
 * after cancelling, the main thread knows which tasks can still touch the bitmap (RUNNING ones)
 * and waits only for those; a cancelled task that reaches a worker later returns at once.
 */

/** Why the workers were told to stop. */
export const StopReason = { None: 0, Abort: 1, Fault: 2 } as const;
/** A value of {@link StopReason}. */
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/** The life of one task slot. */
export const SlotState = { Pending: 0, Running: 1, Done: 2, Cancelled: 3 } as const;
/** A value of {@link SlotState}. */
export type SlotState = (typeof SlotState)[keyof typeof SlotState];

/** The phases of a report, in order. */
export const Phase = { CountBefore: 0, Walk: 1, CountAfter: 2 } as const;
/** A value of {@link Phase}. */
export type Phase = (typeof Phase)[keyof typeof Phase];

const LINE_WORDS = 16; // 64 bytes
const HEADER_LINES = 2;
const STOP = 0;
const SLOTS = 1;
const cursorOf = (p: Phase): number => 2 + 3 * p;
const doneOf = (p: Phase): number => 3 + 3 * p;
const totalOf = (p: Phase): number => 4 + 3 * p;
const POSTED = 11;
const BITS_DONE_I64 = 8;
const BEFORE_I64 = 9;
const AFTER_I64 = 10;
const S_STATE = 0;
const S_CHUNK = 1;
const S_DONE = 2;
/** Before-count states of a count piece (see the layout). */
const PIECE_FREE = 0;
const PIECE_COUNTING = 1;
const PIECE_COUNTED = 2;
/** Longest single Atomics.wait at a barrier, ms: a safety net; notify normally ends it. */
const WAIT_SLICE_MS = 20;

/**
 * The counting phases a report does without (module comment, "Skipping"): `before`, the bitmap's
 * count before the walk is known to be 0; `after`, `bitsSet` comes from the records.
 */
export interface CountSkip {
  readonly before: boolean;
  readonly after: boolean;
}

/** No phase skipped ({@link ControlBlock.create}'s default). */
const NO_SKIP: CountSkip = { before: false, after: false };

/** Progress counters read from a control block. */
export interface ControlProgress {
  /** Chunks finished by all workers. */
  readonly chunksDone: number;
  /** Bitmap bits covered by the finished chunks, summed over sources. */
  readonly bitsDone: bigint;
}

/** A view of one report's control block (see the module comment for the layout). */
export class ControlBlock {
  /** The shared memory; post it to the workers inside the task object. */
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;
  readonly #i64: BigInt64Array;
  /** Index in #i32 of count piece 0's state word. */
  readonly #piece0: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#i32 = new Int32Array(buffer);
    this.#i64 = new BigInt64Array(buffer, 0, (HEADER_LINES * LINE_WORDS) / 2);
    this.#piece0 = (HEADER_LINES + this.#i32[SLOTS]!) * LINE_WORDS;
  }

  /** Bytes of a control block with `slots` task slots and `pieces` count pieces. */
  static bytesFor(slots: number, pieces: number): number {
    return 4 * (LINE_WORDS * (HEADER_LINES + slots) + pieces);
  }

  /**
   * A fresh block (main thread) for a report of `chunks` chunks over `pieces` bitmap pieces, run
   * by `slots` tasks.
   * @param skip - counting phases the report does without (module comment, "Skipping"): `before`,
   *   the bitmap's count before the walk is known to be 0 (its summary was clean, core's
   *   `summaryClean`): the phase starts finished, every piece COUNTED, BEFORE = 0, and the workers
   *   go straight to the walk; `after`, `bitsSet` comes from the records (the caller sums the
   *   workers' `bitsMarked`): the phase starts finished and no worker counts after the walk.
   */
  static create(slots: number, chunks: number, pieces: number, skip: CountSkip = NO_SKIP): ControlBlock {
    const buffer = new SharedArrayBuffer(ControlBlock.bytesFor(slots, pieces));
    new Int32Array(buffer)[SLOTS] = slots; // before the view, which locates the piece states from it
    const cb = new ControlBlock(buffer);
    const i32 = cb.#i32;
    i32[totalOf(Phase.CountBefore)] = pieces;
    i32[totalOf(Phase.Walk)] = chunks;
    i32[totalOf(Phase.CountAfter)] = pieces;
    for (let s = 0; s < slots; s++) i32[cb.#slot(s) + S_CHUNK] = -1;
    if (skip.before) {
      i32[cursorOf(Phase.CountBefore)] = pieces;
      i32[doneOf(Phase.CountBefore)] = pieces;
      i32.fill(PIECE_COUNTED, cb.#piece0, cb.#piece0 + pieces);
    }
    if (skip.after) {
      i32[cursorOf(Phase.CountAfter)] = pieces;
      i32[doneOf(Phase.CountAfter)] = pieces;
    }
    return cb;
  }

  /** A view of a block made by {@link create} (in a worker). */
  static attach(buffer: SharedArrayBuffer): ControlBlock {
    return new ControlBlock(buffer);
  }

  /** Claims made so far in phase `p` (the cursor; past {@link total} once the phase is exhausted). */
  claimed(p: Phase): number {
    return Atomics.load(this.#i32, cursorOf(p));
  }

  /** Items of phase `p`: pieces for the counts, chunks for the walk. */
  total(p: Phase): number {
    return this.#i32[totalOf(p)]!;
  }

  /** Chunks of the report. */
  get chunks(): number {
    return this.total(Phase.Walk);
  }

  /** Task slots of the report. */
  get slots(): number {
    return this.#i32[SLOTS]!;
  }

  /** Claims the next item of phase `p`; a result ≥ {@link total} means none is left. */
  claim(p: Phase): number {
    return Atomics.add(this.#i32, cursorOf(p), 1);
  }

  /** Items of phase `p` finished so far. */
  done(p: Phase): number {
    return Atomics.load(this.#i32, doneOf(p));
  }

  /** Counts one finished item of phase `p`; the last one wakes the workers waiting at the barrier. */
  #itemDone(p: Phase): void {
    const i = doneOf(p);
    if (Atomics.add(this.#i32, i, 1) + 1 === this.#i32[totalOf(p)]) Atomics.notify(this.#i32, i);
  }

  /**
   * Worker: claims count piece `i`'s before-count (CAS FREE → COUNTING); false when another
   * worker has it (counting or counted).
   */
  claimPiece(i: number): boolean {
    return Atomics.compareExchange(this.#i32, this.#piece0 + i, PIECE_FREE, PIECE_COUNTING) === PIECE_FREE;
  }

  /** True once count piece `i`'s before-count is in (COUNTED). */
  pieceCountedBefore(i: number): boolean {
    return Atomics.load(this.#i32, this.#piece0 + i) === PIECE_COUNTED;
  }

  /**
   * Worker: waits until count piece `i`'s before-count is in.
   * @returns true when it is, false when STOP (Fault) was set first: its counter may have died
   */
  waitPieceCounted(i: number): boolean {
    const w = this.#piece0 + i;
    for (;;) {
      const v = Atomics.load(this.#i32, w);
      if (v === PIECE_COUNTED) return true;
      if (Atomics.load(this.#i32, STOP) === StopReason.Fault) return false;
      Atomics.wait(this.#i32, w, v, WAIT_SLICE_MS);
    }
  }

  /**
   * Worker: count piece `i` held `bits` set bits in phase `p` (CountBefore or CountAfter). A
   * before-count also marks the piece COUNTED and wakes the workers waiting for it.
   */
  pieceCounted(p: typeof Phase.CountBefore | typeof Phase.CountAfter, i: number, bits: number): void {
    Atomics.add(this.#i64, p === Phase.CountBefore ? BEFORE_I64 : AFTER_I64, BigInt(bits));
    if (p === Phase.CountBefore) {
      Atomics.store(this.#i32, this.#piece0 + i, PIECE_COUNTED);
      Atomics.notify(this.#i32, this.#piece0 + i);
    }
    this.#itemDone(p);
  }

  /** Worker: counts a finished chunk of `bits` bitmap bits for slot `s`, and clears its CHUNK. */
  chunkDone(s: number, bits: number): void {
    const b = this.#slot(s);
    Atomics.store(this.#i32, b + S_CHUNK, -1);
    Atomics.add(this.#i32, b + S_DONE, 1);
    Atomics.add(this.#i64, BITS_DONE_I64, BigInt(bits));
    this.#itemDone(Phase.Walk);
  }

  /**
   * Worker: waits until every item of phase `p` is finished.
   * @returns true when they are, false when STOP was set first
   */
  waitPhase(p: Phase): boolean {
    const i = doneOf(p);
    const total = this.#i32[totalOf(p)]!;
    for (;;) {
      if (Atomics.load(this.#i32, STOP) !== StopReason.None) return false;
      const v = Atomics.load(this.#i32, i);
      if (v >= total) return true;
      Atomics.wait(this.#i32, i, v, WAIT_SLICE_MS);
    }
  }

  /** Set bits counted after the walk minus those counted before (valid once both counts are done). */
  bitsSet(): number {
    return Number(Atomics.load(this.#i64, AFTER_I64) - Atomics.load(this.#i64, BEFORE_I64));
  }

  /** Why the workers must stop, or {@link StopReason.None}. */
  stopReason(): StopReason {
    return Atomics.load(this.#i32, STOP) as StopReason;
  }

  /**
   * Main thread: asks every worker to stop after its current item, and wakes those waiting at a
   * barrier. The first reason wins; true if this call set it.
   */
  requestStop(reason: typeof StopReason.Abort | typeof StopReason.Fault): boolean {
    const won = Atomics.compareExchange(this.#i32, STOP, StopReason.None, reason) === StopReason.None;
    for (const p of [Phase.CountBefore, Phase.Walk, Phase.CountAfter]) Atomics.notify(this.#i32, doneOf(p));
    return won;
  }

  #slot(s: number): number {
    return (HEADER_LINES + s) * LINE_WORDS;
  }

  /** Worker: marks slot `s` running; false when the main thread cancelled it first. */
  tryStart(s: number): boolean {
    return Atomics.compareExchange(this.#i32, this.#slot(s) + S_STATE, SlotState.Pending, SlotState.Running) === SlotState.Pending;
  }

  /** Main thread: cancels slot `s` if its task has not started; true if it will never run an item. */
  cancel(s: number): boolean {
    return Atomics.compareExchange(this.#i32, this.#slot(s) + S_STATE, SlotState.Pending, SlotState.Cancelled) === SlotState.Pending;
  }

  /** The state of slot `s`. */
  state(s: number): SlotState {
    return Atomics.load(this.#i32, this.#slot(s) + S_STATE) as SlotState;
  }

  /** Worker: publishes the chunk slot `s` is about to walk (-1: none). */
  setCurrent(s: number, chunk: number): void {
    Atomics.store(this.#i32, this.#slot(s) + S_CHUNK, chunk);
  }

  /** The chunk slot `s` is walking, or -1. */
  current(s: number): number {
    return Atomics.load(this.#i32, this.#slot(s) + S_CHUNK);
  }

  /** Worker: marks slot `s` finished (it will not touch the bitmap again). */
  finish(s: number): void {
    Atomics.store(this.#i32, this.#slot(s) + S_STATE, SlotState.Done);
  }

  /** Chunks finished by slot `s`. */
  doneBy(s: number): number {
    return Atomics.load(this.#i32, this.#slot(s) + S_DONE);
  }

  /**
   * Streaming: a worker is about to post a chunk's runs. Called before the post, and so before
   * the chunk is counted done and before the task settles: once every task has settled, {@link
   * posted} is final and that many messages are on their way.
   * @returns the posts counted before this one (0: this is the report's first)
   */
  chunkPosted(): number {
    return Atomics.add(this.#i32, POSTED, 1);
  }

  /** Streaming: chunk messages posted so far (all workers). */
  posted(): number {
    return Atomics.load(this.#i32, POSTED);
  }

  /** The progress counters (main thread, for onProgress). */
  progress(): ControlProgress {
    return { chunksDone: this.done(Phase.Walk), bitsDone: Atomics.load(this.#i64, BITS_DONE_I64) };
  }
}
