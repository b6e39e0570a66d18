/**
 * Benchmark of the parallel report engine (ReportPool) against the sequential reporter: its
 * overhead on one worker, its scaling to two, both sources over 1 TiB, and its abort latency.
 *
 * Theory of operation
 * -------------------
 * Four measurements, each a ratio of tinybench medians taken in the same run (the host is shared,
 * so absolute times drift between runs; ratios within one run drift much less). Each comparison
 * runs five rounds of tinybench with all its tasks; a ratio is the median of the rounds' ratios,
 * so a burst of load from elsewhere (which takes a core from the 2-thread pool) skews a round or
 * two, not the figure. The load average is printed at the start and the end:
 *
 * 1. Pool overhead: a 64 GiB vtd-ss table of 4 KiB leaves (2^24 PTEs) at 1% density, reported by
 *    a 1-thread pool vs `reportDirty` on the main thread. Target ≤ 5%.
 * 2. Scaling: the same table at 1%, 50% and 100% density, 2-thread vs 1-thread pool. Targets
 *    ≥ 1.8x at ≤ 1%, ≥ 1.4x at 50–100% (docs/bench/limits.md §8).
 * 3. Both sources over 1 TiB: a vtd-ss table of 2 MiB leaves with four 4 GiB regions of 4 KiB
 *    leaves, plus a VfTracker (4 KiB pages) over the same range; 1% of the leaves written.
 *    2-thread pool vs `reportDirty`. Target ≥ 1.6x.
 * 4. Abort latency: time from `abort()` to the rejection, aborting a 1-thread walk of (1)
 *    20 ms in. Target ≤ 50 ms.
 *
 * Dirty state: every timed report is a **noClear** report, so the sources keep their dirty bits
 * and no restore is needed between iterations; the bitmap is not cleared either (a noClear walk
 * reads every PTE and ORs the same words again; a clearing walk would also do one atomic AND per
 * dirty PTE). Each report's result is checked once against the expected bit count.
 *
 * Timed value: the wall time of the awaited call (tinybench's latency), so pool overheads
 * (validation, bit counting, posting, waking workers, collecting results) are all in it; the
 * reporters' own `elapsedMs` (the walk alone) is printed alongside. Workers are started and warmed up once per
 * pool, outside the timing (`await pool.ready()`); tinybench then runs its own warm-up.
 *
 * Run: node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source \
 *        packages/bench/src/benches/pool.bench.ts [--quick] [--time <ms per task>]
 * `--quick` uses 16 GiB and 256 GiB instead of 64 GiB and 1 TiB.
 */
import { availableParallelism, loadavg } from 'node:os';
import { IoPageTable, IovaBitmap, IovaBitmapError, VfTracker, reportDirty, type DirtySource } from '@iovabitmap/core';
import { ReportPool, type PoolReportStats } from '@iovabitmap/workers';
import { GiB, MiB, PAGE_SIZE_BIG, TiB, pageOf } from '@iovabitmap/core/internal';
import { createRng } from '@iovabitmap/workers/internal';
import { measureRounds, median, roundRatio, type RoundRow } from './interleaved.js';


const args = process.argv.slice(2);
const quick = args.includes('--quick');
const timeArg = args.indexOf('--time');
const timeMs = timeArg >= 0 ? Number(args[timeArg + 1]) : quick ? 900 : 3000;
const ROUNDS = 5;

/** A table of 4 KiB leaves over [0, span), tracking on, nothing dirty yet. */
function flatTable(span: bigint): IoPageTable {
  const t = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  t.map(0n, span, { leaf: PAGE_SIZE_BIG });
  t.setDirtyTracking(true);
  return t;
}

/** Writes pages of [0, pages) so that `density` of them are dirty (Bernoulli per page; 1 = all). */
function dirtyPages(t: IoPageTable, pages: number, density: number, seed: number): void {
  if (density >= 1) {
    t.dmaWritePages(0, pages);
    return;
  }
  const r = createRng(seed);
  for (let p = 0; p < pages; p++) if (r.float() < density) t.dmaWritePages(p, 1);
}

/** See ./interleaved.ts: `ROUNDS` rounds of all the tasks, timeMs / ROUNDS per task and round. */
function measure(title: string, tasks: Record<string, () => unknown>): Promise<Map<string, RoundRow>> {
  return measureRounds(title, tasks, { rounds: ROUNDS, timeMs: timeMs / ROUNDS });
}

/** Median over rounds of a.round / b.round: how many times faster b is than a. */
function ratio(a: RoundRow, b: RoundRow): string {
  return roundRatio(a, b).toFixed(2);
}

/** How a report's chunks and busy time split over its workers, e.g. "64 chunks / 4.1 ms + 64 / 4.0". */
function split(s: PoolReportStats): string {
  return `${s.workers.map((w) => `${w.chunks} chunks / ${w.busyMs.toFixed(1)} ms busy`).join(' + ')}; walk ${s.elapsedMs.toFixed(1)} ms, call ${s.wallMs.toFixed(1)} ms`;
}

function check(what: string, got: number, want: number): void {
  if (got !== want) throw new IovaBitmapError('EIO', `pool.bench: ${what}: ${got} bits, expected ${want}`);
}

const figures: string[] = [];
console.log(`# load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${availableParallelism()} cores)`);
const pool1 = new ReportPool({ threads: 1 });
const pool2 = new ReportPool({ threads: 2 });
await Promise.all([pool1.ready(), pool2.ready()]);

// ---- 1 and 2: one 64 GiB table of 4 KiB leaves, density raised step by step ----------------
{
  const span = quick ? 16n * GiB : 64n * GiB;
  const pages = pageOf(span);
  const t0 = performance.now();
  const table = flatTable(span);
  const bitmap = new IovaBitmap({ iova: 0n, length: span, pageSize: PAGE_SIZE_BIG });
  console.log(`# ${span / GiB} GiB of 4 KiB leaves: ${pages} PTEs, built in ${(performance.now() - t0).toFixed(0)} ms`);
  const sources: DirtySource[] = [table];
  const seq = () => reportDirty({ bitmap, sources, noClear: true });
  const on = (pool: ReportPool) => () => pool.report({ bitmap, sources, noClear: true });
  let marked = 0;
  for (const density of [0.01, 0.5, 1]) {
    // Raise the density: write the extra pages (Bernoulli on top of what is dirty already).
    const extra = density >= 1 ? 1 : (density - marked) / (1 - marked);
    dirtyPages(table, pages, extra, 17 + density * 100);
    marked = density;
    bitmap.clear();
    const want = reportDirty({ bitmap, sources, noClear: true }).bitsSet;
    bitmap.clear();
    check(`pool2 at ${density}`, (await pool2.report({ bitmap, sources, noClear: true })).bitsSet, want);
    const pct = `${density * 100}%`;
    const rows =
      density === 0.01
        ? await measure(`${span / GiB} GiB 4 KiB leaves, ${pct} dirty (${want} pages)`, { sequential: seq, 'pool 1 thread': on(pool1), 'pool 2 threads': on(pool2) })
        : await measure(`${span / GiB} GiB 4 KiB leaves, ${pct} dirty (${want} pages)`, { 'pool 1 thread': on(pool1), 'pool 2 threads': on(pool2) });
    const p1 = rows.get('pool 1 thread')!;
    const p2 = rows.get('pool 2 threads')!;
    console.log(`one 2-thread report: ${split(await pool2.report({ bitmap, sources, noClear: true }))}`);
    if (density === 0.01) {
      const s = rows.get('sequential')!;
      const over = median(p1.rounds.map((x, i) => (x / s.rounds[i]! - 1) * 100));
      figures.push(`pool overhead (1 thread vs reportDirty, ${span / GiB} GiB 4 KiB, 1%): ${over.toFixed(1)}%  (target <= 5%)`);
    }
    figures.push(`2 threads vs 1 (${span / GiB} GiB 4 KiB, ${pct}): ${ratio(p1, p2)}x  (target >= ${density <= 0.01 ? '1.8' : '1.4'}x)`);
  }

  // ---- 4: abort latency on the same walk (1 thread, default chunks) ------------------------
  const lat: number[] = [];
  for (let i = 0; i < 7; i++) {
    const ac = new AbortController();
    const p = pool1.report({ bitmap, sources, noClear: true, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    const t = performance.now();
    ac.abort();
    try {
      await p;
    } catch (e) {
      if (!IovaBitmapError.hasCode(e, 'ECANCELED')) throw e;
    }
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  figures.push(`abort latency (1 thread, ${span / GiB} GiB walk, abort 20 ms in): median ${lat[3]!.toFixed(2)} ms, max ${lat[6]!.toFixed(2)} ms  (target <= 50 ms)`);
}

// ---- 3: 1 TiB, both sources -----------------------------------------------------------------
{
  const span = quick ? 256n * GiB : TiB;
  const t0 = performance.now();
  const table = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  const small: bigint[] = [];
  const regions = 4n;
  const stride = span / regions;
  for (let r = 0n; r < regions; r++) {
    const at = r * stride + stride / 2n;
    small.push(at);
    if (at > r * stride) table.map(r * stride, at - r * stride, { leaf: 2n * MiB });
    table.map(at, 4n * GiB, { leaf: PAGE_SIZE_BIG });
    table.map(at + 4n * GiB, (r + 1n) * stride - at - 4n * GiB, { leaf: 2n * MiB });
  }
  table.setDirtyTracking(true);
  const tracker = new VfTracker({ name: 'vf' });
  tracker.start({ ranges: [{ iova: 0n, length: span }], pageSize: PAGE_SIZE_BIG });
  const r = createRng(99);
  // 1% of the 2 MiB leaves (one page each) and 1% of the 4 KiB pages, on both sources.
  const leaves = Number(span >> 21n);
  for (let l = 0; l < leaves; l++) {
    if (r.float() < 0.01) {
      const page = l * 512 + Math.floor(r.float() * 512);
      table.dmaWritePages(page, 1);
      tracker.dmaWritePages(page, 1);
    }
  }
  for (const at of small) {
    const first = pageOf(at);
    for (let p = 0; p < 2 ** 20; p++) {
      if (r.float() < 0.01) {
        table.dmaWritePages(first + p, 1);
        tracker.dmaWritePages(first + p, 1);
      }
    }
  }
  const bitmap = new IovaBitmap({ iova: 0n, length: span, pageSize: PAGE_SIZE_BIG });
  console.log(`\n# ${span / GiB} GiB, both sources: built in ${(performance.now() - t0).toFixed(0)} ms`);
  const sources: DirtySource[] = [table, tracker];
  const want = reportDirty({ bitmap, sources, noClear: true }).bitsSet;
  bitmap.clear();
  check('pool2, both sources', (await pool2.report({ bitmap, sources, noClear: true })).bitsSet, want);
  const rows = await measure(`${span / GiB} GiB, 2 MiB + 4 KiB leaves + VfTracker, 1% (${want} pages)`, {
    sequential: () => reportDirty({ bitmap, sources, noClear: true }),
    'pool 2 threads': () => pool2.report({ bitmap, sources, noClear: true }),
  });
  console.log(`one 2-thread report: ${split(await pool2.report({ bitmap, sources, noClear: true }))}`);
  figures.push(`2 threads vs sequential (${span / GiB} GiB, both sources): ${ratio(rows.get('sequential')!, rows.get('pool 2 threads')!)}x  (target >= 1.6x)`);
  tracker.stop();
}

await Promise.all([pool1.close(), pool2.close()]);
console.log(`\n# load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('\n## Figures (ratios of medians within this run; provisional on a shared host)');
for (const f of figures) console.log(`- ${f}`);
