/**
 * The operations of the bitmap set-race harness, generated from a seed.
 *
 * Theory of operation
 * -------------------
 * A worker and the main thread's model must agree on every operation without sending them, so
 * both regenerate them from (job, geometry) with the same seeded generator. Two jobs:
 * - `ranges`: random operations at random offsets and lengths over every entry point that sets
 *   bits: `setBits`, `set` (the exact bigint path, with unaligned byte offsets and lengths),
 *   `orMask` (the walk's 32-bit write) and `setUnits` (the sources' path). Workers overlap freely.
 * - `stride`: worker k of K sets units k, k + K, k + 2K... of every bitmap (a unit is `unit` bits,
 *   1 unless given), each once, in a random order: every bit is written exactly once and every
 *   32-bit word by every worker, so a lost update cannot be hidden by a later write of the same
 *   bit. The negative controls use it: with 1-bit units for the data words, with 512-bit units
 *   (one 64-byte block of the bitmap's summary each) for the summary's marks.
 */
import type { IovaBitmap } from '@iovabitmap/core';
import { createRng } from '@iovabitmap/workers/internal';

/** A job for one setter worker. */
export type SetterJob =
  | { readonly kind: 'ranges'; readonly seed: number; readonly ops: number; readonly maxBits: number }
  | { readonly kind: 'stride'; readonly seed: number; readonly stride: number; readonly offset: number; readonly unit?: number };

/** What the generator needs of each bitmap. */
export interface OpGeometry {
  readonly nbits: number;
  readonly iova: bigint;
}

/** Receives the operations; `bits` is called with the exact bit span each operation must set. */
export interface OpVisitor {
  setBits(target: number, first: number, count: number): void;
  set(target: number, iova: bigint, length: bigint, first: number, last: number): void;
  orMask(target: number, first: number, mask: number): void;
  setUnits(target: number, unit: number, count: number, first: number): void;
}

const PAGE = 4096;

/** Generates the job's operations in order; see the module comment. */
export function forEachOp(job: SetterJob, geoms: readonly OpGeometry[], v: OpVisitor): void {
  const rng = createRng(job.seed);
  if (job.kind === 'stride') {
    const unit = job.unit ?? 1;
    for (let t = 0; t < geoms.length; t++) {
      const nbits = geoms[t]!.nbits;
      const firsts: number[] = [];
      for (let b = job.offset * unit; b < nbits; b += job.stride * unit) firsts.push(b);
      for (let i = firsts.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [firsts[i], firsts[j]] = [firsts[j]!, firsts[i]!];
      }
      for (const b of firsts) v.setBits(t, b, Math.min(unit, nbits - b));
    }
    return;
  }
  for (let i = 0; i < job.ops; i++) {
    const t = rng.int(geoms.length);
    const g = geoms[t]!;
    const first = rng.int(g.nbits);
    const count = 1 + rng.int(job.maxBits);
    switch (rng.int(4)) {
      case 0:
        v.setBits(t, first, count);
        break;
      case 1: {
        const off = rng.int(PAGE);
        const len = 1 + rng.int(count * PAGE);
        const last = Math.min(g.nbits - 1, Math.floor((first * PAGE + off + len - 1) / PAGE));
        v.set(t, g.iova + BigInt(first * PAGE + off), BigInt(len), first, last);
        break;
      }
      case 2:
        v.orMask(t, first, rng.u32() | 0);
        break;
      default:
        v.setUnits(t, Number(g.iova / BigInt(PAGE)) + first, count, first);
    }
  }
}

/** Applies the operations to real bitmaps (in a worker). */
export function applyOps(job: SetterJob, bitmaps: readonly IovaBitmap[]): number {
  let n = 0;
  forEachOp(job, bitmaps, {
    setBits: (t, first, count) => (n++, bitmaps[t]!.setBits(first, count)),
    set: (t, iova, length) => (n++, bitmaps[t]!.set(iova, length)),
    orMask: (t, first, mask) => (n++, bitmaps[t]!.orMask(first, mask)),
    setUnits: (t, unit, count) => (n++, bitmaps[t]!.setUnits(unit, count, 12)),
  });
  return n;
}
