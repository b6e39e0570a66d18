/**
 * Benchmark of the bitmap's summary layer (core's bitmap/bitSummary.ts): what a report, a count,
 * a scan and a clear cost with it (`engine`) and without it (`engine-flat`, the internal
 * `[BITMAP_SUMMARY]: false`), against one plain pass over the bitmap's memory.
 *
 * Theory of operation
 * -------------------
 * Every comparison runs its tasks interleaved, in rounds (./interleaved.ts): the figure of a task is
 * the median of its round medians, a ratio the median of the per-round ratios. "One plain pass" is
 * the fastest JS read of the bitmap's words (an OR of every word, unrolled ×8:
 * ../harness/kernels.ts `orReduceWords`), measured in the same rounds. Dirty sets are drawn with the
 * project's PRNG, fixed seeds. Reports are `noClear` pool reports into a bitmap that holds the
 * previous report's bits (the state a report meets in a loop: as many bits before as after), on a
 * warmed 2-thread pool; each variant's result is checked once against `reportDirty`.
 *
 * Part `blocks` (the block size, docs/bench/summary.md §2): a 1 TiB bitmap at 4 KiB pages
 * (32 MiB), flat and with blocks of 64 B, 512 B and 4 KiB, dirty as 1% of 2 MiB leaves, 1% of 1 GiB
 * leaves, 1% of 4 KiB pages, and 100%: `count()`, `dirtyRanges()` (consumed) and `clear()` (the
 * bits restored before each call, untimed); and the writers, one-thread `reportDirty` noClear:
 * 16 GiB of 4 KiB leaves at 100% (the walk's whole-word path), 256 GiB of 2 MiB leaves at 100% (a
 * run per leaf), a VfTracker over 16 GiB at 50% (a mask per word), and `setBits` of 2 MiB runs.
 * `clear()` runs on a copy of each bitmap (refilled before each call, see clearTask), so the
 * other tasks, whose bitmaps tinybench's warm-up would otherwise have cleared, read the dirty set.
 *
 * Part `targets` (docs/bench/summary.md §1; issue 11's targets, ratios within one run):
 *   A. 16 TiB of 1 GiB leaves (512 MiB bitmap), 1% dirty, 2 workers: the report call ≤ 1/5 of
 *      one pass; `count()`, `dirtyRanges()` and `clear()` each ≤ 1/5 of a pass;
 *   B. 1 TiB of 2 MiB leaves (32 MiB bitmap), 1% dirty: the call ≤ 1/2 of a pass;
 *   C. 100% dirty (64 GiB of 4 KiB leaves; 1 TiB of 2 MiB leaves): the call with the summary no
 *      more than 5% slower than without; `setBits` of a 1 GiB range (2^18 bits) likewise.
 *
 * Run from the build (under tsx every typed-array access is slower: docs/bench/pteWalk.md §4):
 *   npm run -s build && node --no-lazy-feedback-allocation packages/bench/dist/benches/summary.bench.js \
 *     [--only blocks|targets] [--rounds <n>] [--time <ms per task and round>]
 * Under the shared lock, several processes; docs/bench/summary.md has the method and the figures.
 */
import { availableParallelism, loadavg } from 'node:os';
import { IoPageTable, IovaBitmap, IovaBitmapError, VfTracker, reportDirty, type DirtySource } from '@iovabitmap/core';
import { BITMAP_SUMMARY, GiB, MiB, PAGE_SIZE_BIG, TiB, bitmapViews, pageOf, type InternalIovaBitmapOptions, type SummaryOption } from '@iovabitmap/core/internal';
import { ReportPool } from '@iovabitmap/workers';
import { createRng } from '@iovabitmap/workers/internal';
import { orReduceWords } from '../harness/kernels.js';
import { measureRounds, roundRatio, type RoundRow, type RoundTask } from './interleaved.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = arg('--only');
if (only !== undefined && only !== 'blocks' && only !== 'targets') throw new Error(`summary.bench: --only takes blocks or targets, not ${only}`);
const ROUNDS = Number(arg('--rounds') ?? 5);
const TIME_MS = Number(arg('--time') ?? 150);
const opts = { rounds: ROUNDS, timeMs: TIME_MS };

/** The variants of part `blocks`, by name. */
const VARIANTS: Record<string, SummaryOption> = {
  flat: false,
  '64 B': { blockBytes: 64 },
  '512 B': { blockBytes: 512 },
  '4 KiB': { blockBytes: 4096 },
};

/** A bitmap of IOVA [0, length) at 4 KiB pages, with the given summary (absent: the default). */
function bitmapOf(length: bigint, summary?: SummaryOption): IovaBitmap {
  const o: InternalIovaBitmapOptions = { iova: 0n, length, pageSize: PAGE_SIZE_BIG, ...(summary === undefined ? {} : { [BITMAP_SUMMARY]: summary }) };
  return new IovaBitmap(o);
}

/** Marks each unit of `unitBits` bits among `units` with probability `density` (1: all), seeded. */
function dirtyUnits(b: IovaBitmap, units: number, unitBits: number, density: number, seed: number): void {
  if (density >= 1) {
    b.setBits(0, units * unitBits);
    return;
  }
  const r = createRng(seed);
  for (let u = 0; u < units; u++) if (r.float() < density) b.setBits(u * unitBits, unitBits);
}

/** A vtd-ss table of `leaf`-byte leaves over [0, span), tracking on, each leaf dirty with `density`. */
function tableOf(span: bigint, leaf: bigint, density: number, seed: number): IoPageTable {
  const t = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  t.map(0n, span, { leaf });
  t.setDirtyTracking(true);
  const pages = pageOf(span);
  const per = Number(leaf / PAGE_SIZE_BIG);
  if (density >= 1) t.dmaWritePages(0, pages);
  else {
    const r = createRng(seed);
    for (let p = 0; p < pages; p += per) if (r.float() < density) t.dmaWritePages(p, 1);
  }
  return t;
}

/** One plain pass over `b`'s memory. */
function passOf(b: IovaBitmap): () => number {
  const { words } = bitmapViews(b).views;
  return () => orReduceWords(words);
}

/** Consumes every dirty range of `b`. */
function scan(b: IovaBitmap): number {
  let n = 0;
  for (const r of b.dirtyRanges()) n += Number(r.length > 0n);
  return n;
}

/**
 * clear() of a copy of `b` (made empty by `make`, so `b` itself stays dirty for the other tasks,
 * warm-up included), refilled before each call, untimed, by `b.orInto(copy)`: a refill that costs
 * what is dirty (a whole-bitmap copy before each call would make a sparse clear, which takes
 * microseconds, cost minutes: tinybench counts only the timed part toward its time budget).
 */
function clearTask(b: IovaBitmap, make: () => IovaBitmap): RoundTask {
  const c = make();
  return { fn: () => c.clear(), beforeEach: () => b.orInto(c) };
}

function check(what: string, got: number, want: number): void {
  if (got !== want) throw new IovaBitmapError('EIO', `summary.bench: ${what}: ${got} bits, expected ${want}`);
}

const figures: string[] = [];
const fmt = (x: number): string => x.toFixed(3);

// ---- part blocks ------------------------------------------------------------------------------
async function partBlocks(): Promise<void> {
  const span = TiB;
  const nbits = Number(span / PAGE_SIZE_BIG);
  const patterns: [string, number, number][] = [
    ['1% of 2 MiB leaves', 512, 0.01],
    ['1% of 1 GiB leaves', 2 ** 18, 0.01],
    ['1% of 4 KiB pages', 1, 0.01],
    ['100%', 1, 1],
  ];
  for (const [name, unitBits, density] of patterns) {
    const maps = Object.fromEntries(Object.entries(VARIANTS).map(([v, o]) => [v, bitmapOf(span, o)]));
    for (const b of Object.values(maps)) dirtyUnits(b, nbits / unitBits, unitBits, density, 11);
    const want = maps.flat!.count();
    const tasks: Record<string, RoundTask> = {};
    for (const [v, b] of Object.entries(maps)) {
      check(`${name}, ${v}`, b.count(), want);
      tasks[`count ${v}`] = () => b.count();
      tasks[`dirtyRanges ${v}`] = () => scan(b);
      tasks[`clear ${v}`] = clearTask(b, () => bitmapOf(span, VARIANTS[v]));
    }
    const rows = await measureRounds(`blocks: 1 TiB bitmap at 4 KiB pages, ${name} (${want} bits)`, tasks, opts);
    for (const op of ['count', 'dirtyRanges', 'clear']) {
      const flat = rows.get(`${op} flat`)!;
      const r = Object.keys(VARIANTS)
        .filter((v) => v !== 'flat')
        .map((v) => `${v} ${fmt(roundRatio(rows.get(`${op} ${v}`)!, flat))}`);
      figures.push(`blocks, ${name}, ${op} vs flat: ${r.join(', ')} (flat ${fmt(flat.medianMs)} ms)`);
    }
  }

  // The writers, one thread: each variant's bitmap, the same sources.
  const writers: [string, () => DirtySource, bigint][] = [
    ['16 GiB of 4 KiB leaves, 100%', () => tableOf(16n * GiB, PAGE_SIZE_BIG, 1, 1), 16n * GiB],
    ['256 GiB of 2 MiB leaves, 100%', () => tableOf(256n * GiB, 2n * MiB, 1, 1), 256n * GiB],
    [
      'VfTracker over 16 GiB, 50%',
      () => {
        const t = new VfTracker({ name: 'vf' });
        t.start({ ranges: [{ iova: 0n, length: 16n * GiB }], pageSize: PAGE_SIZE_BIG });
        const r = createRng(3);
        for (let p = 0; p < pageOf(16n * GiB); p++) if (r.float() < 0.5) t.dmaWritePages(p, 1);
        return t;
      },
      16n * GiB,
    ],
  ];
  for (const [name, make, length] of writers) {
    const source = make();
    const tasks: Record<string, RoundTask> = {};
    for (const [v, o] of Object.entries(VARIANTS)) {
      const b = bitmapOf(length, o);
      tasks[`report ${v}`] = () => reportDirty({ bitmap: b, sources: [source], noClear: true });
    }
    const rows = await measureRounds(`blocks, writers: reportDirty noClear, ${name}`, tasks, opts);
    const flat = rows.get('report flat')!;
    const r = Object.keys(VARIANTS)
      .filter((v) => v !== 'flat')
      .map((v) => `${v} ${fmt(roundRatio(rows.get(`report ${v}`)!, flat))}`);
    figures.push(`blocks, writer ${name} vs flat: ${r.join(', ')} (flat ${fmt(flat.medianMs)} ms)`);
  }
  {
    const tasks: Record<string, RoundTask> = {};
    for (const [v, o] of Object.entries(VARIANTS)) {
      const b = bitmapOf(64n * GiB, o);
      const runs = Number((64n * GiB) / (2n * MiB));
      tasks[`setBits ${v}`] = () => {
        for (let i = 0; i < runs; i++) b.setBits(i * 512, 512);
      };
    }
    const rows = await measureRounds('blocks, writers: setBits of each 2 MiB run of 64 GiB (32768 calls)', tasks, opts);
    const flat = rows.get('setBits flat')!;
    const r = Object.keys(VARIANTS)
      .filter((v) => v !== 'flat')
      .map((v) => `${v} ${fmt(roundRatio(rows.get(`setBits ${v}`)!, flat))}`);
    figures.push(`blocks, writer setBits of 2 MiB runs vs flat: ${r.join(', ')} (flat ${fmt(flat.medianMs)} ms)`);
  }
}

// ---- part targets -----------------------------------------------------------------------------
/** The call of a `noClear` 2-thread report of `source` into each bitmap, and a pass, interleaved. */
async function compareCalls(title: string, pool: ReportPool, source: DirtySource, engine: IovaBitmap, flat: IovaBitmap, extra: Record<string, RoundTask> = {}): Promise<Map<string, RoundRow>> {
  const want = reportDirty({ bitmap: bitmapOf(engine.length), sources: [source], noClear: true }).bitsSet;
  for (const [v, b] of [['engine', engine], ['engine-flat', flat]] as const) {
    b.clear();
    check(`${title}, ${v}`, (await pool.report({ bitmap: b, sources: [source], noClear: true })).bitsSet, want);
  }
  return measureRounds(
    `${title} (${want} bits)`,
    {
      engine: () => pool.report({ bitmap: engine, sources: [source], noClear: true }),
      'engine-flat': () => pool.report({ bitmap: flat, sources: [source], noClear: true }),
      'one pass': passOf(engine),
      ...extra,
    },
    opts,
  );
}

async function partTargets(): Promise<void> {
  const pool = new ReportPool({ threads: 2 });
  await pool.ready();
  try {
    {
      const span = 16n * TiB;
      const source = tableOf(span, GiB, 0.01, 21);
      const engine = bitmapOf(span);
      const flat = bitmapOf(span, false);
      const rows = await compareCalls('A. 16 TiB of 1 GiB leaves, 1% dirty, 2 workers', pool, source, engine, flat, {
        'count()': () => engine.count(),
        'dirtyRanges()': () => scan(engine),
        'clear()': clearTask(engine, () => bitmapOf(span)),
      });
      const pass = rows.get('one pass')!;
      for (const [t, goal] of [['engine', 0.2], ['count()', 0.2], ['dirtyRanges()', 0.2], ['clear()', 0.2], ['engine-flat', Infinity]] as const) {
        const x = roundRatio(rows.get(t)!, pass);
        figures.push(`A. 16 TiB @ 1 GiB, 1%: ${t} / one pass = ${fmt(x)}${goal === Infinity ? '' : `  (target <= ${goal}: ${x <= goal ? 'met' : 'NOT met'})`}`);
      }
    }
    {
      const span = TiB;
      const source = tableOf(span, 2n * MiB, 0.01, 22);
      const rows = await compareCalls('B. 1 TiB of 2 MiB leaves, 1% dirty, 2 workers', pool, source, bitmapOf(span), bitmapOf(span, false));
      const pass = rows.get('one pass')!;
      const x = roundRatio(rows.get('engine')!, pass);
      figures.push(`B. 1 TiB @ 2 MiB, 1%: engine / one pass = ${fmt(x)}  (target <= 0.5: ${x <= 0.5 ? 'met' : 'NOT met'}); engine-flat / one pass = ${fmt(roundRatio(rows.get('engine-flat')!, pass))}`);
    }
    for (const [name, span, leaf] of [
      ['64 GiB of 4 KiB leaves', 64n * GiB, PAGE_SIZE_BIG],
      ['1 TiB of 2 MiB leaves', TiB, 2n * MiB],
    ] as const) {
      const rows = await compareCalls(`C. ${name}, 100% dirty, 2 workers`, pool, tableOf(span, leaf, 1, 23), bitmapOf(span), bitmapOf(span, false));
      const x = roundRatio(rows.get('engine')!, rows.get('engine-flat')!);
      figures.push(`C. ${name}, 100%: engine / engine-flat = ${fmt(x)}  (target <= 1.05: ${x <= 1.05 ? 'met' : 'NOT met'})`);
    }
    {
      const engine = bitmapOf(64n * GiB);
      const flat = bitmapOf(64n * GiB, false);
      const rows = await measureRounds('C. setBits of a 1 GiB range (2^18 bits at 4 KiB pages)', { engine: () => engine.setBits(0, 2 ** 18), 'engine-flat': () => flat.setBits(0, 2 ** 18) }, opts);
      const x = roundRatio(rows.get('engine')!, rows.get('engine-flat')!);
      figures.push(`C. setBits of 1 GiB: engine / engine-flat = ${fmt(x)}  (target <= 1.05: ${x <= 1.05 ? 'met' : 'NOT met'})`);
    }
  } finally {
    await pool.close();
  }
}

console.log(`# summary.bench: ${ROUNDS} rounds, ${TIME_MS} ms per task and round; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${availableParallelism()} cores)`);
if (import.meta.url.endsWith('.ts')) console.log('warning: running from source under tsx: typed-array accesses are slower than from the build (docs/bench/pteWalk.md §4)');
if (only !== 'targets') await partBlocks();
if (only !== 'blocks') await partTargets();
console.log(`\n# load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('\n## Figures (medians of per-round ratios within this run)');
for (const f of figures) console.log(`- ${f}`);
