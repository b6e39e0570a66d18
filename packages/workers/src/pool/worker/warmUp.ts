/**
 * Warm-up of a report worker: JIT the walk kernels before the first real report, and a barrier
 * task that proves every worker of a fresh pool is loaded.
 *
 * Theory of operation
 * -------------------
 * The first walk in a fresh worker is markedly slower than later ones, and a kernel first entered
 * with one huge call runs in OSR code (docs/bench/limits.md §7). So each worker, when it loads
 * the report handler (./reportHandler.ts: before its first task, and again in a replacement
 * worker after a fault), reports a small synthetic workload through the very code paths of a real
 * report: an IoPageTable of each format with 4 KiB, 2 MiB and 1 GiB leaves and a VfTracker, at
 * several densities (clean, sparse, dense, full, so that every branch has type feedback), chunk
 * by chunk through `reportChunk`, as ./workerTask.ts calls it. It costs ~0.1–0.2 s per worker,
 * once (mostly compiling the code).
 *
 * The barrier: the pool posts one {@link WarmupTask} per thread; each waits (Atomics.wait) until
 * all have arrived. A worker runs one task at a time, so the tasks must land on distinct workers,
 * and the pool's `ready()` resolves only when every worker is up. A timeout keeps a missing worker
 * from blocking the others forever.
 */
import { threadId } from 'node:worker_threads';
import { IoPageTable, IovaBitmap, PTE_FORMATS, VfTracker, type DirtySource } from '@iovabitmap/core';

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

const MiB = 1n << 20n;
const GiB = 1n << 30n;

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
 * One synthetic workload over 2 GiB of IOVA: per table format 64 MiB of 4 KiB leaves, 960 MiB
 * of 2 MiB leaves and one 1 GiB leaf, plus a tracker at 4 KiB; reported chunk by chunk at
 * densities from clean to full, with and without clearing.
 */
function warmOnce(): void {
  const span = 2n * GiB;
  const tables = PTE_FORMATS.map((format) => {
    const t = new IoPageTable({ format, name: `warm-${format}` });
    t.map(0n, 64n * MiB, { leaf: 4096n });
    t.map(64n * MiB, 960n * MiB, { leaf: 2n * MiB });
    t.map(GiB, GiB, { leaf: GiB });
    t.setDirtyTracking(true);
    return t;
  });
  const tracker = new VfTracker({ name: 'warm-vf' });
  tracker.start({ ranges: [{ iova: 0n, length: span }], pageSize: 4096n });
  const bitmap = new IovaBitmap({ iova: 0n, length: span, pageSize: 4096n });
  const sources: DirtySource[] = [...tables, tracker];
  const pages = Number(span >> 12n);
  let x = 0x2545f491;
  for (const density of [0, 0.01, 0.5, 1]) {
    if (density === 1) {
      for (const s of tables) s.dmaWritePages(0, pages);
      tracker.dmaWritePages(0, pages);
    } else {
      // Random pages, mostly in the 4 KiB-leaf region where density matters to the scan.
      const writes = Math.floor(8192 * density);
      for (let i = 0; i < writes; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        const page = i % 8 === 0 ? x % pages : x % 16384;
        for (const s of tables) s.dmaWritePages(page, 1);
        tracker.dmaWritePages(page, 1);
      }
    }
    reportInChunks(bitmap, sources, 1 << 12, true);
    reportInChunks(bitmap, sources, 1 << 12, false);
    bitmap.clear();
  }
  tracker.stop();
}

let warmMs = Number.NaN;

/**
 * Runs the JIT warm-up once per worker (later calls do nothing). Failures are swallowed: warming
 * is an optimisation, and a broken source will report its error in a real report.
 * @returns the time the warm-up took, ms (NaN when it failed)
 */
export function warmUpKernels(): number {
  if (!Number.isNaN(warmMs)) return warmMs;
  const t0 = performance.now();
  try {
    warmOnce();
    warmMs = performance.now() - t0;
  } catch {
    warmMs = Number.NaN;
  }
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
