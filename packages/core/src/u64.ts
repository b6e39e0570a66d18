/**
 * Exact 64-bit IOVA values at the API boundary.
 *
 * Public APIs accept an IOVA, length or page size as `bigint` or `number`. A number must be a
 * non-negative safe integer (at most 2^53 - 1); anything larger must come as a bigint, because a
 * silently rounded IOVA is a corrupted report. Inside, hot paths work on page or bit indices as
 * plain numbers; only the boundary uses bigint.
 */
import { IovaBitmapError } from './IovaBitmapError.js';

/** An IOVA, byte length or page size: a bigint, or a number that is a safe non-negative integer. */
export type U64Like = bigint | number;

/** 2^64: one past the largest IOVA. */
export const U64_LIMIT = 1n << 64n;
/** The largest IOVA, 2^64 - 1. */
export const U64_MAX = U64_LIMIT - 1n;

/**
 * Converts an API argument to an exact bigint in [0, 2^64 - 1].
 * @throws IovaBitmapError `EINVAL` for a negative, fractional or unsafe number, or a non-integer;
 *   `EOVERFLOW` for a bigint of 2^64 or more.
 */
export function toU64(where: string, param: string, v: unknown): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw IovaBitmapError.bad('EINVAL', where, param, v, 'must not be negative');
    if (v > U64_MAX) throw IovaBitmapError.bad('EOVERFLOW', where, param, v, 'does not fit in 64 bits');
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) {
      throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a non-negative integer');
    }
    if (!Number.isSafeInteger(v)) {
      throw IovaBitmapError.bad('EINVAL', where, param, v, 'is above 2^53 - 1 and may have lost precision; pass a bigint');
    }
    return BigInt(v);
  }
  throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a bigint or a safe integer number');
}

/**
 * log2 of a power of two bigint; -1 when `v` is not a power of two.
 * @throws IovaBitmapError `EINVAL` when `v` is not a bigint.
 */
export function log2Exact(v: bigint): number {
  if (typeof v !== 'bigint') throw IovaBitmapError.bad('EINVAL', 'log2Exact', 'v', v, 'must be a bigint');
  if (v <= 0n || (v & (v - 1n)) !== 0n) return -1;
  return v.toString(2).length - 1;
}

/**
 * The one check of a plain integer (counts, offsets, indices, thread numbers): a number that is an
 * integer in [min, max]. The defaults make it "a safe integer >= min"; `min` = -(2^53 - 1) makes it
 * any safe integer (a larger number has lost precision, a string would be concatenated, a fraction
 * would address the wrong bit).
 * @param why - appended to the message (what the bounds come from)
 * @returns `v`
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkInt(where: string, param: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER, why?: string): number {
  if (typeof min !== 'number' || typeof max !== 'number' || !(min <= max)) {
    throw IovaBitmapError.bad('EINVAL', 'checkInt', 'min', [min, max], 'and max must be numbers with min <= max');
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw IovaBitmapError.bad('EINVAL', where, param, v, `${intRange(min, max)}${why === undefined ? '' : ` ${why}`}`);
  }
  return v;
}

/** What {@link checkInt} asks for, in words. */
function intRange(min: number, max: number): string {
  const safe = Number.MAX_SAFE_INTEGER;
  if (max === safe) return min === -safe ? 'must be a safe integer' : min === 0 ? 'must be a non-negative safe integer' : `must be a safe integer >= ${min}`;
  return `must be an integer in [${min}, ${max}]`;
}
