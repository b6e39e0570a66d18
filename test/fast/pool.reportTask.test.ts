/**
 * The per-report task loop of a pool worker (`runReportTask`,
 * packages/workers/src/pool/worker/reportTask.ts), in-process (vitest cannot see code inside
 * worker threads), against core's sequential `reportDirty`.
 *
 * The loop is driven by a tiny test-only DirtySource (`UnitSource`): dirty units of 2^unitShift
 * bytes kept in a Set, reported by the ownership rule of core's DirtySource.ts, written the plain
 * way (`bitmap.set`). It is registered nowhere; the tests pass its factory to runReportTask.
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, IovaBitmapError, reportDirty, type DirtySource, type DirtySourceShared, type ReportChunk, type ReportOptions, type SourceStats } from '@iovabitmap/core';
import { emptySourceStats, summaryClean } from '@iovabitmap/core/internal';
import { ControlBlock, SlotState, StopReason, reportPlans, runReportTask, type ChunkPlan, type ReportTask } from '@iovabitmap/workers/internal';

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

/**
 * A control block for a report of `sources` over `bitmap` at `chunkBits`, as the pool makes it:
 * with the count before skipped when the bitmap's summary is clean.
 */
function controlFor(bitmap: IovaBitmap, sources: number, slots: number, chunkBits: number): { plan: ChunkPlan; ctrl: ControlBlock } {
  const { plan, countPieces } = reportPlans(bitmap, Array.from({ length: sources }, () => chunkBits));
  return { plan, ctrl: ControlBlock.create(slots, plan.chunks, countPieces, { before: summaryClean(bitmap), after: false }) };
}

const rebuild = (d: DirtySourceShared): DirtySource => registry.get((d as SharedUnitSource).id)!;

function task(bitmap: IovaBitmap, sources: UnitSource[], ctrl: ControlBlock, slot: number, chunkBits: number, extra: Partial<ReportTask> = {}): ReportTask {
  const bits = sources.map(() => chunkBits);
  return { kind: 'report', control: ctrl.buffer, slot, bitmap: bitmap.share(), sources: sources.map((s) => s.share()), noClear: false, chunkBits: bits, ...extra };
}

describe('runReportTask (in-process)', () => {
  const workload = fc.record({
    iovaPages: fc.integer({ min: 0, max: 1 << 12 }),
    nbits: fc.integer({ min: 1, max: 3000 }),
    pageShift: fc.integer({ min: 12, max: 14 }),
    byteOffset: fc.integer({ min: 0, max: 5000 }),
    chunkWords: fc.integer({ min: 1, max: 20 }),
    // (big?, 4 KiB page offset from 16 pages below the bitmap to 16 pages past its end, modulo the span)
    units: fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 40 }),
    // Rebuild the summary of the (zeroed) caller's buffer first: it is clean, and the pool skips
    // the count before the walk; otherwise every block starts marked and the workers count.
    clean: fc.boolean(),
    // Bits set before the report (4 KiB page offsets into the bitmap, modulo its bits).
    before: fc.array(fc.nat(), { maxLength: 4 }),
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
          if (w.clean) bitmap.rescan();
          for (const b of w.before) bitmap.setBits(b % w.nbits, 1);
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
        expect(r.perSource.map((x) => x.dirtyLeaves)).toEqual([refStats.sources['small']!.dirtyLeaves, refStats.sources['big']!.dirtyLeaves]);
        expect(r.perSource[0]!.chunks + r.perSource[1]!.chunks).toBe(plan.chunks);
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
    expect(runReportTask(task(bitmap, [s], ctrl, 0, 32), rebuild)).toMatchObject({ kind: 'done', perSource: [{ entriesVisited: 0, dirtyLeaves: 0, bitsMarked: 0, chunks: 0, busyMs: 0 }] });
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

  it('streams only chunks that recorded something, counts each post first, and never transfers (a detach would slow every typed array access of the worker)', () => {
    const bitmap = new IovaBitmap({ iova: 0n, length: 1n << 24n, pageSize: 4096 }); // 4096 bits
    const s = new UnitSource('small', 12n);
    for (const p of [3n, 5n, 4000n]) s.dirty.add(p);
    for (let p = 1024n; p < 2048n + 100n; p++) s.dirty.add(p); // a long run across chunks 2-4: still copied, never transferred
    const { plan, ctrl } = controlFor(bitmap, 1, 1, 512);
    const { port1, port2 } = new MessageChannel();
    const posts: { runs: Float64Array; transfer: unknown }[] = [];
    const post = port2.postMessage.bind(port2);
    port2.postMessage = (m: { runs: Float64Array }, transfer?: unknown) => {
      posts.push({ runs: m.runs, transfer });
      post(m);
    };
    try {
      const r = runReportTask(task(bitmap, [s], ctrl, 0, 512, { stream: port2 }), rebuild);
      expect(r.kind).toBe('done');
    } finally {
      port1.close();
    }
    // Chunks of 512 bits: 0 (pages 3, 5), 2, 3 and 4 (the run), 7 (page 4000); the other 3 recorded nothing.
    expect(plan.chunks).toBe(8);
    expect(posts.length).toBe(5);
    expect(ctrl.posted()).toBe(5);
    expect(posts.every((p) => p.transfer === undefined && p.runs.length > 0 && p.runs.buffer.byteLength > 0)).toBe(true);
  });
});
