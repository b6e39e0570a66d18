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
 *   1. VFIO core: at least one range (EINVAL) and at most 256 (E2BIG); a page size that is a power
 *      of two of at least 4 KiB (EINVAL); per range, in the order given: a length > 0 (EINVAL),
 *      iova and length aligned to the page size (EINVAL), iova + length that fits in 64 bits
 *      (EOVERFLOW; like the kernel's check_add_overflow, the end itself must be below 2^64); then
 *      no two ranges overlapping (EINVAL; touching is fine).
 *   2. Device: more ranges than `maxRanges` are merged, two neighbours at a time, always the pair
 *      with the smallest gap between them (the first such pair on a tie), until they fit (as
 *      vfio_combine_iova_ranges). Merging changes no other gap, so the result is the same as
 *      closing the (n - maxRanges) smallest gaps at once; every original range stays covered.
 *   3. Device: the tracker page size is the requested one clamped to [minPageSize, maxPageSize];
 *      the caller gets it back.
 *   4. Device: the span from the first start to the last end must be at most 2^maxSpanLog2 bytes,
 *      i.e. ceil(log2(span)) <= maxSpanLog2, else EOPNOTSUPP.
 *
 * Ranges are kept as half-open intervals [start, end) of bytes, sorted by start.
 */
import { IovaBitmapError } from '../errors.js';
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
  const list: { start: bigint; end: bigint; index: number }[] = [];
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
    list.push({ start: iova, end: iova + length, index: i });
  });
  list.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.index - b.index));
  for (let k = 1; k < list.length; k++) {
    const prev = list[k - 1]!;
    const cur = list[k]!;
    if (cur.start < prev.end) {
      const [first, second] = prev.index < cur.index ? [prev, cur] : [cur, prev];
      throw IovaBitmapError.bad(
        'EINVAL',
        where,
        `ranges[${second.index}]`,
        { iova: second.start, length: second.end - second.start },
        `must not overlap ranges[${first.index}] [${first.start}, ${first.end})`,
      );
    }
  }
  return { pageSize, sorted: list.map(({ start, end }) => ({ start, end })) };
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

/** The requested page size clamped to [min, max], bytes. */
export function clampPageSize(requested: bigint, min: bigint, max: bigint): bigint {
  return requested < min ? min : requested > max ? max : requested;
}

/**
 * Checks a START and fits it to the device (all four steps of the module comment).
 * @throws IovaBitmapError `EINVAL`, `E2BIG`, `EOVERFLOW` (VFIO core) or `EOPNOTSUPP` (span too
 *   large for the device).
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
  const span = ranges[ranges.length - 1]!.end - ranges[0]!.start;
  if (span > 1n << BigInt(limits.maxSpanLog2)) {
    throw IovaBitmapError.bad(
      'EOPNOTSUPP',
      where,
      'ranges',
      span,
      `must span at most 2^${limits.maxSpanLog2} bytes (the device's maxSpanLog2) from the first start to the last end`,
    );
  }
  return { pageSize, pageShift: log2Exact(pageSize), ranges };
}

/** The intervals as uAPI ranges { iova, length }. */
export function toSpans(ranges: readonly IovaInterval[]): IovaSpan[] {
  return ranges.map(({ start, end }) => ({ iova: start, length: end - start }));
}
