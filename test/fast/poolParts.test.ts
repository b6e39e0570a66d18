/**
 * The report pool's parts, in-process (vitest cannot see code inside worker threads): the chunk
 * plan, the control block's protocols, and the per-chunk loop (`runReportTask`) against core's
 * sequential `reportDirty`.
 *
 * The loop is driven by a tiny test-only DirtySource (`UnitSource`): dirty units of 2^unitShift
 * bytes kept in a Set, reported by the ownership rule of core's DirtySource.ts, written the plain
 * way (`bitmap.set`). It is registered nowhere; the tests pass its factory to runReportTask.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, IovaBitmapError, reportDirty, type DirtySource, type DirtySourceShared, type ReportChunk, type ReportOptions, type SourceStats } from '@iovabitmap/core';
import { bitmapViews, computeWindows, emptySourceStats } from '@iovabitmap/core/internal';
import { ChunkPlan, ControlBlock, Phase, chunkBitsFor, countPlan, SlotState, StopReason, defaultChunkBits, runReportTask, type ReportTask } from '@iovabitmap/workers/internal';

interface SharedUnitSource extends DirtySourceShared {
  readonly kind: 'UnitSource';
  readonly id: number;
}

const registry = new Map<number, UnitSource>();
let nextId = 1;

/** Dirty units [u·2^s, (u+1)·2^s); the state lives in a Set shared through `registry`. */
class UnitSource implements DirtySource {
  readonly id = nextId++;
  readonly dirty = new Set<bigint>();
  constructor(
    readonly name: string,
    readonly unitShift: bigint,
  ) {
    registry.set(this.id, this);
  }
  checkReport(): void {}
  reportChunk(bitmap: IovaBitmap, c: ReportChunk, o?: ReportOptions): SourceStats {
    const st = emptySourceStats();
    for (const u of [...this.dirty].sort((a, b) => (a < b ? -1 : 1))) {
      const a = u << this.unitShift;
      const b = (u + 1n) << this.unitShift;
      if (b <= c.clipLo || a >= c.clipHi) continue;
      const owner = a > c.clipLo ? a : c.clipLo;
      if (owner < c.chunkLo || owner >= c.chunkHi) continue;
      const lo = owner;
      const hi = b < c.clipHi ? b : c.clipHi;
      bitmap.set(lo, hi - lo);
      st.dirtyLeaves++;
      st.bitsMarked += Number((hi - 1n - bitmap.iova) / bitmap.pageSize - (lo - bitmap.iova) / bitmap.pageSize + 1n);
      if (!o?.noClear) this.dirty.delete(u);
    }
    st.entriesVisited = st.dirtyLeaves;
    return st;
  }
  share(): SharedUnitSource {
    return { kind: 'UnitSource', name: this.name, id: this.id };
  }
}

/** A control block for a report of `sources` over `bitmap` at `chunkBits`, as the pool makes it. */
function controlFor(bitmap: IovaBitmap, sources: number, slots: number, chunkBits: number): { plan: ChunkPlan; ctrl: ControlBlock } {
  const bits = Array.from({ length: sources }, () => chunkBits);
  const { bitBase } = bitmapViews(bitmap);
  const plan = new ChunkPlan(bitmap.windows(), bitBase, bits);
  return { plan, ctrl: ControlBlock.create(slots, plan.chunks, countPlan(bitmap.windows(), bitBase, bits).chunks) };
}

const rebuild = (d: DirtySourceShared): DirtySource => registry.get((d as SharedUnitSource).id)!;

function task(bitmap: IovaBitmap, sources: UnitSource[], ctrl: ControlBlock, slot: number, chunkBits: number, extra: Partial<ReportTask> = {}): ReportTask {
  const bits = sources.map(() => chunkBits);
  return { kind: 'report', control: ctrl.buffer, slot, bitmap: bitmap.share(), sources: sources.map((s) => s.share()), noClear: false, chunkBits: bits, ...extra };
}

describe('ChunkPlan', () => {
  const geometry = fc.record({
    nbits: fc.integer({ min: 1, max: 3000 }),
    byteOffset: fc.integer({ min: 0, max: 9000 }),
    windowPages: fc.integer({ min: 1, max: 3 }),
    chunkWords: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
  });

  it('cuts the windows into maximal pieces whose inner edges are multiples of chunkBits (hence of 32 bits) of the buffer', () => {
    fc.assert(
      fc.property(geometry, ({ nbits, byteOffset, windowPages, chunkWords }) => {
        // Windows of 1..3 pinned pages (32768+ bits) and an unaligned byteOffset: several windows,
        // a partial first one, window edges that are not multiples of chunkBits; one piece size per source.
        const windows = computeWindows({ iova: 0n, pageSize: 4096n, nbits: nbits * 20, byteOffset, windowPages });
        const sizes = chunkWords.map((w) => w * 32);
        const bitBase = byteOffset * 8;
        const plan = new ChunkPlan(windows, bitBase, sizes);
        expect(plan.sources).toBe(sizes.length);
        expect(plan.chunks).toBe(plan.pieces.reduce((a, b) => a + b, 0));
        let c = 0; // source-major numbering: source s's pieces follow source s-1's
        const bad: string[] = [];
        sizes.forEach((C, s) => {
          let next = 0;
          let w = 0;
          for (let p = 0; p < plan.pieces[s]! && bad.length === 0; p++, c++) {
            const at = plan.locate(c);
            while (windows[w]!.firstBit + windows[w]!.bitCount <= at.firstBit) w++;
            const win = windows[w]!;
            const winEnd = win.firstBit + win.bitCount;
            const a = bitBase + at.firstBit;
            const e = a + at.bitCount;
            if (at.source !== s || at.piece !== p) bad.push(`chunk ${c}: source ${at.source} piece ${at.piece}, expected ${s} ${p}`);
            if (at.firstBit !== next) bad.push(`chunk ${c} starts at ${at.firstBit}, expected ${next}`);
            if (!(at.bitCount > 0 && at.bitCount <= C)) bad.push(`chunk ${c} has ${at.bitCount} bits`);
            if (at.firstBit + at.bitCount > winEnd) bad.push(`chunk ${c} crosses the end of window ${w}`);
            // Maximal: each edge is a window edge or a grid point, and no grid point lies inside.
            if (!(at.firstBit === win.firstBit || a % C === 0)) bad.push(`chunk ${c} starts off the grid`);
            if (!(at.firstBit + at.bitCount === winEnd || e % C === 0)) bad.push(`chunk ${c} ends off the grid`);
            if (Math.floor((e - 1) / C) !== Math.floor(a / C)) bad.push(`chunk ${c} holds a grid point`);
            next = at.firstBit + at.bitCount;
          }
          if (bad.length === 0 && next !== nbits * 20) bad.push(`source ${s} tiles [0, ${next}), expected [0, ${nbits * 20})`);
        });
        expect(bad).toEqual([]);
        expect(c).toBe(plan.chunks);
      }),
      { numRuns: 200 },
    );
  });

  it('defaults to 256 MiB of IOVA per chunk: 2^16 bits at 4 KiB, never below 32 bits', () => {
    expect(defaultChunkBits(12)).toBe(65536);
    expect(defaultChunkBits(11)).toBe(131072);
    expect(defaultChunkBits(21)).toBe(128);
    expect(defaultChunkBits(24)).toBe(32);
    expect(defaultChunkBits(63)).toBe(32);
  });

  it('refuses a plan of more than 2^30 chunks with E2BIG', () => {
    const windows = computeWindows({ iova: 0n, pageSize: 1n, nbits: 2 ** 36, byteOffset: 0, windowPages: 1 << 20 });
    expect(() => new ChunkPlan(windows, 0, [32, 32])).toThrow(expect.objectContaining({ code: 'E2BIG' }));
  });
});

describe('chunkBitsFor (chunk size from a source\'s work profile)', () => {
  const chunksOf = (bits: number, nbits: number) => Math.ceil(nbits / bits);

  it('falls back to 256 MiB of IOVA per chunk without a profile', () => {
    expect(chunkBitsFor(undefined, 2 ** 24, 12, 2)).toBe(defaultChunkBits(12));
  });

  it('gives 32 chunks per thread to a uniform 4 KiB-leaf walk: 64 GiB on 2 threads = 64 chunks of 2^18 entries', () => {
    const bits = chunkBitsFor({ entries: 2 ** 24, peakEntriesPerPage: 1 }, 2 ** 24, 12, 2);
    expect(chunksOf(bits, 2 ** 24)).toBe(64);
  });

  it('keeps at least 2^16 entries per chunk: 1 TiB of 2 MiB leaves (2^19 entries) gives 8 chunks, not 4096', () => {
    const bits = chunkBitsFor({ entries: 2 ** 19, peakEntriesPerPage: 1 / 512 }, 2 ** 28, 12, 2);
    expect(chunksOf(bits, 2 ** 28)).toBe(8);
  });

  it('cuts 16 TiB of 1 GiB leaves into a couple of chunks, not 65,536', () => {
    const bits = chunkBitsFor({ entries: 2 ** 14, peakEntriesPerPage: 2 ** -18 }, 2 ** 32, 12, 2);
    expect(bits).toBe(2 ** 31);
    expect(chunksOf(bits, 2 ** 32)).toBe(2);
  });

  it('caps a chunk at 2^20 entries where the range is densest (4 KiB leaves inside a mostly 2 MiB guest)', () => {
    const bits = chunkBitsFor({ entries: 2 ** 24 + 2 ** 19, peakEntriesPerPage: 1 }, 2 ** 28, 12, 2);
    expect(bits).toBe(2 ** 20);
  });

  it('scales with the bitmap page size and rounds to whole 32-bit words', () => {
    // 2 KiB bitmap pages: two bits per 4 KiB entry, so the peak cap is 2^21 bits.
    expect(chunkBitsFor({ entries: 2 ** 30, peakEntriesPerPage: 1 }, 2 ** 31, 11, 16)).toBe(2 ** 21);
    const odd = chunkBitsFor({ entries: 3_000_000, peakEntriesPerPage: 1 }, 3_000_000, 12, 3);
    expect(odd % 32).toBe(0);
  });

  it('makes one chunk of a range with nothing to read', () => {
    expect(chunkBitsFor({ entries: 0, peakEntriesPerPage: 0 }, 2 ** 20, 12, 2)).toBe(2 ** 20);
  });
});

describe('ControlBlock', () => {
  it('hands out every item of a phase once, then indices past the end, per phase', () => {
    const cb = ControlBlock.create(2, 3, 2);
    const other = ControlBlock.attach(cb.buffer);
    expect([cb.claim(Phase.Walk), other.claim(Phase.Walk), cb.claim(Phase.Walk), other.claim(Phase.Walk)]).toEqual([0, 1, 2, 3]);
    expect([other.claim(Phase.CountBefore), cb.claim(Phase.CountAfter), cb.claim(Phase.CountBefore)]).toEqual([0, 0, 1]);
    expect([other.chunks, other.total(Phase.CountBefore), other.total(Phase.CountAfter), other.slots]).toEqual([3, 2, 2, 2]);
  });

  it('lets exactly one of start and cancel win for a slot', () => {
    const cb = ControlBlock.create(2, 1, 1);
    expect(cb.cancel(0)).toBe(true);
    expect(cb.tryStart(0)).toBe(false);
    expect(cb.state(0)).toBe(SlotState.Cancelled);
    expect(cb.tryStart(1)).toBe(true);
    expect(cb.cancel(1)).toBe(false);
    cb.finish(1);
    expect(cb.state(1)).toBe(SlotState.Done);
  });

  it('keeps the first stop reason', () => {
    const cb = ControlBlock.create(1, 1, 1);
    expect(cb.stopReason()).toBe(StopReason.None);
    expect(cb.requestStop(StopReason.Abort)).toBe(true);
    expect(cb.requestStop(StopReason.Fault)).toBe(false);
    expect(ControlBlock.attach(cb.buffer).stopReason()).toBe(StopReason.Abort);
  });

  it('counts progress per slot and in total, and publishes the current chunk', () => {
    const cb = ControlBlock.create(2, 10, 4);
    expect(cb.current(1)).toBe(-1);
    cb.setCurrent(1, 7);
    expect(cb.current(1)).toBe(7);
    cb.chunkDone(1, 100);
    cb.chunkDone(0, 5);
    expect(cb.current(1)).toBe(-1);
    expect(cb.doneBy(1)).toBe(1);
    expect(cb.progress()).toEqual({ chunksDone: 2, bitsDone: 105n });
  });

  it('passes a phase barrier once every item is done, or when STOP is set; bitsSet is after minus before', () => {
    const cb = ControlBlock.create(1, 2, 2);
    cb.pieceCounted(Phase.CountBefore, 30);
    cb.pieceCounted(Phase.CountBefore, 12);
    expect(cb.waitPhase(Phase.CountBefore)).toBe(true);
    cb.chunkDone(0, 1);
    cb.pieceCounted(Phase.CountAfter, 50);
    cb.pieceCounted(Phase.CountAfter, 40);
    expect(cb.bitsSet()).toBe(48);
    cb.requestStop(StopReason.Fault);
    // One chunk of two is done: without STOP this would wait forever.
    expect(cb.waitPhase(Phase.Walk)).toBe(false);
  });
});

describe('runReportTask (in-process)', () => {
  const workload = fc.record({
    iovaPages: fc.integer({ min: 0, max: 1 << 12 }),
    nbits: fc.integer({ min: 1, max: 3000 }),
    pageShift: fc.integer({ min: 12, max: 14 }),
    byteOffset: fc.integer({ min: 0, max: 5000 }),
    chunkWords: fc.integer({ min: 1, max: 20 }),
    // (big?, 4 KiB page offset from 16 pages below the bitmap to 16 pages past its end, modulo the span)
    units: fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 40 }),
  });

  it('leaves the bitmap and the sources exactly as reportDirty does, for any chunk size', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const make = () => {
          const pageSize = 1n << BigInt(w.pageShift);
          const buffer = new SharedArrayBuffer(w.byteOffset + Math.ceil(w.nbits / 8) + 8);
          const bitmap = new IovaBitmap({ iova: BigInt(w.iovaPages) * pageSize, length: BigInt(w.nbits) * pageSize, pageSize, buffer, byteOffset: w.byteOffset, windowPages: 1 });
          const small = new UnitSource('small', 12n);
          const big = new UnitSource('big', 16n);
          const first4k = w.iovaPages * 2 ** (w.pageShift - 12);
          const span4k = w.nbits * 2 ** (w.pageShift - 12);
          for (const [isBig, at] of w.units) {
            const page = BigInt(Math.max(0, first4k - 16 + (at % (span4k + 32))));
            if (isBig) big.dirty.add(page >> 4n);
            else small.dirty.add(page);
          }
          return { bitmap, sources: [small, big] };
        };
        const ref = make();
        const par = make();
        const refStats = reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
        const C = w.chunkWords * 32;
        const { plan, ctrl } = controlFor(par.bitmap, 2, 1, C);
        const r = runReportTask(task(par.bitmap, par.sources, ctrl, 0, C), rebuild);
        expect(r.kind).toBe('done');
        if (r.kind !== 'done') return;
        expect(par.bitmap.snapshot()).toEqual(ref.bitmap.snapshot());
        expect([...par.sources[0]!.dirty].sort()).toEqual([...ref.sources[0]!.dirty].sort());
        expect([...par.sources[1]!.dirty].sort()).toEqual([...ref.sources[1]!.dirty].sort());
        expect(r.rows.map((x) => x[1])).toEqual([refStats.sources['small']!.dirtyLeaves, refStats.sources['big']!.dirtyLeaves]);
        expect(r.rows[0]![3] + r.rows[1]![3]).toBe(plan.chunks);
        expect(ctrl.progress()).toEqual({ chunksDone: plan.chunks, bitsDone: BigInt(2 * w.nbits) });
        expect(ctrl.state(0)).toBe(SlotState.Done);
        expect(ctrl.bitsSet()).toBe(refStats.bitsSet);
        expect(r.walkEndMs).toBeGreaterThanOrEqual(r.walkStartMs);
      }),
      { numRuns: 150 },
    );
  });

  it('stops between chunks when STOP is set, and does nothing for a cancelled slot', () => {
    const bitmap = new IovaBitmap({ iova: 0n, length: 1n << 24n, pageSize: 4096n });
    const s = new UnitSource('s', 12n);
    for (let p = 0n; p < 4096n; p += 3n) s.dirty.add(p);
    const { ctrl } = controlFor(bitmap, 1, 2, 32);
    ctrl.requestStop(StopReason.Abort);
    expect(runReportTask(task(bitmap, [s], ctrl, 0, 32), rebuild)).toMatchObject({ kind: 'done', rows: [[0, 0, 0, 0, expect.any(Number)]] });
    expect(bitmap.count()).toBe(0);
    expect(ctrl.cancel(1)).toBe(true);
    expect(runReportTask(task(bitmap, [s], ctrl, 1, 32), rebuild)).toEqual({ kind: 'cancelled', slot: 1 });
  });

  it('returns a throw as data naming the chunk, keeps what it cleared in the bitmap, and another slot finishes the rest', () => {
    for (const k of [0, 1, 5, 63]) {
      const bitmap = new IovaBitmap({ iova: 0n, length: 1n << 23n, pageSize: 4096n });
      const s = new UnitSource('s', 12n);
      for (let p = 0n; p < 2048n; p += 5n) s.dirty.add(p);
      const all = [...s.dirty];
      const { ctrl } = controlFor(bitmap, 1, 2, 32);
      const r = runReportTask(task(bitmap, [s], ctrl, 0, 32, { fault: { afterChunks: k, mode: 'throw' } }), rebuild);
      expect(r).toMatchObject({ kind: 'failed', chunk: k, error: { code: 'EIO', message: `Error: injected fault in chunk ${k}` } });
      // Record before clear: every unit that left the source is in the bitmap.
      for (const p of all) if (!s.dirty.has(p)) expect(bitmap.test(p << 12n)).toBe(true);
      // Half of chunk k was reported (units in its first 16 pages), none after it.
      expect(bitmap.countBits(32 * k + 16, 2048 - 32 * k - 16)).toBe(0);
      ctrl.requestStop(StopReason.Fault);
      // A fresh report (new control block) finds exactly the rest.
      const ctrl2 = controlFor(bitmap, 1, 1, 32).ctrl;
      expect(runReportTask(task(bitmap, [s], ctrl2, 0, 32), rebuild).kind).toBe('done');
      expect(s.dirty.size).toBe(0);
      for (const p of all) expect(bitmap.test(p << 12n)).toBe(true);
      expect(bitmap.count()).toBe(all.length);
    }
  });

  it('keeps the code and message of an IovaBitmapError thrown by a source', () => {
    const bitmap = new IovaBitmap({ iova: 0n, length: 1n << 20n, pageSize: 4096n });
    const s = new UnitSource('s', 12n);
    s.reportChunk = () => {
      throw IovaBitmapError.bad('ENOENT', 'UnitSource', 'iova', 4096n, 'is not mapped');
    };
    const { ctrl } = controlFor(bitmap, 1, 1, 64);
    const r = runReportTask(task(bitmap, [s], ctrl, 0, 64), rebuild);
    expect(r).toMatchObject({ kind: 'failed', chunk: 0, error: { code: 'ENOENT', param: 'iova', message: 'UnitSource: iova is not mapped, got 4096 (0x1000)' } });
  });
});
