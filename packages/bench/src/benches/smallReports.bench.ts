/**
 * Benchmark of small reports: the call time of `ReportPool.report` on the workers
 * (`inlineBelow: 0`) against the same call done on the caller's thread (`inlineBelow` above the
 * report's work), warm and after the pool has idled 100 ms and 1 s. It sets the default of
 * `ReportPoolOptions.inlineBelow` (docs/bench/pool.md: its medians, and the spread from its
 * `#json` samples).
 *
 * Theory of operation
 * -------------------
 * Workloads: a vtd-ss table of 4 KiB leaves over 2 MiB .. 64 GiB (512 .. 2^24 PTEs), one page in
 * 100 dirty (one page in the 2 MiB case), a bitmap of 4 KiB pages over the whole table. Every
 * timed report is noClear, so the state is the same for every sample. Two 2-thread pools, started
 * and warmed up before any timing: one with `inlineBelow: 0` (every report on the workers), one
 * with `inlineBelow: 2^53 - 1` (every profiled report inline); the inline path does not touch its
 * workers.
 *
 * Interleaving: for each size, rounds alternate the two paths (order flipped each round); in a
 * round a path gets `WARM` back-to-back calls (after two untimed ones: the warm figure), then one
 * call after sleeping 100 ms and one after sleeping 1 s (the idle figures). Timed value: the
 * wall time of the awaited call (performance.now() around it). Each process prints a table of
 * medians and one JSON line (`#json {...}`) of every sample, to pool several processes' samples
 * (median over all samples; spread = the range of the per-process medians).
 *
 * Run (from the build, one process at a time):
 *   node --no-lazy-feedback-allocation packages/bench/dist/benches/smallReports.bench.js [--rounds N] [--sizes 2M,64M,...]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { IoPageTable, IovaBitmap, reportDirty } from '@iovabitmap/core';
import { ReportPool } from '@iovabitmap/workers';
import { MiB, PAGE_SIZE_BIG, pageOf } from '@iovabitmap/core/internal';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = Number(opt('--rounds') ?? 3);
const WARM = 15;
const SIZES_MIB = (opt('--sizes') ?? '2,16,64,256,1024,4096,16384,65536').split(',').map(Number);
const PATHS = ['pool', 'inline'] as const;
const STATES = ['warm', 'idle100ms', 'idle1s'] as const;
type Path = (typeof PATHS)[number];
type State = (typeof STATES)[number];

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const pools: Record<Path, ReportPool> = {
  pool: new ReportPool({ threads: 2, inlineBelow: 0 }),
  inline: new ReportPool({ threads: 2, inlineBelow: Number.MAX_SAFE_INTEGER }),
};
await Promise.all(Object.values(pools).map((p) => p.ready()));

const samples: Record<string, Record<Path, Record<State, number[]>>> = {};
const rows: Record<string, string | number>[] = [];
for (const mib of SIZES_MIB) {
  const span = BigInt(mib) * MiB;
  const table = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  table.map(0n, span, { leaf: PAGE_SIZE_BIG });
  table.setDirtyTracking(true);
  const pages = pageOf(span);
  for (let p = 50; p < pages; p += pages <= 512 ? pages : 100) table.dmaWritePages(p, 1);
  const bitmap = new IovaBitmap({ iova: 0n, length: span, pageSize: PAGE_SIZE_BIG });
  const sources = [table];
  const want = reportDirty({ bitmap, sources, noClear: true }).bitsSet;
  const call = async (path: Path): Promise<number> => {
    const t = performance.now();
    const s = await pools[path].report({ bitmap, sources, noClear: true });
    const ms = performance.now() - t;
    if ((path === 'inline') !== (s.tasks === 0)) throw new Error(`${path}: ran with ${s.tasks} tasks`);
    return ms;
  };
  const key = `${mib} MiB`;
  const fresh = (): Record<State, number[]> => ({ warm: [], idle100ms: [], idle1s: [] });
  const mine = (samples[key] = { pool: fresh(), inline: fresh() });
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of r % 2 === 0 ? PATHS : [...PATHS].reverse()) {
      await call(path);
      await call(path);
      for (let i = 0; i < WARM; i++) mine[path].warm.push(await call(path));
      await sleep(100);
      mine[path].idle100ms.push(await call(path));
      await sleep(1000);
      mine[path].idle1s.push(await call(path));
    }
  }
  const entries = table.workProfile(0n, span)!.entries;
  for (const path of PATHS) {
    rows.push({
      size: key,
      'entries of work': entries + Math.ceil(bitmap.nbits / 32),
      dirty: want,
      path,
      'warm µs': Math.round(median(mine[path].warm) * 1000),
      'idle 100 ms µs': Math.round(median(mine[path].idle100ms) * 1000),
      'idle 1 s µs': Math.round(median(mine[path].idle1s) * 1000),
    });
  }
}
await Promise.all(Object.values(pools).map((p) => p.close()));
console.table(rows);
console.log(`#json ${JSON.stringify(samples)}`);
