/**
 * Benchmark of the VF tracker's read of a clean record memory, as one report of a big guest pays
 * it: `reportDirty` of a tracker alone at 4 KiB pages over 1 TiB (2^28 records, 32 MiB of record
 * words), nothing dirty, on one thread. It is the figure behind the clean-word loop of
 * core's tracker/trackerKernel.ts (docs/bench/limits.md §9.5).
 *
 * Theory of operation
 * -------------------
 * Every sample is its own process (`--child`), because what is measured is what a process's JIT
 * and memory do: `warm` runs the pool workers' JIT warm-up (`warmUpKernels`, as every pool worker
 * does before its first task) before reporting, `cold` does not. Each child builds the tracker and
 * the bitmap, sleeps 300 ms (background compile jobs land), then times `--reports` reports:
 * the first pays for touching the fresh record and bitmap memory (page faults), the others are the
 * steady figure (their median; ns per record word = ms / 2^23 words at 1 TiB). The parent runs
 * `--processes` rounds, each a `warm` and a `cold` child in an order flipped every round, and
 * prints the medians over the processes with their range.
 *
 * Run (from the build, nothing else heavy running):
 *   node --no-lazy-feedback-allocation packages/bench/dist/benches/trackerScan.bench.js [--processes 3] [--reports 6] [--gib 1024]
 */
import { execFile } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { IovaBitmap, reportDirty } from '@iovabitmap/core';
import { warmUpKernels } from '@iovabitmap/workers/internal';
import { createTracker } from '../harness/impls.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const PROCESSES = Number(opt('--processes') ?? 3);
const REPORTS = Number(opt('--reports') ?? 6);
const GIB = Number(opt('--gib') ?? 1024);
const MODES = ['warm', 'cold'] as const;
type Mode = (typeof MODES)[number];

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** One sample: the first report and the median of the others, ms. */
interface Sample {
  readonly first: number;
  readonly steady: number;
}

function child(mode: Mode): Sample {
  const length = BigInt(GIB) << 30n;
  const tracker = createTracker({ iova: 0n, length, pageBytes: 4096n });
  const bitmap = new IovaBitmap({ iova: 0n, length, pageSize: 4096 });
  if (mode === 'warm') warmUpKernels();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  const ms: number[] = [];
  for (let i = 0; i < REPORTS; i++) {
    const t0 = performance.now();
    reportDirty({ bitmap, sources: [tracker] });
    ms.push(performance.now() - t0);
  }
  return { first: ms[0]!, steady: median(ms.slice(1)) };
}

async function parent(): Promise<void> {
  const run = promisify(execFile);
  const self = fileURLToPath(import.meta.url);
  const samples: Record<Mode, Sample[]> = { warm: [], cold: [] };
  for (let p = 0; p < PROCESSES; p++) {
    for (const mode of p % 2 === 0 ? MODES : [...MODES].reverse()) {
      const { stdout } = await run(process.execPath, ['--no-lazy-feedback-allocation', self, '--child', mode, '--reports', String(REPORTS), '--gib', String(GIB)]);
      samples[mode].push(JSON.parse(stdout) as Sample);
    }
  }
  const words = (GIB * 2 ** 18) / 32; // record words: 4 KiB pages, 32 per word
  const f = (xs: readonly number[]): string => `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`;
  console.log(`# trackerScan: ${new Date().toISOString()}, ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, node ${process.version}`);
  console.log(`clean VfTracker, 4 KiB pages over ${GIB} GiB (${words} record words), reportDirty on one thread; median [min–max] over ${PROCESSES} processes\n`);
  console.log('| JIT state | first report (ms) | later reports (ms, median of each process) | ns per record word |');
  console.log('|---|---:|---:|---:|');
  for (const mode of MODES) {
    const s = samples[mode];
    const label = mode === 'warm' ? 'after the pool warm-up' : 'no warm-up';
    console.log(`| ${label} | ${f(s.map((x) => x.first))} | ${f(s.map((x) => x.steady))} | ${((median(s.map((x) => x.steady)) * 1e6) / words).toFixed(2)} |`);
  }
}

const mode = opt('--child');
if (mode === undefined) await parent();
else console.log(JSON.stringify(child(mode as Mode)));
