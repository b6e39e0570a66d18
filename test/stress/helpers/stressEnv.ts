/**
 * Seeds and scale of the stress suite.
 *
 * Theory of operation
 * -------------------
 * Every stress test draws its randomness from one 32-bit seed and prints it before it starts, so a
 * failure can be replayed exactly with `STRESS_SEED=<seed> npx vitest run --project stress <file>`
 * (what the workers interleave still differs from run to run; the inputs do not). `STRESS_SCALE`
 * (default 1) multiplies the number of rounds for longer soaks; the defaults keep the whole suite
 * within a few minutes on 2 cores.
 */
import { createRng, seedFromEnv, type Rng } from '@iovabitmap/workers/internal';

/** The rounds multiplier from `STRESS_SCALE` (a positive number, default 1). */
export function stressScale(): number {
  const raw = process.env.STRESS_SCALE;
  if (raw === undefined || raw.trim() === '') return 1;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`STRESS_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  return v;
}

/** `base` rounds scaled by `STRESS_SCALE`, at least 1. */
export function scaled(base: number): number {
  return Math.max(1, Math.round(base * stressScale()));
}

/** A test's seed and generator. */
export interface StressSeed {
  /** The seed (print it; `STRESS_SEED` replays it). */
  readonly seed: number;
  /** A generator seeded with it. */
  readonly rng: Rng;
}

/**
 * The seed of test `name`: `STRESS_SEED` if set, else a fresh random one. Prints it with the replay
 * command.
 */
export function stressSeed(name: string): StressSeed {
  const seed = seedFromEnv('STRESS_SEED');
  console.log(`[stress] ${name}: seed=${seed} scale=${stressScale()} (replay: STRESS_SEED=${seed})`);
  return { seed, rng: createRng(seed) };
}

/** Sub-seed k of a test seed (an independent stream for worker k, round k...). */
export function subSeed(seed: number, k: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(k + 1, 0x85ebca6b)) >>> 0;
}

/**
 * A test timeout that grows with `STRESS_SCALE`, so a long soak is not cut short by the project's
 * default timeout. @param baseMs - the timeout at scale 1, ms
 */
export function stressTimeout(baseMs: number): number {
  return Math.ceil(baseMs * Math.max(1, stressScale()));
}
