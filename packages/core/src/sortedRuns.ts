/**
 * Binary search over sorted run starts, shared by every sorted run list of the project (the page
 * table's mapped areas, the device's writable region, the migration checker's unit maps).
 */

import { IovaBitmapError } from './IovaBitmapError.js';

/**
 * Index of the last element of the ascending array `starts` that is <= p, or -1 (binary search).
 * @throws IovaBitmapError `EINVAL` when `starts` is not an array or `p` is not a number (NaN included).
 */
export function lastAtOrBefore(starts: readonly number[], p: number): number {
  if (!Array.isArray(starts)) throw IovaBitmapError.bad('EINVAL', 'lastAtOrBefore', 'starts', starts, 'must be an array of numbers');
  if (typeof p !== 'number' || Number.isNaN(p)) throw IovaBitmapError.bad('EINVAL', 'lastAtOrBefore', 'p', p, 'must be a number');
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
