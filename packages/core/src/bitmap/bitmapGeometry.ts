/**
 * The arithmetic of a bitmap's geometry, checked once: IOVA range and page size to bits, and the
 * per-unit-size bases that let the numeric hot path (IovaBitmap.setUnits / bitOfUnit) work on
 * numbers.
 *
 * Theory of operation
 * -------------------
 * {@link bitmapGeometry} is iommufd's check (docs/design/iommufd.md §3) plus ours: a power-of-two
 * page size from 1 to 2^63, a non-zero length, iova + length - 1 within 64 bits, both aligned, and
 * at most {@link MAX_BITMAP_BITS} bits (the one size limit: what one Int32Array of words can
 * address). It returns exact bigints and the bit count as a number.
 *
 * A source counts IOVA in units of 2^s bytes (4 KiB pages, tracker pages). With the bitmap's iova
 * written as baseUnits * 2^s + rem, the bit of unit u is (u - baseUnits) * 2^(s - p) - rem / 2^p
 * when 2^s >= the page size 2^p, else floor((u - baseUnits) / 2^(p - s)) (rem is then 0, since
 * the iova is page-aligned). {@link unitBaseOf} computes baseUnits and rem / 2^p once per s; either
 * is NaN when it is not exactly representable as a number, which sends the caller to the exact
 * bigint path.
 */
import { IovaBitmapError } from '../IovaBitmapError.js';
import { checkInt, log2Exact, toU64, U64_MAX } from '../u64.js';

/**
 * Largest bitmap, bits: 2^37 - 32 (16 GiB of bitmap less one word; 512 TiB of IOVA at 4 KiB pages,
 * where the kernel's legacy VFIO type1 interface stopped at 2^31 bits). The words that hold a
 * bitmap's bits are one Int32Array (./bitKernels.ts), and V8 caps a typed array at 2^32 elements;
 * at a byteOffset that is not a multiple of 4 the first word also holds up to 3 bytes before the
 * bitmap, hence one word less than 2^37 bits. Larger bitmaps get `E2BIG`.
 *
 * Why not cut a larger bitmap into several Int32Arrays: every kernel of ./bitKernels.ts (and every
 * walk that writes 32 bits at a time) would have to find the segment of each word, for bitmaps
 * that a host can rarely hold anyway; 16 GiB of bitmap already describes more IOVA than any
 * current IOMMU maps.
 */
export const MAX_BITMAP_BITS = 2 ** 37 - 32;

/** A checked geometry: exact bigints, and the bit and byte counts as numbers. */
export interface BitmapGeometry {
  readonly pageSize: bigint;
  readonly pageShift: number;
  readonly iova: bigint;
  readonly length: bigint;
  /** length / pageSize. */
  readonly nbits: number;
  /** ceil(nbits / 8). */
  readonly bytes: number;
}

/**
 * Checks and converts a bitmap's IOVA range and page size.
 * @param where - the API name for error messages
 * @throws IovaBitmapError `EINVAL` (page size, zero length, alignment), `EOVERFLOW` (past 2^64 - 1),
 *   `E2BIG` (more than {@link MAX_BITMAP_BITS} bits).
 */
export function bitmapGeometry(where: string, iovaIn: unknown, lengthIn: unknown, pageSizeIn: unknown): BitmapGeometry {
  const pageSize = toU64(where, 'pageSize', pageSizeIn);
  const pageShift = log2Exact(pageSize);
  if (pageShift < 0) throw IovaBitmapError.bad('EINVAL', where, 'pageSize', pageSize, 'must be a power of two from 1 to 2^63');
  const iova = toU64(where, 'iova', iovaIn);
  const length = lengthIn === undefined ? undefined : toU64(where, 'length', lengthIn);
  if (length === undefined || length === 0n) throw IovaBitmapError.bad('EINVAL', where, 'length', lengthIn, 'must be greater than 0');
  if (iova + length - 1n > U64_MAX) {
    throw IovaBitmapError.bad('EOVERFLOW', where, 'length', length, `makes iova ${iova} + length - 1 pass 2^64 - 1`);
  }
  if ((iova & (pageSize - 1n)) !== 0n) throw IovaBitmapError.bad('EINVAL', where, 'iova', iova, `must be aligned to pageSize ${pageSize}`);
  if ((length & (pageSize - 1n)) !== 0n) {
    throw IovaBitmapError.bad('EINVAL', where, 'length', length, `must be aligned to pageSize ${pageSize}`);
  }
  const nbitsBig = length >> BigInt(pageShift);
  if (nbitsBig > BigInt(MAX_BITMAP_BITS)) {
    throw IovaBitmapError.bad('E2BIG', where, 'length', length, `needs ${nbitsBig} bits at pageSize ${pageSize}; at most 2^37 - 32 (16 GiB of bitmap) are addressable`);
  }
  const nbits = Number(nbitsBig);
  return { pageSize, pageShift, iova, length, nbits, bytes: Math.ceil(nbits / 8) };
}

/** Where unit 0 of size 2^s lies relative to the bitmap's bit 0 (module comment). */
export interface UnitBase {
  /** floor(iova / 2^s) as an exact number, or NaN when it is not exactly representable. */
  readonly baseUnits: number;
  /** (iova mod 2^s) / pageSize when 2^s >= pageSize, else 0; NaN when not exact. */
  readonly remBits: number;
}

/**
 * The {@link UnitBase} of units of 2^unitShift bytes for a bitmap at `iova` with pages of
 * 2^pageShift bytes.
 * @throws IovaBitmapError `EINVAL` when `unitShift` is not an integer in [0, 63].
 */
export function unitBaseOf(where: string, iova: bigint, pageShift: number, unitShift: number): UnitBase {
  checkInt(where, 'unitShift', unitShift, 0, 63);
  const s = BigInt(unitShift);
  const q = iova >> s;
  const rem = iova - (q << s);
  const remBits = unitShift >= pageShift ? rem >> BigInt(pageShift) : 0n;
  return {
    baseUnits: q <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(q) : Number.NaN,
    // Above 2^53 the remainder would be rounded; NaN sends setUnits to its exact bigint path.
    remBits: remBits <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(remBits) : Number.NaN,
  };
}
