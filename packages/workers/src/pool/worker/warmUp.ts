/**
 * Warm-up of a report worker: JIT the walk kernels before the first real report, and a barrier
 * task that proves every worker of a fresh pool is loaded.
 *
 * Runs in a pool worker, and on the caller's thread of a pool that reports small reports there
 * (../inlineReport.ts `warmUpInline`); in tests, on their own thread.
 *
 * Theory of operation
 * -------------------
 * The first walk in a fresh worker is markedly slower than later ones, and a kernel first entered
 * with one huge call runs in OSR code (docs/bench/limits.md §7). So each worker, when it loads
 * the report handler (./messageHandler.ts: before its first task, and again in a replacement
 * worker after a fault), reports a small synthetic workload through the very code paths of a real
 * report: an IoPageTable of each format with 4 KiB, 2 MiB and 1 GiB leaves and a VfTracker, at
 * several densities (clean, sparse, dense, full, so that every branch has type feedback), chunk
 * by chunk through `reportChunk`, as ./reportTask.ts calls it. The tables sit above 2 GiB, so
 * their PTE words look like a real table's (bit 31 set), and the first round reports every block
 * shape into every sink mode while the walk is still interpreted (see {@link warmOnce}). Last, it
 * runs whole report tasks (./reportTask.ts, one slot, plain and streamed) over the same tables,
 * rebuilt from their descriptors as a real task rebuilds them: the phases, the counts, the
 * capture and the posts around the kernels (a fresh pool's second streamed report of 64 GiB
 * took 12.3 ms without them and 4.2 ms with one each way, later ones about 4 ms; one dense and
 * six sparse each way since, so that the once-per-report code is hot too). It costs ~0.3–0.5 s
 * per thread on 2 shared cores, once (mostly compiling the code). test/fast/pagetable.deopt.test.ts
 * checks that a realistic table does not deoptimise the walk after it. The caller's thread runs
 * the same workload, with whole reports of its own short path instead of report tasks: a pool's
 * first reports there were as cold as a fresh worker's (docs/bench/pool.md).
 *
 * The barrier: the pool posts one {@link WarmupTask} per thread; each waits (Atomics.wait) until
 * all have arrived. A worker runs one task at a time, so the tasks must land on distinct workers,
 * and the pool's `ready()` resolves only when every worker is up. A timeout keeps a missing worker
 * from blocking the others forever.
 */
import { MessageChannel, threadId } from 'node:worker_threads';
import { IoPageTable, IovaBitmap, PTE_FORMATS, VfTracker, type DirtySource } from '@iovabitmap/core';
import { GiB, KiB, MiB, PAGE_SIZE_BIG, dirtySourceFromShared, pageOf } from '@iovabitmap/core/internal';
import { reportPlans } from '../ChunkPlan.js';
import { ControlBlock } from '../ControlBlock.js';
import { runReportTask } from './reportTask.js';

/** The warm-up message: one per worker at pool start. */
export interface WarmupTask {
  readonly kind: 'warmup';
  /** One Int32: how many warm-up tasks have arrived. */
  readonly barrier: SharedArrayBuffer;
  /** Warm-up tasks posted (the pool's thread count). */
  readonly parties: number;
  /** Longest wait at the barrier, milliseconds. */
  readonly timeoutMs: number;
}

/** What a warm-up task returns. */
export interface WarmupResult {
  readonly kind: 'warm';
  readonly threadId: number;
  /** True when every party arrived before the timeout. */
  readonly complete: boolean;
  /** Time this worker's module-load warm-up took, ms (NaN when it failed). */
  readonly warmMs: number;
}

/** Reports `sources` over `bitmap` in chunks of `chunkBits`, as a worker does (clip = bitmap). */
function reportInChunks(bitmap: IovaBitmap, sources: readonly DirtySource[], chunkBits: number, noClear: boolean): void {
  const shift = BigInt(bitmap.pageShift);
  const clipLo = bitmap.iova;
  const clipHi = bitmap.end;
  for (const s of sources) {
    for (let b = 0; b < bitmap.nbits; b += chunkBits) {
      const chunkLo = clipLo + (BigInt(b) << shift);
      const n = Math.min(chunkBits, bitmap.nbits - b);
      s.reportChunk(bitmap, { chunkLo, chunkHi: chunkLo + (BigInt(n) << shift), clipLo, clipHi }, { noClear });
    }
  }
}

/**
 * The warm-up's last step: one whole report of `sources` into `bitmap` in chunks of `chunkBits`,
 * plain or streamed, through the code a real report of this thread runs: a worker's report task
 * ({@link reportAsTask}), or the caller's-thread short path (../inlineReport.ts).
 */
export type WholeReport = (bitmap: IovaBitmap, sources: readonly DirtySource[], chunkBits: number, stream: boolean) => void;

/**
 * A worker's {@link WholeReport}: one whole report task of one slot (./reportTask.ts), the
 * sources rebuilt from their descriptors as a real task rebuilds them, the count phases, and with
 * `stream` the capture, the counting ahead and the posts (to a port nobody reads, closed after).
 */
function reportAsTask(bitmap: IovaBitmap, sources: readonly DirtySource[], chunkBits: number, stream: boolean): void {
  const bits = sources.map(() => chunkBits);
  const { plan, countPieces } = reportPlans(bitmap, bits);
  const ctrl = ControlBlock.create(1, plan.chunks, countPieces);
  const channel = stream ? new MessageChannel() : undefined;
  try {
    const task = { kind: 'report', control: ctrl.buffer, slot: 0, bitmap: bitmap.share(), sources: sources.map((x) => x.share()), noClear: false, chunkBits: bits } as const;
    runReportTask(channel === undefined ? task : { ...task, stream: channel.port2 }, dirtySourceFromShared);
  } finally {
    channel?.port1.close();
  }
}

/** A source a simulated device writes to (IoPageTable, VfTracker). */
interface DmaWriter {
  dmaWritePages(page: number, count: number): number;
}

/**
 * Dirties the first two leaf tables' worth of 4 KiB leaves block by block in every shape (wholly,
 * partly, barely dirty, clean), and one page of each kind of huge and replicated leaf. Reported
 * first, while the walk is still interpreted, this gives every branch type feedback before the
 * first optimised code: a branch first taken in optimised code deoptimises it.
 */
function dirtyShapes(writers: readonly DmaWriter[], page0: number): void {
  for (let p = 0; p < 1024; p++) {
    const j = p & 31;
    const shape = (p >>> 5) % 6; // full, full, every other, clean, first only, all but one
    if (shape <= 1 || (shape === 2 && (j & 1) === 1) || (shape === 4 && j === 0) || (shape === 5 && j !== 7)) {
      for (const s of writers) s.dmaWritePages(page0 + p, 1);
    }
  }
  // 64 KiB and 4 MiB replicated pages (amd-v1), 2 MiB and 1 GiB leaves.
  for (const mib of [60, 62, 64, 66, 128, 1029]) for (const s of writers) s.dmaWritePages(page0 + mib * 256 + 3, 1);
}

/**
 * One synthetic workload over IOVA [2 GiB, 4 GiB): per table format 64 MiB of 4 KiB leaves,
 * 960 MiB of 2 MiB leaves and one 1 GiB leaf (amd-v1: 4 MiB of the 4 KiB leaves as 64 KiB pages,
 * 64 MiB of the 2 MiB ones as 4 MiB pages, both replicated), plus a tracker at 4 KiB; reported
 * chunk by chunk at densities from clean to full, with and without clearing. Above 2 GiB every leaf's low word has
 * bit 31 set, as a physical address at or above 2 GiB has in a real table: the kernels must see
 * such words (not small integers) while they warm up, or optimised code that assumed small
 * integers deoptimises on the first real table. The first round reports every block shape
 * ({@link dirtyShapes}); the others random pages, then every page.
 */
function warmOnce(whole: WholeReport): void {
  const base = 2n * GiB;
  const span = 2n * GiB;
  const tables = PTE_FORMATS.map((format) => {
    const t = new IoPageTable({ format, name: `warm-${format}` });
    // amd-v1 replicated pages too: 64 KiB in a level-1 table, 4 MiB in a level-2 one.
    const replicated = format === 'amd-v1' ? 64n * MiB : 0n;
    t.map(base, 60n * MiB, { leaf: PAGE_SIZE_BIG });
    t.map(base + 60n * MiB, 4n * MiB, { leaf: replicated === 0n ? PAGE_SIZE_BIG : 64n * KiB });
    if (replicated !== 0n) t.map(base + 64n * MiB, replicated, { leaf: 4n * MiB });
    t.map(base + 64n * MiB + replicated, 960n * MiB - replicated, { leaf: 2n * MiB });
    t.map(base + GiB, GiB, { leaf: GiB });
    t.setDirtyTracking(true);
    return t;
  });
  const tracker = new VfTracker({ name: 'warm-vf' });
  tracker.start({ ranges: [{ iova: base, length: span }], pageSize: PAGE_SIZE_BIG });
  const bitmap = new IovaBitmap({ iova: base, length: span, pageSize: PAGE_SIZE_BIG });
  // The sink's other shapes, over the 4 KiB leaves and the first huge ones, in ranges that cut
  // blocks and pages at both ends: a bitmap at an odd byte offset (masks straddle two words) and
  // one of 8 KiB pages (runs).
  const part = 65n * MiB;
  const odd = new IovaBitmap({ iova: base + 20n * KiB, length: part, pageSize: PAGE_SIZE_BIG, buffer: new SharedArrayBuffer(IovaBitmap.bytesFor(part, PAGE_SIZE_BIG) + 1), byteOffset: 1 });
  const coarse = new IovaBitmap({ iova: base + 8n * KiB, length: part, pageSize: 8192n });
  const sources: DirtySource[] = [...tables, tracker];
  const page0 = pageOf(base);
  const pages = pageOf(span);
  const writers: DmaWriter[] = [...tables, tracker];
  let x = 0x2545f491;
  for (const density of ['shapes', 0, 0.01, 0.5, 1] as const) {
    if (density === 'shapes') {
      dirtyShapes(writers, page0);
    } else if (density === 1) {
      for (const s of writers) s.dmaWritePages(page0, pages);
    } else {
      // Random pages, mostly in the 4 KiB-leaf region where density matters to the scan.
      const writes = Math.floor(8192 * density);
      for (let i = 0; i < writes; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        const page = page0 + (i % 8 === 0 ? x % pages : x % 16384);
        for (const s of writers) s.dmaWritePages(page, 1);
      }
    }
    for (const b of [odd, coarse]) reportInChunks(b, sources, 1 << 12, true);
    reportInChunks(bitmap, sources, 1 << 12, true);
    reportInChunks(bitmap, sources, 1 << 12, false);
    for (const b of [bitmap, odd, coarse]) b.clear();
  }
  // Whole reports, plain and streamed, at a dense and then a sparse density, several times: the
  // code around the kernels (phases, counts, capture, posts) and the kernels as a report reaches
  // them. The code that runs once per report or per chunk (the summary's run visitor, the
  // recorders' open and close, the chunk loop's walkChunk and reportChunkOf) only turns hot after
  // many calls: with one sparse report each way it was still being compiled during a migration's
  // second to fourth rounds, so the sparse reports come six times and in small chunks (8 MiB at
  // 4 KiB pages: ~1,000 chunks a report) (docs/bench/pool.md).
  for (const writes of [4096, ...Array<number>(WHOLE_SPARSE_REPORTS).fill(SPARSE_WRITES)]) {
    for (const stream of [false, true]) {
      for (let i = 0; i < writes; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        for (const s of writers) s.dmaWritePages(page0 + (x % pages), 1);
      }
      whole(bitmap, sources, writes === SPARSE_WRITES ? 1 << 11 : 1 << 14, stream);
      bitmap.clear();
    }
  }
  tracker.stop();
}

/** Sparse whole reports each way (plain, streamed) at the end of the warm-up; see warmOnce. */
const WHOLE_SPARSE_REPORTS = 6;
/** Pages each sparse whole report finds written (per source). */
const SPARSE_WRITES = 64;

let warmMs = Number.NaN;

/**
 * Runs the JIT warm-up once per thread (later calls do nothing: each thread has its own copy of
 * this module). Failures are swallowed: warming is an optimisation, and a broken source will
 * report its error in a real report.
 * @param whole - the whole reports that end it: a worker's report tasks (the default), or the
 *   caller's-thread path's (../inlineReport.ts `warmUpInline`)
 * @returns the time the warm-up took, ms (NaN when it failed)
 */
export function warmUpKernels(whole: WholeReport = reportAsTask): number {
  if (!Number.isNaN(warmMs)) return warmMs;
  const t0 = performance.now();
  try {
    warmOnce(whole);
    warmMs = performance.now() - t0;
  } catch {
    warmMs = Number.NaN;
  }
  return warmMs;
}

/** The time this thread's warm-up took, ms; NaN when it has not run (or failed). */
export function warmedUpMs(): number {
  return warmMs;
}

/** Runs one warm-up task: arrive at the barrier and wait for the other workers. */
export function runWarmupTask(task: WarmupTask): WarmupResult {
  const b = new Int32Array(task.barrier);
  let seen = Atomics.add(b, 0, 1) + 1;
  Atomics.notify(b, 0);
  const deadline = performance.now() + task.timeoutMs;
  while (seen < task.parties) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    Atomics.wait(b, 0, seen, left);
    seen = Atomics.load(b, 0);
  }
  return { kind: 'warm', threadId, complete: seen >= task.parties, warmMs };
}
