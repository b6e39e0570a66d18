/**
 * Benchmark of pre-copy (workers' migrate(), through the built `iovabitmap migrate`) against the
 * targets of docs/migrate.md: the downtime prediction, streaming, what a second worker buys in the
 * downtime, and the main job's own costs.
 *
 * Theory of operation
 * -------------------
 * The host is shared and has few cores, so every figure is a median over several processes, with
 * the work interleaved: each pass runs every cell once, in an order rotated from pass to pass, and
 * every migration is its own process (`node bin/iovabitmap.js migrate ... --json`), so a burst of
 * load from elsewhere skews one sample of several cells, not one cell.
 *
 * Parts (each on by default; `--only sweep|main|threads|stream` runs one):
 * 1. sweep: 4 device patterns × 3 rates × 2 sizes (64 GiB and 1 TiB, mixed leaves, both sources,
 *    10 Gbit/s, 300 ms, round 0 sending the whole range as a real pre-copy's first pass does:
 *    `--bulk-stage`; the rates per pattern dirty about 10, 40 and 80 % of the link, see
 *    {@link sweepRates}; `--no-bulk`: the sweep before the bulk stage). Per cell, the median over
 *    passes of the prediction error (expected − actual) / actual, where expected is the downtime
 *    predicted after the last pre-copy round and actual the final round's (its harvest measured,
 *    its transfer modelled), and its two parts: (expected − actual harvest) / actual and the
 *    same for the transfer. Target: p90 over the cells of |error| ≤ 20 %. From the same runs: the
 *    streamed pre-copy rounds' modelled time over max(harvest, transfer) (target ≤ 1.05) and, on
 *    1 TiB, the time from a report's start to its first chunk handed over.
 * 2. main: the main job (`iovabitmap migrate`, defaults) `--passes` times: convergence, expected vs
 *    actual downtime, harvest share, the largest per-round work besides the report over that
 *    round's report (target ≤ 10 %) and the verification over the sum of the reports (≤ 1).
 * 3. threads: 1 TiB of 4 KiB leaves, `--compare-threads 1,2` (both in one process, the same
 *    seeded migration): the final round's harvest with 1 worker over 2 (target ≥ 1.8).
 * 4. stream: in this process, a 2-thread ReportPool over 1 TiB (mixed leaves and a VF tracker,
 *    1 % of the 4 KiB pages written, noClear reports): ms from the call to the first chunk with a
 *    dirty range (target ≤ 2 ms), and the report's wall time with and without `onChunk`,
 *    alternating (the cost of streaming, and of its option when unset: none is captured then).
 *
 * Run (after `npm run -s build`, under the heavy lock):
 *   node --no-lazy-feedback-allocation packages/bench/dist/benches/migrate.bench.js [--passes 3] [--only part] [--docs file] [--rounds N] [--no-bulk] [--chart file.svg]
 * `--chart`: the sweep's chart, error per cell (../output/charts.ts sweepChart); `--docs`: the
 * sweep's documents per cell, as JSON, for analysis; `--rounds N`: the sweep's migrations run
 * exactly N pre-copy rounds, so that the prediction is made after warm rounds.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { IoPageTable, IovaBitmap } from '@iovabitmap/core';
import { ReportPool } from '@iovabitmap/workers';
import { createRng } from '@iovabitmap/workers/internal';
import { layoutMappings } from '../cli/migrateCommand.js';
import { createTracker } from '../harness/impls.js';
import { renderSvg, sweepChart, type SweepCell } from '../output/charts.js';
import { machineInfo } from '../output/document.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bin/iovabitmap.js', import.meta.url));
const args = process.argv.slice(2);
const argOf = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const PASSES = Number(argOf('--passes') ?? 3);
const ONLY = argOf('--only');
/** `--docs file`: the sweep's migrate documents, per cell, as JSON (for analysis). */
const DOCS = argOf('--docs');
/** `--rounds N`: the sweep runs exactly N pre-copy rounds per migration (default: until it converges). */
const ROUNDS = argOf('--rounds');
/** `--chart file.svg`: the sweep's chart (error per cell; ../output/charts.ts sweepChart). */
const CHART = argOf('--chart');
/**
 * `--no-bulk`: the sweep as it was before the bulk stage: no `--bulk-stage`, and every pattern at
 * the uniform pattern's rates (its rounds then hold a few leaves; docs/migrate.md "Measured").
 */
const BULK = !args.includes('--no-bulk');
const on = (part: string): boolean => ONLY === undefined || ONLY === part;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** The q-quantile (nearest rank). */
const quantile = (xs: readonly number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)]!;
const f = (x: number, d = 1): string => x.toFixed(d);
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;

/** The parts of the migrate document this bench reads (schemas/migrate.schema.json). */
interface Doc {
  readonly rounds: readonly { final: boolean; harvestMs: number; transferMs: number; roundMs: number; firstChunkMs: number | null; bookkeepingMs: number }[];
  readonly totals: { harvestMs: number; maxBookkeepingMs: number; maxBookkeepingShare: number; verifyMs: number };
  readonly downtime: { expected: { totalMs: number; harvestMs: number; transferMs: number } | null; actual: { totalMs: number; harvestMs: number; transferMs: number }; harvestShare: number };
  readonly convergence: { converged: boolean; reason: string; precopyRounds: number };
  readonly verification: { ok: boolean };
  readonly compareThreads: readonly { threads: number; downtime: { totalMs: number; harvestMs: number }; harvestShare: number }[] | null;
}

/** One `iovabitmap migrate --json` in its own process; exit 0 and 3 are results, others fail. */
async function migrateRun(options: readonly string[]): Promise<Doc> {
  try {
    const { stdout } = await run(process.execPath, ['--no-lazy-feedback-allocation', CLI, 'migrate', ...options, '--json'], { maxBuffer: 1 << 28 });
    return JSON.parse(stdout) as Doc;
  } catch (e) {
    const x = e as { code?: number; stdout?: string };
    if (x.code === 3 && x.stdout) return JSON.parse(x.stdout) as Doc;
    throw e;
  }
}

/** Runs `cells` × PASSES, each pass in an order rotated by one cell; returns the docs per cell. */
async function interleaved<C>(cells: readonly C[], argsOf: (c: C) => string[], label: (c: C) => string): Promise<Doc[][]> {
  const docs: Doc[][] = cells.map(() => []);
  for (let p = 0; p < PASSES; p++) {
    for (let k = 0; k < cells.length; k++) {
      const i = (k + p) % cells.length;
      docs[i]!.push(await migrateRun(argsOf(cells[i]!)));
      process.stderr.write(`  pass ${p + 1}/${PASSES}: ${label(cells[i]!)}\n`);
    }
  }
  return docs;
}

/**
 * The sweep's three device rates (4 KiB writes per second, as bytes/s) for `pattern`: rates that
 * dirty about 10 %, 40 % and 80 % of the 10 Gbit/s link in memory, the quantity that decides
 * convergence. One write dirties its whole leaf in the IOMMU's report, so a scattered write
 * (`uniform`, `hotset`) into a 2 MiB leaf dirties 512 times its bytes and a streaming one
 * (`sequential`, `burst`: consecutive pages, whole leaves) about its own bytes: the same device
 * rate would be a 512-fold different dirty rate. Without the bulk stage, every pattern at the
 * scattered rates (the sweep before it).
 */
function sweepRates(pattern: string): string[] {
  const streaming = pattern === 'sequential' || pattern === 'burst';
  return BULK && streaming ? ['128M/s', '512M/s', '896M/s'] : ['256K/s', '1M/s', '2M/s'];
}

async function sweep(): Promise<void> {
  const machine = machineInfo();
  const patterns = ['uniform', 'sequential', 'hotset', 'burst'];
  const sizes = ['64GiB', '1TiB'];
  const cells = sizes.flatMap((size) => patterns.flatMap((pattern) => sweepRates(pattern).map((rate) => ({ size, pattern, rate }))));
  const extra = [...(ROUNDS === undefined ? [] : ['--rounds', ROUNDS]), ...(BULK ? ['--bulk-stage'] : [])];
  const docs = await interleaved(cells, (c) => ['--iova-size', c.size, '--pattern', c.pattern, '--rate', c.rate, ...extra], (c) => `${c.size} ${c.pattern} ${c.rate}`);
  if (DOCS !== undefined) await writeFile(DOCS, JSON.stringify(cells.map((c, i) => ({ ...c, docs: docs[i] }))));
  console.log(`\n## Prediction sweep (10 Gbit/s, downtime limit 300 ms, mixed leaves, iommu + vf, 2 threads${BULK ? ', bulk stage' : ''}${ROUNDS === undefined ? '' : `, ${ROUNDS} pre-copy rounds`})\n`);
  console.log(`median of ${PASSES} processes per cell; error = (expected − actual) / actual, split into its harvest part (expected − actual harvest) / actual and its transfer part (the same for the transfer); the medians of the parts need not add up to the error's\n`);
  console.log('| size | pattern | rate | pre-copy rounds | converged | expected (ms) | actual (ms) | expected harvest (ms) | actual harvest (ms) | expected transfer (ms) | actual transfer (ms) | harvest part | transfer part | error |');
  console.log('|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const errors: number[] = [];
  const chartCells: SweepCell[] = [];
  const overlap: number[] = [];
  const firstChunk: number[] = [];
  cells.forEach((c, i) => {
    const ds = docs[i]!.filter((d) => d.downtime.expected !== null);
    const part = (d: Doc, k: 'totalMs' | 'harvestMs' | 'transferMs'): number => (d.downtime.expected![k] - d.downtime.actual[k]) / d.downtime.actual.totalMs;
    const err = median(ds.map((d) => part(d, 'totalMs')));
    errors.push(Math.abs(err));
    chartCells.push({ ...c, error: err, errors: ds.map((d) => part(d, 'totalMs')) });
    for (const d of docs[i]!) {
      for (const r of d.rounds) {
        if (!r.final) overlap.push(r.roundMs / Math.max(r.harvestMs, r.transferMs));
        if (c.size === '1TiB' && r.firstChunkMs !== null) firstChunk.push(r.firstChunkMs);
      }
    }
    const med = (g: (d: Doc) => number, xs: readonly Doc[] = ds): string => f(median(xs.map(g)));
    console.log(
      `| ${c.size} | ${c.pattern} | ${c.rate} | ${median(docs[i]!.map((d) => d.convergence.precopyRounds))} | ${docs[i]!.filter((d) => d.convergence.converged).length}/${docs[i]!.length} | ` +
        `${med((d) => d.downtime.expected!.totalMs)} | ${med((d) => d.downtime.actual.totalMs, docs[i]!)} | ` +
        `${med((d) => d.downtime.expected!.harvestMs)} | ${med((d) => d.downtime.actual.harvestMs, docs[i]!)} | ` +
        `${med((d) => d.downtime.expected!.transferMs)} | ${med((d) => d.downtime.actual.transferMs, docs[i]!)} | ` +
        `${pct(median(ds.map((d) => part(d, 'harvestMs'))))} | ${pct(median(ds.map((d) => part(d, 'transferMs'))))} | ${pct(err)} |`,
    );
  });
  if (CHART !== undefined) {
    const rounds = ROUNDS === undefined ? 'until converged' : `${ROUNDS} pre-copy rounds`;
    await writeFile(CHART, await renderSvg(sweepChart(chartCells, machine, `10 Gbit/s link, mixed leaves, iommu + vf, 2 workers, ${rounds}, ${PASSES} processes per cell`, 20)));
  }
  console.log(`\np90 of |error| over ${cells.length} cells: ${pct(quantile(errors, 0.9))} (target ≤ 20 %); median ${pct(median(errors))}; max ${pct(Math.max(...errors))}`);
  console.log(`streamed pre-copy rounds: modelled round / max(harvest, transfer): median ${f(median(overlap), 3)}, p90 ${f(quantile(overlap, 0.9), 3)}, max ${f(Math.max(...overlap), 3)} over ${overlap.length} rounds (target ≤ 1.05)`);
  console.log(`1 TiB rounds: first chunk handed over after ${f(median(firstChunk), 2)} ms median, p90 ${f(quantile(firstChunk, 0.9), 2)} ms, over ${firstChunk.length} rounds`);
}

async function mainJob(): Promise<void> {
  const docs = (await interleaved([0], () => [], () => 'main job'))[0]!;
  console.log('\n## Main job (`iovabitmap migrate`, defaults)\n');
  for (const d of docs) {
    const e = d.downtime.expected;
    console.log(
      `- ${d.convergence.converged ? 'converged' : 'NOT converged'} (${d.convergence.reason}) after ${d.convergence.precopyRounds} pre-copy rounds; ` +
        `expected ${e === null ? '–' : f(e.totalMs)} ms, actual ${f(d.downtime.actual.totalMs)} ms (harvest ${f(d.downtime.actual.harvestMs)} ms, share ${f(d.downtime.harvestShare * 100, 0)} %); ` +
        `per-round work besides the report ≤ ${f(d.totals.maxBookkeepingMs)} ms (${f(d.totals.maxBookkeepingShare * 100)} % of its report); ` +
        `verification ${f(d.totals.verifyMs)} ms vs reports ${f(d.totals.harvestMs)} ms (${f(d.totals.verifyMs / d.totals.harvestMs, 2)}); verified ${d.verification.ok}`,
    );
  }
  console.log(
    `\nmedians over ${docs.length} processes: actual downtime ${f(median(docs.map((d) => d.downtime.actual.totalMs)))} ms, harvest share ${f(median(docs.map((d) => d.downtime.harvestShare)) * 100, 0)} %, ` +
      `work besides the report ${f(median(docs.map((d) => d.totals.maxBookkeepingShare)) * 100)} % of the report at most (target ≤ 10 %), ` +
      `verification / reports ${f(median(docs.map((d) => d.totals.verifyMs / d.totals.harvestMs)), 2)} (target ≤ 1)`,
  );
}

async function threads(): Promise<void> {
  const docs = (await interleaved([0], () => ['--iova-size', '1TiB', '--leaf', '4K', '--compare-threads', '1,2'], () => '1 TiB @ 4 KiB, 1 vs 2 threads'))[0]!;
  console.log('\n## 1 TiB @ 4 KiB leaves: the final round with 1 and 2 workers (same process, same seed)\n');
  const ratios: number[] = [];
  for (const d of docs) {
    const [one, two] = [d.compareThreads!.find((r) => r.threads === 1)!, d.compareThreads!.find((r) => r.threads === 2)!];
    ratios.push(one.downtime.harvestMs / two.downtime.harvestMs);
    console.log(
      `- 1 thread: downtime ${f(one.downtime.totalMs)} ms (harvest ${f(one.downtime.harvestMs)} ms, ${f(one.harvestShare * 100, 0)} %); ` +
        `2 threads: ${f(two.downtime.totalMs)} ms (harvest ${f(two.downtime.harvestMs)} ms, ${f(two.harvestShare * 100, 0)} %); harvest ${f(ratios.at(-1)!, 2)}x shorter`,
    );
  }
  console.log(`\nfinal-round harvest, 1 thread over 2: median ${f(median(ratios), 2)}x over ${docs.length} processes (target ≥ 1.8x)`);
}

async function stream(): Promise<void> {
  const length = 1n << 40n;
  const table = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  for (const m of layoutMappings(0n, length, 'mixed')) table.map(m.iova, m.length, { leaf: m.leaf });
  table.setDirtyTracking(true);
  const tracker = createTracker({ iova: 0n, length, pageBytes: 4096n });
  const rng = createRng(1);
  const pages = Number(length >> 12n);
  for (let i = 0; i < pages / 100; i++) {
    const p = Math.floor(rng.float() * pages);
    table.dmaWritePages(p, 1);
    tracker.dmaWritePages(p, 1);
  }
  const bitmap = new IovaBitmap({ iova: 0n, length, pageSize: 4096 });
  const pool = new ReportPool({ threads: 2 });
  await pool.ready();
  const first: number[] = [];
  const withMs: number[] = [];
  const withoutMs: number[] = [];
  const reps = 8 * PASSES;
  try {
    for (let i = 0; i < reps + 2; i++) {
      let t0 = performance.now();
      let firstMs: number | undefined;
      await pool.report({ bitmap, sources: [table, tracker], noClear: true, onChunk: (c) => void (c.runs.length > 0 && (firstMs ??= performance.now() - t0)) });
      const w = performance.now() - t0;
      t0 = performance.now();
      await pool.report({ bitmap, sources: [table, tracker], noClear: true });
      const wo = performance.now() - t0;
      if (i < 2) continue; // warm-up
      first.push(firstMs!);
      withMs.push(w);
      withoutMs.push(wo);
    }
  } finally {
    await pool.close();
  }
  console.log('\n## Streaming on a 1 TiB report (mixed leaves + VF tracker, 1 % of 4 KiB pages written, 2 threads, noClear)\n');
  console.log(`first chunk with a dirty range: median ${f(median(first), 2)} ms after the call, p90 ${f(quantile(first, 0.9), 2)} ms, over ${reps} reports (target ≤ 2 ms)`);
  console.log(`report wall time: with onChunk ${f(median(withMs))} ms, without ${f(median(withoutMs))} ms (median of ${reps}, alternating; with / without ${f(median(withMs) / median(withoutMs), 3)})`);
}

console.log(`# migrate bench: ${new Date().toISOString()}, ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, node ${process.version}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${PASSES} passes`);
if (on('stream')) await stream();
if (on('main')) await mainJob();
if (on('threads')) await threads();
if (on('sweep')) await sweep();
console.log(`\nload at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
