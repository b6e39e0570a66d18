/**
 * A small seeded pseudo-random generator for the device simulator and the stress suite.
 * Runs on any thread (the device worker, the benchmark, the stress suite).
 *
 * Theory of operation
 * -------------------
 * Replays must be exact: the same seed gives the same sequence of DMA writes on every host and
 * every run, whatever the timing, so a failing stress seed can be replayed (`STRESS_SEED`). The
 * generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, public domain): 128 bits
 * of state, period at least 2^32, passes PractRand far beyond what a simulator needs, and uses
 * only 32-bit integer operations, which V8 keeps in registers. The state is seeded through
 * splitmix32 so that nearby seeds (0, 1, 2...) give unrelated streams.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { checkInt } from '@iovabitmap/core/internal';

/** A seeded source of random numbers; see the module comment. */
export interface Rng {
  /** The next 32-bit unsigned integer, uniform in [0, 2^32). */
  u32(): number;
  /** A float uniform in [0, 1) with 53 random bits. */
  float(): number;
  /**
   * An integer uniform in [0, n) for a safe integer n >= 1 (a modulo bias below 2^-20 for
   * n < 2^32, none worth measuring above).
   * @throws IovaBitmapError `EINVAL` for any other n.
   */
  int(n: number): number;
}

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Creates a generator from a seed.
 * @param seed - an integer in [0, 2^32)
 * @throws IovaBitmapError `EINVAL` for anything else (a seed is never coerced or folded: two
 *   different values must not silently give the same stream).
 */
export function createRng(seed: number): Rng {
  let s = checkInt('createRng', 'seed', seed, 0, 2 ** 32 - 1);
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    return splitmix32(s);
  };
  let a = next();
  let b = next();
  let c = next();
  let d = next() | 1;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const float = (): number => (u32() * 2 ** 21 + (u32() >>> 11)) / 2 ** 53;
  return {
    u32,
    float,
    int(n: number): number {
      checkInt('Rng.int', 'n', n, 1);
      if (n <= 2 ** 32) return Math.floor((u32() / 2 ** 32) * n);
      return Math.floor(float() * n);
    },
  };
}

/**
 * Reads a seed from an environment variable (decimal or 0x-hex), or picks a fresh random one.
 * @param name - the variable, e.g. `"STRESS_SEED"`
 * @returns a seed in [0, 2^32)
 * @throws IovaBitmapError `EINVAL` for a name that is not a non-empty string, or a variable that
 *   is set to something else than an integer in [0, 2^32).
 */
export function seedFromEnv(name: string): number {
  if (typeof name !== 'string' || name === '') throw IovaBitmapError.bad('EINVAL', 'seedFromEnv', 'name', name, 'must be a non-empty string');
  const raw = process.env[name];
  if (raw !== undefined && raw.trim() !== '') {
    const t = raw.trim();
    const v = /^(?:\d+|0x[0-9a-f]+)$/i.test(t) ? Number(t) : Number.NaN;
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) return v;
    throw IovaBitmapError.bad('EINVAL', 'seedFromEnv', name, raw, 'must be an integer in [0, 2^32) (decimal or 0x-hex)');
  }
  return Math.floor(Math.random() * 2 ** 32);
}
