/**
 * The scalar C reference of the page-table walk (../native/ptewalk.c): find a C compiler, build
 * the program once, run it, read its result.
 *
 * Theory of operation
 * -------------------
 * {@link buildNativeWalk} looks for a compiler (`$CC`, then `cc`, `gcc`, `clang`: the first that
 * answers `--version`), compiles ptewalk.c with the flags of its family into a cache directory
 * outside the source tree (`packages/bench/node_modules/.cache/iovabitmap/`, named by a hash of
 * the source, the compiler and the flags, so an edit or another compiler rebuilds and an unchanged
 * one does not), and returns how to run it; without a compiler, or when the build fails, it
 * returns a note saying why, and the benchmark prints it and leaves the C column out.
 *
 * Flags: -O2 with auto-vectorisation off (gcc: -fno-tree-vectorize; clang: -fno-vectorize
 * -fno-slp-vectorize) and no -march, so that "scalar" means scalar code for the baseline ISA,
 * like what V8 emits (it neither vectorises nor unrolls); gcc 12 and later vectorise at -O2
 * otherwise. {@link runNativeWalk} runs one density (one process: build the table, walk it with
 * each kernel, print one JSON line) and parses that line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../native/ptewalk.c', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/iovabitmap/', import.meta.url));

/** A built C reference. */
export interface NativeWalk {
  readonly kind: 'native';
  /** The executable. */
  readonly path: string;
  /** The compiler used and its first `--version` line. */
  readonly compiler: string;
  readonly version: string;
  /** The flags it was built with. */
  readonly flags: readonly string[];
}

/** Why there is no C reference. */
export interface NoNativeWalk {
  readonly kind: 'none';
  readonly note: string;
}

/** Timings of one kernel, ns per PTE. */
export interface NativeKernelTimes {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** What one run of the C reference printed. */
export interface NativeWalkResult {
  readonly pages: number;
  readonly density: number;
  /** Dirty leaves in its table (the same seed rule as the JS benchmark: the same count). */
  readonly dirty: number;
  readonly reps: number;
  readonly kernels: Readonly<Record<string, NativeKernelTimes>>;
  /** The kernel with the lowest median, and that median. */
  readonly best: string;
  readonly bestNs: number;
}

/** Flags per compiler family; see the module comment. */
function flagsFor(version: string): string[] {
  const noVector = /clang/i.test(version) ? ['-fno-vectorize', '-fno-slp-vectorize'] : ['-fno-tree-vectorize'];
  return ['-O2', ...noVector, '-std=c99', '-Wall'];
}

/** The compilers tried, in order: `$CC` when set, then cc, gcc, clang. */
export function defaultCompilers(): string[] {
  const cc = process.env['CC'];
  return [...(cc === undefined || cc === '' ? [] : [cc]), 'cc', 'gcc', 'clang'];
}

/** The first compiler of `candidates` that runs, with its version line. */
function findCompiler(candidates: readonly string[]): { compiler: string; version: string } | undefined {
  for (const compiler of candidates) {
    const r = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return { compiler, version: (r.stdout.split('\n')[0] ?? '').trim() };
  }
  return undefined;
}

/**
 * Builds the C reference (or reuses the cached build); see the module comment.
 * @param compilers - the compilers to try, in order (default {@link defaultCompilers})
 */
export function buildNativeWalk(compilers: readonly string[] = defaultCompilers()): NativeWalk | NoNativeWalk {
  const found = findCompiler(compilers);
  if (found === undefined) return { kind: 'none', note: `no C compiler found (tried ${compilers.join(', ')}): no C reference column` };
  const flags = flagsFor(found.version);
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).update(`\0${found.compiler}\0${found.version}\0${flags.join(' ')}`).digest('hex').slice(0, 16);
  const path = `${CACHE_DIR}ptewalk-${hash}`;
  if (!existsSync(path)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      execFileSync(found.compiler, [...flags, '-o', tmp, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? String(e);
      return { kind: 'none', note: `${found.compiler} could not build ptewalk.c (${stderr.split('\n')[0]}): no C reference column` };
    }
    renameSync(tmp, path);
  }
  return { kind: 'native', path, compiler: found.compiler, version: found.version, flags };
}

/**
 * Runs the C reference over `pages` 4 KiB leaves (a multiple of 512) at `density` with the JS
 * benchmark's `seed`, `reps` timed walks per kernel.
 * @throws Error when it fails, its check included (it exits non-zero), or prints something else
 */
export function runNativeWalk(walk: NativeWalk, pages: number, density: number, seed: number, reps: number): NativeWalkResult {
  let out: string;
  try {
    out = execFileSync(walk.path, [String(pages), String(density), String(seed), String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim();
    throw new Error(`ptewalk ${pages} ${density} ${seed} ${reps} failed: ${stderr || String(e)}`);
  }
  const r = JSON.parse(out) as NativeWalkResult;
  if (r.pages !== pages || typeof r.bestNs !== 'number' || typeof r.dirty !== 'number') throw new Error(`ptewalk: unexpected output ${out.trim()}`);
  return r;
}
