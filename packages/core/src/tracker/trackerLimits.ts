/**
 * The device limits of a VF dirty tracker, and their validation.
 *
 * Theory of operation
 * -------------------
 * A device that logs its own DMA (VFIO DMA logging, as mlx5 implements it) advertises a few
 * capabilities: how many IOVA ranges its tracker can hold (mlx5's pg_track_max_num_range), the
 * smallest and largest tracking page size it supports (log_min/log_max page size), and the
 * smallest and largest address space it can track (log_min/log_max address space: mlx5 checks
 * log2 of the total length of the ranges, rounded up, against both). The tracker is built with
 * these once;
 * {@link normalizeLimits} checks them and fills in the defaults, so the rest of the tracker works on
 * exact values: counts as numbers, sizes as bigints (bytes), spans as log2.
 */
import { IovaBitmapError, MAX_NAME_CHARS } from '../IovaBitmapError.js';
import { GiB, PAGE_SHIFT } from '../sizes.js';
import { checkInt, log2Exact, toU64, type U64Like } from '../u64.js';

/** VFIO's cap on the ranges of one DMA logging START: PAGE_SIZE / 16 = 256. */
export const VFIO_MAX_LOG_RANGES = 256;
/** The smallest tracker or report page size VFIO accepts, bytes (4 KiB). */
export const VFIO_MIN_PAGE_SIZE = 4096n;

/** Device limits given to `new VfTracker(limits)`. Every field is optional. */
export interface VfTrackerLimits {
  /** Name of the source in stats and errors, 1 to 64 characters. @defaultValue `'vf'` */
  readonly name?: string;
  /**
   * The most ranges the device tracks at once (mlx5's pg_track_max_num_range), 1..256. More ranges
   * given to `start` are merged, smallest gap first. @defaultValue 4
   */
  readonly maxRanges?: number;
  /** Smallest tracker page size, bytes; a power of two, at least 4096. @defaultValue 4096 */
  readonly minPageSize?: U64Like;
  /** Largest tracker page size, bytes; a power of two, at least `minPageSize`. @defaultValue 2^30, or `minPageSize` when that is larger */
  readonly maxPageSize?: U64Like;
  /**
   * log2 of the smallest address space the device tracks, 12..64 (mlx5's
   * pg_track_log_min_addr_space): log2 of the total length of the (merged) ranges, rounded up,
   * must be at least this. @defaultValue 12
   */
  readonly minSpanLog2?: number;
  /**
   * log2 of the largest address space the device tracks, minSpanLog2..64 (mlx5's
   * pg_track_log_max_addr_space): log2 of the total length of the (merged) ranges, rounded up,
   * must be at most this. @defaultValue 48
   */
  readonly maxSpanLog2?: number;
}

/** {@link VfTrackerLimits} with every default filled in and every value checked. */
export interface VfDeviceLimits {
  /** Source name. */
  readonly name: string;
  /** Most ranges tracked at once, 1..256. */
  readonly maxRanges: number;
  /** Smallest tracker page size, bytes (power of two, >= 4096). */
  readonly minPageSize: bigint;
  /** Largest tracker page size, bytes (power of two, >= minPageSize). */
  readonly maxPageSize: bigint;
  /** log2 of the smallest trackable total length, bytes, 12..64. */
  readonly minSpanLog2: number;
  /** log2 of the largest trackable total length, bytes, minSpanLog2..64. */
  readonly maxSpanLog2: number;
}

/** The defaults of {@link VfTrackerLimits}. */
const DEFAULT_VF_LIMITS: VfDeviceLimits = Object.freeze({
  name: 'vf',
  maxRanges: 4,
  minPageSize: VFIO_MIN_PAGE_SIZE,
  maxPageSize: GiB,
  minSpanLog2: PAGE_SHIFT,
  maxSpanLog2: 48,
});

function pageSizeLimit(where: string, param: string, v: unknown, atLeast: bigint): bigint {
  const size = toU64(where, param, v);
  if (log2Exact(size) < 0 || size < atLeast) {
    throw IovaBitmapError.bad('EINVAL', where, param, size, `must be a power of two of at least ${atLeast} bytes`);
  }
  return size;
}

/**
 * Checks device limits and fills in the defaults.
 * @param limits - the constructor argument; `undefined` means all defaults
 * @throws IovaBitmapError `EINVAL` naming the bad field (a name that is not a non-empty string, a
 *   count or log2 out of range, a page size that is not a power of two >= 4096, a maximum page size
 *   or span below its minimum); `EOVERFLOW` for a page size past 2^64 - 1.
 */
export function normalizeLimits(limits: VfTrackerLimits | undefined): VfDeviceLimits {
  const where = 'VfTracker';
  if (limits === undefined) return DEFAULT_VF_LIMITS;
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw IovaBitmapError.bad('EINVAL', where, 'limits', limits, 'must be an object or undefined');
  }
  const name = limits.name ?? DEFAULT_VF_LIMITS.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_CHARS) {
    throw IovaBitmapError.bad('EINVAL', where, 'limits.name', name, `must be a non-empty string of at most ${MAX_NAME_CHARS} characters`);
  }
  const maxRanges = checkInt(where, 'limits.maxRanges', limits.maxRanges ?? DEFAULT_VF_LIMITS.maxRanges, 1, VFIO_MAX_LOG_RANGES);
  const minPageSize = pageSizeLimit(where, 'limits.minPageSize', limits.minPageSize ?? DEFAULT_VF_LIMITS.minPageSize, VFIO_MIN_PAGE_SIZE);
  const maxPageSize = pageSizeLimit(
    where,
    'limits.maxPageSize',
    limits.maxPageSize ?? (minPageSize > DEFAULT_VF_LIMITS.maxPageSize ? minPageSize : DEFAULT_VF_LIMITS.maxPageSize),
    minPageSize,
  );
  const minSpanLog2 = checkInt(where, 'limits.minSpanLog2', limits.minSpanLog2 ?? DEFAULT_VF_LIMITS.minSpanLog2, PAGE_SHIFT, 64);
  const maxSpanLog2 = checkInt(where, 'limits.maxSpanLog2', limits.maxSpanLog2 ?? Math.max(minSpanLog2, DEFAULT_VF_LIMITS.maxSpanLog2), minSpanLog2, 64);
  return Object.freeze({ name, maxRanges, minPageSize, maxPageSize, minSpanLog2, maxSpanLog2 });
}
