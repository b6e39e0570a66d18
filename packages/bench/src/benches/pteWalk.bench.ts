/**
 * Benchmark of the single-thread page-table walk (IoPageTable.readAndClearDirty), against a
 * scalar C walk of the same table.
 *
 * Theory of operation
 * -------------------
 * Part 1, 4 KiB leaves. One vtd-ss table (or `--format`'s) maps 64 GiB with 4 KiB leaves: 2^24
 * leaf PTEs in 32768 leaf tables (128 MiB of table). For each density (0%, 1%, 50%, 100% of the leaves dirty,
 * Bernoulli per page with the seeded PRNG of @iovabitmap/workers, seed 0x9e3779b9 + density
 * index) it runs, in this order:
 *   - the C reference (../../native/ptewalk.c, built by ../harness/nativeWalk.ts when a C compiler is
 *     found): the same table shape and dirty set in a child process, its best scalar kernel;
 *   - with tinybench on the main thread, reported as the median latency divided by 2^24:
 *     `walk+clear`: GET_DIRTY_BITMAP: record every dirty leaf into a 4 KiB-page bitmap and clear
 *     it; before every iteration, outside the timing (tinybench `beforeEach`), the table memory is
 *     restored from a copy taken after dirtying, and the bitmap is cleared, as the C does;
 *     `plain bitmap`: the same into a bitmap over a plain ArrayBuffer, as a caller on one thread
 *     may pass: the walk writes it with `|=` where shared memory takes Atomics.or (V8 runs each
 *     as a call; docs/bench/pteWalk.md §11);
 *     `walk noClear`: the same walk with NO_CLEAR (nothing to restore), so the difference is the
 *     clears' cost; `read`: an OR-reduce of the low word of every entry of every leaf table
 *     (core's internal readLeafTables), the floor for any walk in JavaScript.
 * `vs C` is walk+clear over the C's best median of the same density, `plain vs C` the same for
 * the plain bitmap (the C writes a private bitmap with plain ORs). Every figure is checked
 * once: the bitmap holds exactly the dirty count, nothing is left dirty, and the C counted the
 * same dirty leaves (the same seed rule gives the same table).
 *
 * Part 2, huge leaves. 1 TiB of 2 MiB leaves (524,288 leaf PTEs in level-2 tables), vtd-ss and
 * amd-v1, each leaf dirty with the same densities (Bernoulli per leaf): `walk+clear` as above, in
 * milliseconds per walk and ns per leaf. Checked the same way.
 *
 * Targets: the walk with clear within 1.3x the best scalar C at <= 1% density, 2.0x at 50%, 2.4x
 * at 100% (docs/bench/pteWalk.md §1); without a C compiler, the absolute targets of
 * docs/bench/limits.md §8 (0.6 / 1.0 / 3.0 / 3.0 ns per PTE). The host is shared: treat any single
 * run as provisional, and compare figures of one run (docs/bench/pteWalk.md has the method).
 *
 * `--format amd-v1|smmu-v3` runs part 1 over a table of that format instead of vtd-ss, without
 * the C column (the C walk builds vtd-ss tables); the targets are vtd-ss's. It is how the smmu-v3
 * skip was found 8x slower than the vtd-ss one (docs/bench/pteWalk.md §9).
 *
 * Run from the build, as the library runs in production:
 *   npm run -s build && node --no-lazy-feedback-allocation packages/bench/dist/benches/pteWalk.bench.js \
 *     [--quick] [--time <ms per task>] [--only 4k|huge] [--format vtd-ss|amd-v1|smmu-v3]
 * From source (node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source
 * packages/bench/src/benches/pteWalk.bench.ts) it works too but prints a warning: tsx detaches an
 * ArrayBuffer in this thread while it loads a CommonJS dependency, and from then on V8 checks every
 * typed-array access for a detached buffer, which costs the walk 15-25% (docs/bench/pteWalk.md §4).
 * `--quick` maps 16 GiB (part 1) and 256 GiB (part 2) instead of 64 GiB and 1 TiB.
 */
import { Bench } from 'tinybench';
import { IoPageTable, IovaBitmap, PTE_FORMATS, type PteFormat } from '@iovabitmap/core';
import { GiB, MIB, PAGE_SIZE, PAGE_SIZE_BIG, pageOf, readLeafTables } from '@iovabitmap/core/internal';
import { createRng } from '@iovabitmap/workers/internal';
import { buildNativeWalk, runNativeWalk, type NativeWalk, type NativeWalkResult, type NoNativeWalk } from '../harness/nativeWalk.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const timeArg = args.indexOf('--time');
const timeMs = timeArg >= 0 ? Number(args[timeArg + 1]) : quick ? 300 : 1000;
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? args[onlyArg + 1] : undefined;
if (only !== undefined && only !== '4k' && only !== 'huge') throw new Error(`pteWalk: --only takes 4k or huge, not ${only}`);
const formatArg = args.indexOf('--format');
const format4k = (formatArg >= 0 ? args[formatArg + 1] : 'vtd-ss') as PteFormat;
if (!PTE_FORMATS.includes(format4k)) throw new Error(`pteWalk: --format takes ${PTE_FORMATS.join(', ')}, not ${String(format4k)}`);
const span = (quick ? 16n : 64n) * GiB;
const PTES = pageOf(span);
const hugeSpan = (quick ? 256n : 1024n) * GiB;
const DENSITIES = [0, 0.01, 0.5, 1];
const SEED = 0x9e3779b9;
/** Timed walks per C kernel and density. */
const C_REPS = quick ? 5 : 9;
const TARGET_NS: Readonly<Record<number, number>> = { 0: 0.6, 0.01: 1.0, 0.5: 3.0, 1: 3.0 };
const TARGET_VS_C: Readonly<Record<number, number>> = { 0: 1.3, 0.01: 1.3, 0.5: 2.0, 1: 2.4 };

/**
 * Clears every dirty bit (a clean snapshot), then dirties each leaf of `leafPages` pages among the
 * first `pages` with probability `density`; returns how many.
 */
function dirty(t: IoPageTable, pages: number, leafPages: number, density: number, seed: number): number {
  t.setDirtyTracking(true);
  if (density >= 1) return t.dmaWritePages(0, pages);
  const r = createRng(seed);
  let n = 0;
  for (let p = 0; p < pages; p += leafPages) if (r.float() < density) n += t.dmaWritePages(p, 1);
  return n;
}

/** Copies of the table's segments, and a function that writes them back. */
function snapshot(t: IoPageTable): () => void {
  const segs = t.share().segments.map((b) => new Uint8Array(b));
  const copies = segs.map((s) => s.slice());
  return () => segs.forEach((s, i) => s.set(copies[i]!));
}

/** Median latency of a completed tinybench task, ms. */
function medianMs(bench: Bench, name: string): number {
  const task = bench.tasks.find((x) => x.name === name);
  const r = task?.result;
  if (r === undefined || r.state !== 'completed') throw new Error(`pteWalk: task ${name} did not complete (${r?.state})`);
  return r.latency.p50;
}

/** Walks once with clear and checks: `n` bits in the bitmap, nothing left dirty. Restores the table after. */
function check(t: IoPageTable, bm: IovaBitmap, length: bigint, n: number, what: string, restore: () => void): void {
  bm.clear();
  t.readAndClearDirty(bm, 0n, length);
  const left = new IovaBitmap({ iova: 0n, length, pageSize: PAGE_SIZE });
  t.readAndClearDirty(left, 0n, length, { noClear: true });
  if (bm.count() !== n || left.count() !== 0) throw new Error(`pteWalk: check failed for ${what}: ${bm.count()} of ${n} bits, ${left.count()} left`);
  restore();
}

interface Row {
  density: number;
  dirty: number;
  clearNs: number;
  plainNs: number;
  noClearNs: number;
  readNs: number;
  c: NativeWalkResult | undefined;
}

function measure(t: IoPageTable, bm: IovaBitmap, plain: IovaBitmap, density: number, seed: number, native: NativeWalk | undefined): Row {
  const c = native === undefined ? undefined : runNativeWalk(native, PTES, density, seed, C_REPS);
  const n = dirty(t, PTES, 1, density, seed);
  if (c !== undefined && c.dirty !== n) throw new Error(`pteWalk: the C table has ${c.dirty} dirty leaves, the JS table ${n} (density ${density})`);
  const restore = snapshot(t);
  check(t, bm, span, n, `density ${density}`, restore);
  check(t, plain, span, n, `density ${density}, plain bitmap`, restore);

  const bench = new Bench({ time: timeMs, iterations: 5, warmupTime: 0, warmupIterations: 2 });
  const sink = { or: 0 };
  bench
    .add('walk+clear', () => void t.readAndClearDirty(bm, 0n, span), {
      beforeEach: () => {
        restore();
        bm.clear();
      },
    })
    .add('walk+clear plain', () => void t.readAndClearDirty(plain, 0n, span), {
      beforeEach: () => {
        restore();
        plain.clear();
      },
    })
    .add('walk noClear', () => void t.readAndClearDirty(bm, 0n, span, { noClear: true }), { beforeAll: restore })
    .add('read', () => {
      sink.or |= readLeafTables(t).or;
    });
  bench.runSync();
  const ns = (name: string) => (medianMs(bench, name) * 1e6) / PTES;
  return { density, dirty: n, clearNs: ns('walk+clear'), plainNs: ns('walk+clear plain'), noClearNs: ns('walk noClear'), readNs: ns('read'), c };
}

const fmt = (x: number, width = 6) => x.toFixed(2).padStart(width);
const pct = (d: number) => `${(d * 100).toFixed(0)}%`.padStart(7);

function part4k(): void {
  // The C walk builds VT-d second-stage tables (dirty bit 9): the other formats run without it.
  const built: NativeWalk | NoNativeWalk = format4k === 'vtd-ss' ? buildNativeWalk() : { kind: 'none', note: `none for ${format4k} (the C walk builds vtd-ss tables)` };
  const native = built.kind === 'native' ? built : undefined;
  const t0 = performance.now();
  const table = new IoPageTable({ format: format4k, name: 'iommu' });
  table.map(0n, span, { leaf: PAGE_SIZE_BIG });
  const bm = new IovaBitmap({ iova: 0n, length: span, pageSize: PAGE_SIZE });
  const plain = new IovaBitmap({ iova: 0n, length: span, pageSize: PAGE_SIZE, buffer: new ArrayBuffer(Number(pageOf(span) / 8)) });
  const mem = table.memoryStats();
  console.log(
    `pteWalk: ${format4k}, ${span / GiB} GiB of 4 KiB leaves = ${PTES} PTEs, ${(mem.tableBytes / MIB).toFixed(1)} MiB of table ` +
      `(built in ${(performance.now() - t0).toFixed(0)} ms); tinybench ${timeMs} ms per task; median ns per PTE`,
  );
  console.log(
    native === undefined
      ? `C reference: ${built.kind === 'none' ? built.note : ''}`
      : `C reference: ${native.compiler} ${native.flags.join(' ')} (${native.version}); best of bit / word / mask, median of ${C_REPS} walks`,
  );
  const rows = DENSITIES.map((d, i) => measure(table, bm, plain, d, SEED + i, native));
  console.log(
    'density   dirty PTEs   walk+clear   plain bitmap   walk noClear   read (OR low words)   clear/read   target   ok' +
      (native ? '   C best (kernel)   vs C   plain vs C   target   ok' : ''),
  );
  for (const r of rows) {
    const target = TARGET_NS[r.density]!;
    let line =
      `${pct(r.density)}   ${String(r.dirty).padStart(10)}   ${fmt(r.clearNs)}       ${fmt(r.plainNs)}         ${fmt(r.noClearNs)}         ` +
      `${fmt(r.readNs)}                ${fmt(r.clearNs / r.readNs)}x   ${fmt(target)}   ${r.clearNs <= target ? 'yes' : 'NO '}`;
    if (r.c !== undefined) {
      const vs = r.clearNs / r.c.bestNs;
      const plainVs = r.plainNs / r.c.bestNs;
      const goal = TARGET_VS_C[r.density]!;
      line += `   ${fmt(r.c.bestNs)} (${r.c.best.padEnd(4)})      ${fmt(vs, 5)}x     ${fmt(plainVs, 5)}x  ${fmt(goal, 5)}x   ${vs <= goal ? 'yes' : 'NO'}`;
    }
    console.log(line);
  }
}

function partHuge(): void {
  const leafPages = 512;
  const leaves = Number(hugeSpan >> 21n);
  const pages = pageOf(hugeSpan);
  console.log(`\npteWalk: ${hugeSpan / GiB} GiB of 2 MiB leaves = ${leaves} leaf PTEs; walk+clear, median ms per walk (ns per leaf)`);
  const bm = new IovaBitmap({ iova: 0n, length: hugeSpan, pageSize: PAGE_SIZE });
  const formats: PteFormat[] = ['vtd-ss', 'amd-v1'];
  const cells: string[][] = [];
  for (const format of formats) {
    const table = new IoPageTable({ format, name: 'iommu' });
    table.map(0n, hugeSpan, { leaf: 2n << 20n });
    const row = [format.padEnd(8)];
    DENSITIES.forEach((d, i) => {
      const n = dirty(table, pages, leafPages, d, SEED + i);
      const restore = snapshot(table);
      check(table, bm, hugeSpan, n * leafPages, `${format} 2 MiB at ${d}`, restore);
      const bench = new Bench({ time: timeMs, iterations: 5, warmupTime: 0, warmupIterations: 2 });
      bench.add('walk+clear', () => void table.readAndClearDirty(bm, 0n, hugeSpan), {
        beforeEach: () => {
          restore();
          bm.clear();
        },
      });
      bench.runSync();
      const ms = medianMs(bench, 'walk+clear');
      row.push(`${fmt(ms, 7)} ms (${fmt((ms * 1e6) / leaves, 5)})`);
    });
    cells.push(row);
  }
  console.log(`format    ${DENSITIES.map((d) => pct(d).padStart(21)).join('  ')}`);
  for (const row of cells) console.log(`${row[0]}  ${row.slice(1).map((c) => c.padStart(21)).join('  ')}`);
}

if (import.meta.url.endsWith('.ts')) {
  console.log(
    'warning: running from source under tsx, which detaches an ArrayBuffer in this thread: V8 then checks every typed-array ' +
      'access, and the JS walk runs 15-25% slower than from the build (docs/bench/pteWalk.md §4). For the library\'s figures: ' +
      'npm run -s build && node --no-lazy-feedback-allocation packages/bench/dist/benches/pteWalk.bench.js',
  );
}
if (only !== 'huge') part4k();
if (only !== '4k') partHuge();
