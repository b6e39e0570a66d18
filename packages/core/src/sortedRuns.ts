/**
 * Binary search over a sorted list of numbers, shared by every sorted list of the project: run
 * starts (the page table's mapped areas and leaf areas, the device's covered and writable regions,
 * the migration checker's unit maps), run ends (the tracker's ranges, for a device write) and
 * prefix sums (the parallel engine's chunk plan: first piece of each window, first chunk of each
 * source).
 */

import { typedArrayTag } from './buffers.js';
import { IovaBitmapError } from './IovaBitmapError.js';

/**
 * Index of the last element of the ascending list `starts` that is <= p, or -1 (binary search).
 * @param starts - an array of numbers, or a Float64Array
 * @throws IovaBitmapError `EINVAL` when `starts` is neither or `p` is not a number (NaN included).
 */
export function lastAtOrBefore(starts: readonly number[] | Float64Array, p: number): number {
  if (!Array.isArray(starts) && typedArrayTag(starts) !== 'Float64Array') {
    throw IovaBitmapError.bad('EINVAL', 'lastAtOrBefore', 'starts', starts, 'must be an array of numbers or a Float64Array');
  }
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
