/**
 * RunCapture: the bitmap a pool worker records into when the report streams its chunks
 * (`ReportPool.report({ onChunk })`): an IovaBitmap over the same shared memory that also keeps
 * the runs of bits it was asked to set, so the worker can hand them to the main thread per chunk.
 * Runs on a pool worker, on the caller's thread for a small streamed report
 * (../inlineReport.ts), and in-process in the tests.
 *
 * Theory of operation
 * -------------------
 * Every write a source makes goes through four IovaBitmap methods (core's ClipRecorder.ts and
 * DirtyLeafSink.ts): `setUnits`, `set`, `setBits` and `orMask`. This subclass overrides them: each
 * (after the guard below) writes through the base class (the bits are in the bitmap before the run is kept: a run
 * handed out is always in the bitmap), then appends the run of bits it covered, clipped to the
 * bitmap, to a growing list of (first bit, count) pairs; a run that starts inside or right after
 * the last one extends it (consecutive masks of a 4 KiB-leaf walk become one run).
 * {@link RunCapture.take} copies the list out (to post by copy, never by transfer) and empties
 * it: the worker takes it after each chunk.
 *
 * Before each write, a capture made with a {@link WriteGuard} (./CountAhead.ts) hands it the bits
 * the write is about to touch, clipped to the bitmap: a streamed report counts each piece of the
 * bitmap just before its first write there, instead of counting the whole bitmap before the walk.
 *
 * A page-table sink writes a plain IovaBitmap's words directly (`direct` mode) only when `orMask`
 * is IovaBitmap's own, so with this subclass every mask comes here (the `mask` mode); that costs
 * the streamed report a call per mask, and nothing to a report without `onChunk`, which never
 * makes a RunCapture.
 */
import { IovaBitmap, type SharedIovaBitmap, type U64Like } from '@iovabitmap/core';
import { ctz32, recordRuns, toU64, type RunSink } from '@iovabitmap/core/internal';
import type { WriteGuard } from './CountAhead.js';

/** See the module comment. */
export class RunCapture extends IovaBitmap {
  #runs = new Float64Array(64);
  #n = 0;
  /** core's one mask-to-runs loop hands each run of a mask here. */
  readonly #runSink: RunSink = { record: (bit, count) => this.#keep(bit, bit + count) };
  #guard: WriteGuard | undefined;
  /** Bits [safeLo, safeHi) need no call to the guard (all of them without a guard). */
  #safeLo = -Infinity;
  #safeHi = Infinity;

  /**
   * A capturing view of a shared bitmap (as `IovaBitmap.fromShared`).
   * @param guard - called before every write with the bits it will touch (module comment)
   * @throws IovaBitmapError as `IovaBitmap.fromShared`.
   */
  static fromSharedCapturing(d: SharedIovaBitmap, guard?: WriteGuard): RunCapture {
    // The same memory *and the same summary* (fromShared keeps both): a view with a summary of
    // its own would mark only that one, and the caller's count()/dirtyRanges()/orInto() would
    // skip the captured writes.
    const c = RunCapture.fromShared(d);
    if (guard !== undefined) {
      c.#guard = guard;
      c.#safeLo = c.#safeHi = 0;
    }
    return c;
  }

  /**
   * The runs kept since the last take, as (first bit, count) pairs, copied into an ArrayBuffer of
   * exactly their size (posting it copies that much again); the list keeps its buffer for the
   * next chunk. Never transfer it: a transfer detaches an ArrayBuffer, and the first detach in a
   * thread makes V8 check every typed-array access of its optimised code for detachment from then
   * on (the kernels' loops included: the clean tracker scan ran 1.7x slower in a worker that had
   * streamed once, docs/bench/limits.md §9.5). Handing the list itself over in a
   * SharedArrayBuffer (no copy, a new one per big chunk) was slower than this copy on the dense
   * streamed 1 TiB report (~200 ms against 162–186 ms; transferring: ~155 ms).
   */
  take(): Float64Array {
    const out = this.#runs.slice(0, 2 * this.#n);
    this.#n = 0;
    return out;
  }

  /** Keeps bits [a, b), clipped. */
  #keep(a: number, b: number): void {
    if (a < 0) a = 0;
    if (b > this.nbits) b = this.nbits;
    if (!(a < b)) return;
    const n = this.#n;
    const r = this.#runs;
    if (n > 0) {
      const la = r[2 * n - 2]!;
      const lend = la + r[2 * n - 1]!;
      if (a >= la && a <= lend) {
        if (b > lend) r[2 * n - 1] = b - la;
        return;
      }
    }
    if (2 * n + 2 > r.length) {
      const bigger = new Float64Array(r.length * 2);
      bigger.set(r);
      this.#runs = bigger;
    }
    this.#runs[2 * n] = a;
    this.#runs[2 * n + 1] = b - a;
    this.#n = n + 1;
  }

  /** Hands bits [a, b), clipped to the bitmap, to the guard before they are written (module comment). */
  #before(a: number, b: number): void {
    if (a >= this.#safeLo && b <= this.#safeHi) return;
    if (a < 0) a = 0;
    if (b > this.nbits) b = this.nbits;
    if (!(a < b)) return;
    const g = this.#guard!;
    g.beforeWrite(a, b);
    this.#safeLo = g.safeLo;
    this.#safeHi = g.safeHi;
  }

  override setUnits(unit: number, count: number, unitShift: number): void {
    if (count <= 0) return super.setUnits(unit, count, unitShift);
    const a = this.bitOfUnit(unit, unitShift);
    const b = unitShift >= this.pageShift ? this.bitOfUnit(unit + count, unitShift) : this.bitOfUnit(unit + count - 1, unitShift) + 1;
    this.#before(a, b);
    super.setUnits(unit, count, unitShift);
    this.#keep(a, b);
  }

  override set(iova: U64Like, length: U64Like): void {
    const lo0 = toU64('RunCapture.set', 'iova', iova);
    const len = toU64('RunCapture.set', 'length', length);
    const lo = lo0 > this.iova ? lo0 : this.iova;
    const hi = lo0 + len < this.end ? lo0 + len : this.end;
    if (lo >= hi) return super.set(iova, length);
    const s = BigInt(this.pageShift);
    const a = Number((lo - this.iova) >> s);
    const b = Number((hi - 1n - this.iova) >> s) + 1;
    this.#before(a, b);
    super.set(iova, length);
    this.#keep(a, b);
  }

  override setBits(firstBit: number, count: number): void {
    this.#before(firstBit, firstBit + count);
    super.setBits(firstBit, count);
    this.#keep(firstBit, firstBit + count);
  }

  override orMask(firstBit: number, mask: number): void {
    if (mask !== 0) this.#before(firstBit, firstBit + 32);
    super.orMask(firstBit, mask);
    const m = mask | 0;
    if (m === 0) return;
    // One run of set bits (most masks of a scattered dirty set): kept without core's loop, whose
    // sink call does not inline there (it serves every sink).
    const s = ctz32(m);
    const x = m >>> s;
    if ((x & (x + 1)) === 0) this.#keep(firstBit + s, firstBit + 32 - Math.clz32(m));
    else recordRuns(m, firstBit, this.#runSink);
  }
}
