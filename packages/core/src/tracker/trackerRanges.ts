/**
 * What a DMA logging START asks for, checked and fitted to the device.
 *
 * Theory of operation
 * -------------------
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_START carries a page size and a list of IOVA ranges. The VFIO
 * core checks them before the driver sees them (vfio_main.c; docs/design/vfio-tracker.md §2),
 * and the driver then fits them to its hardware (mlx5, drivers/vfio/pci/mlx5/cmd.c; §3 there).
 * {@link planTracking} does both, in that order, on exact 64-bit bigints, and changes nothing: it
 * returns a plan or throws.
 *
 *   1. VFIO core: at least one range (EINVAL) and at most 256 (E2BIG). Then each range in the
 *      order given, stopping at the first failure, as the kernel's loop does: iova and length
 *      aligned to the page size (EINVAL), iova + length that fits in 64 bits (EOVERFLOW; the end
 *      itself must be below 2^64), and no overlap with any *earlier* range (EINVAL; touching is
 *      fine). So [0, +8K), [4K, +8K), [2^64 - 4K, +8K) is EINVAL (range 1 overlaps range 0)
 *      although range 2 also overflows.
 *      Stricter than the kernel, on purpose: the page size must be a power of two of at least
 *      4 KiB (EINVAL, checked before the ranges), and a range must not be empty (EINVAL, with its
 *      alignment). The kernel's START checks neither: its alignment test is a mask test that means
 *      nothing for a page size that is not a power of two (and 0 passes only iova 0), mlx5 then
 *      takes ilog2 of it and clamps, and an empty range becomes an interval whose last byte lies
 *      before its first. REPORT refuses such page sizes anyway, and the record memory here is laid
 *      out in 4 KiB units, so refusing them at START loses no meaningful request.
 *   2. Device: more ranges than `maxRanges` are merged, two neighbours at a time, always the pair
 *      with the smallest gap between them (the first such pair on a tie), until they fit (as
 *      vfio_combine_iova_ranges). Merging changes no other gap, so the result is the same as
 *      closing the (n - maxRanges) smallest gaps at once; every original range stays covered.
 *   3. Device: the tracker page size is the requested one clamped to [minPageSize, maxPageSize];
 *      the caller gets it back.
 *   4. Device: the address space the tracker is created with is log2 of the *total length* of the
 *      merged ranges, rounded up (mlx5 rounds the sum up to a power of two before taking its log2,
 *      since kernel commit ce06a7000f0e; before it rounded down), and it must lie in
 *      [minSpanLog2, maxSpanLog2], else EOPNOTSUPP. Not the distance from the first start to the last end: [0, +4K) and
 *      [2^47, +4K) total 8 KiB, log2 13, and fit a 40-bit device.
 *
 * Ranges are kept as half-open intervals [start, end) of bytes, sorted by start.
 */
import { IovaBitmapError } from '../IovaBitmapError.js';
import { log2Exact, toU64, U64_MAX } from '../u64.js';
import { type VfDeviceLimits, VFIO_MAX_LOG_RANGES, VFIO_MIN_PAGE_SIZE } from './trackerLimits.js';

/** A half-open IOVA interval [start, end), bytes. */
export interface IovaInterval {
  /** First IOVA, bytes. */
  readonly start: bigint;
  /** One past the last IOVA, bytes (< 2^64 for tracked ranges). */
  readonly end: bigint;
}

/** An IOVA range as the uAPI spells it. */
export interface IovaSpan {
  /** First IOVA, bytes. */
  readonly iova: bigint;
  /** Length, bytes. */
  readonly length: bigint;
}

/** The outcome of a START that passed every check. */
export interface TrackingPlan {
  /** Tracker page size, bytes: the request clamped to the device's limits. */
  readonly pageSize: bigint;
  /** log2(pageSize), 12..63. */
  readonly pageShift: number;
  /** The ranges the device tracks: merged to at most maxRanges, sorted, disjoint. */
  readonly ranges: readonly IovaInterval[];
}

/**
 * VFIO core checks of a START (step 1 of the module comment).
 * @returns the page size and the ranges as sorted intervals
 * @throws IovaBitmapError `EINVAL`, `E2BIG` or `EOVERFLOW`, naming the parameter (e.g.
 *   `ranges[2].length`) and its value.
 */
export function checkStartRequest(where: string, ranges: unknown, pageSizeIn: unknown): { pageSize: bigint; sorted: IovaInterval[] } {
  if (!Array.isArray(ranges)) throw IovaBitmapError.bad('EINVAL', where, 'ranges', ranges, 'must be an array of { iova, length }');
  if (ranges.length === 0) throw IovaBitmapError.bad('EINVAL', where, 'ranges.length', 0, 'must be at least 1');
  if (ranges.length > VFIO_MAX_LOG_RANGES) {
    throw IovaBitmapError.bad('E2BIG', where, 'ranges.length', ranges.length, `must be at most ${VFIO_MAX_LOG_RANGES}`);
  }
  const pageSize = toU64(where, 'pageSize', pageSizeIn);
  if (log2Exact(pageSize) < 0 || pageSize < VFIO_MIN_PAGE_SIZE) {
    throw IovaBitmapError.bad('EINVAL', where, 'pageSize', pageSize, 'must be a power of two of at least 4096 bytes');
  }
  const mask = pageSize - 1n;
  // The ranges accepted so far, sorted by start, each with its index in the request.
  const sorted: { start: bigint; end: bigint; index: number }[] = [];
  ranges.forEach((r: unknown, i: number) => {
    const p = `ranges[${i}]`;
    if (typeof r !== 'object' || r === null) throw IovaBitmapError.bad('EINVAL', where, p, r, 'must be an object { iova, length }');
    const { iova: iovaIn, length: lengthIn } = r as { iova?: unknown; length?: unknown };
    const iova = toU64(where, `${p}.iova`, iovaIn);
    const length = toU64(where, `${p}.length`, lengthIn);
    if (length === 0n) throw IovaBitmapError.bad('EINVAL', where, `${p}.length`, length, 'must be greater than 0');
    if ((iova & mask) !== 0n) throw IovaBitmapError.bad('EINVAL', where, `${p}.iova`, iova, `must be aligned to pageSize ${pageSize}`);
    if ((length & mask) !== 0n) {
      throw IovaBitmapError.bad('EINVAL', where, `${p}.length`, length, `must be aligned to pageSize ${pageSize}`);
    }
    if (iova + length > U64_MAX) {
      throw IovaBitmapError.bad('EOVERFLOW', where, `${p}.length`, length, `makes iova ${iova} + length overflow 64 bits`);
    }
    const end = iova + length;
    // Overlap with an earlier range: only the neighbours in start order can overlap [iova, end).
    let k = 0;
    while (k < sorted.length && sorted[k]!.start < iova) k++;
    const hit = [sorted[k - 1], sorted[k]].find((o) => o !== undefined && o.start < end && iova < o.end);
    if (hit !== undefined) {
      throw IovaBitmapError.bad('EINVAL', where, p, { iova, length }, `must not overlap ranges[${hit.index}] [${hit.start}, ${hit.end})`);
    }
    sorted.splice(k, 0, { start: iova, end, index: i });
  });
  return { pageSize, sorted: sorted.map(({ start, end }) => ({ start, end })) };
}

/**
 * Merges sorted disjoint intervals until at most `maxRanges` remain, each step joining the two
 * neighbours with the smallest gap (the leftmost pair on a tie). Returns a new array; the input is
 * not changed. O(n^2) for n <= 256, like the kernel's loop.
 */
export function combineIovaRanges(sorted: readonly IovaInterval[], maxRanges: number): IovaInterval[] {
  const out = sorted.map(({ start, end }) => ({ start, end }));
  while (out.length > maxRanges && out.length > 1) {
    let best = 0;
    let bestGap = out[1]!.start - out[0]!.end;
    for (let i = 1; i + 1 < out.length; i++) {
      const gap = out[i + 1]!.start - out[i]!.end;
      if (gap < bestGap) {
        bestGap = gap;
        best = i;
      }
    }
    out.splice(best, 2, { start: out[best]!.start, end: out[best + 1]!.end });
  }
  return out;
}

/** ceil(log2(x)) for x >= 1 (mlx5's ilog2(roundup_pow_of_two(x))). */
function ceilLog2(x: bigint): number {
  return x <= 1n ? 0 : (x - 1n).toString(2).length;
}

/** The requested page size clamped to [min, max], bytes. */
function clampPageSize(requested: bigint, min: bigint, max: bigint): bigint {
  return requested < min ? min : requested > max ? max : requested;
}

/**
 * Checks a START and fits it to the device (all four steps of the module comment).
 * @throws IovaBitmapError `EINVAL`, `E2BIG`, `EOVERFLOW` (VFIO core) or `EOPNOTSUPP` (the total
 *   length of the merged ranges outside the device's address-space limits).
 */
export function planTracking(where: string, options: unknown, limits: VfDeviceLimits): TrackingPlan {
  if (typeof options !== 'object' || options === null) {
    throw IovaBitmapError.bad('EINVAL', where, 'options', options, 'must be an object { ranges, pageSize }');
  }
  const o = options as { ranges?: unknown; pageSize?: unknown };
  if (!Array.isArray(o.ranges)) throw IovaBitmapError.bad('EINVAL', where, 'ranges', o.ranges, 'must be an array of { iova, length }');
  const { pageSize: requested, sorted } = checkStartRequest(where, o.ranges, o.pageSize);
  const ranges = combineIovaRanges(sorted, limits.maxRanges);
  const pageSize = clampPageSize(requested, limits.minPageSize, limits.maxPageSize);
  const total = ranges.reduce((n, r) => n + (r.end - r.start), 0n);
  const log2 = ceilLog2(total);
  if (log2 < limits.minSpanLog2 || log2 > limits.maxSpanLog2) {
    throw IovaBitmapError.bad(
      'EOPNOTSUPP',
      where,
      'ranges',
      total,
      `must total (after merging) a length whose log2, rounded up, lies in the device's [${limits.minSpanLog2}, ${limits.maxSpanLog2}]; it is ${log2}`,
    );
  }
  return { pageSize, pageShift: log2Exact(pageSize), ranges };
}

/** The intervals as uAPI ranges { iova, length }. */
export function toSpans(ranges: readonly IovaInterval[]): IovaSpan[] {
  return ranges.map(({ start, end }) => ({ iova: start, length: end - start }));
}
