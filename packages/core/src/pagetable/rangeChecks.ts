/**
 * Argument checks of IoPageTable, in iommufd's order and with its codes.
 *
 * Theory of operation
 * -------------------
 * iommufd_check_iova_range rejects a range whose last byte overflows or passes the address width
 * (EOVERFLOW) before one that is not aligned to the smallest IOMMU page (EINVAL). A zero length
 * differs by use:
 * - a report (GET_DIRTY_BITMAP: IoPageTable.checkReport, readAndClearDirty) gives EOVERFLOW, as
 *   the kernel does: it computes the last byte as iova + length - 1, which for length 0 wraps (an
 *   overflow for any iova above 0, and for iova 0 the last byte 2^64 - 1, past every table's
 *   address width);
 * - map and unmap give EINVAL (our rule: an empty mapping is an invalid argument, not an overflow).
 * Every check runs before anything is written, and converts the range once to 4 KiB page numbers,
 * exact as plain numbers (a 57-bit IOVA has at most 2^45 pages).
 */
import { IovaBitmapError } from '../IovaBitmapError.js';
import { PAGE_MASK_BIG, PAGE_SHIFT, pageOf } from '../sizes.js';
import { toU64, type U64Like } from '../u64.js';

/** A checked range: exact bytes and 4 KiB page numbers. */
export interface PageRange {
  /** First byte. */
  readonly iova: bigint;
  /** One past the last byte. */
  readonly end: bigint;
  /** First 4 KiB page. */
  readonly first: number;
  /** One past the last 4 KiB page. */
  readonly last: number;
}

/** The address-space size of a table with `levels` levels, bytes: 2^48 or 2^57. */
export function addressLimit(levels: number): bigint {
  return 1n << BigInt(PAGE_SHIFT + 9 * levels);
}

/**
 * Checks a non-empty, 4 KiB-aligned range inside the address width.
 * @param zeroLength - the code for length 0: `EINVAL` for map and unmap, `EOVERFLOW` for a report
 *   (module comment)
 * @throws IovaBitmapError `EINVAL` (not an integer, unaligned, zero length for map/unmap),
 *   `EOVERFLOW` (past 2^64 - 1 or past the table's address width; zero length for a report).
 */
export function checkPageRange(
  where: string,
  iovaIn: U64Like,
  lengthIn: U64Like,
  levels: number,
  zeroLength: 'EINVAL' | 'EOVERFLOW' = 'EINVAL',
): PageRange {
  const iova = toU64(where, 'iova', iovaIn);
  const length = toU64(where, 'length', lengthIn);
  if (length === 0n) {
    const why = zeroLength === 'EOVERFLOW' ? 'must be greater than 0 (iova + length - 1 wraps)' : 'must be greater than 0';
    throw IovaBitmapError.bad(zeroLength, where, 'length', length, why);
  }
  const end = iova + length;
  const limit = addressLimit(levels);
  if (end > limit) {
    throw IovaBitmapError.bad('EOVERFLOW', where, 'length', length, `takes iova ${iova} past the ${PAGE_SHIFT + 9 * levels}-bit address width (${limit})`);
  }
  if ((iova & PAGE_MASK_BIG) !== 0n) throw IovaBitmapError.bad('EINVAL', where, 'iova', iova, 'must be aligned to 4096');
  if ((length & PAGE_MASK_BIG) !== 0n) throw IovaBitmapError.bad('EINVAL', where, 'length', length, 'must be aligned to 4096');
  return { iova, end, first: pageOf(iova), last: pageOf(end) };
}

/**
 * Checks a device write: any byte range (a DMA need not be page-aligned) inside the address width.
 * @returns the 4 KiB pages it touches, [first, last), or undefined for length 0
 * @throws IovaBitmapError `EINVAL` (not an integer), `EOVERFLOW` (past the address width)
 */
export function checkWriteRange(where: string, iovaIn: U64Like, lengthIn: U64Like, levels: number): { first: number; last: number } | undefined {
  const iova = toU64(where, 'iova', iovaIn);
  const length = toU64(where, 'length', lengthIn);
  if (iova + length > addressLimit(levels)) {
    throw IovaBitmapError.bad('EOVERFLOW', where, 'length', length, `takes iova ${iova} past the ${PAGE_SHIFT + 9 * levels}-bit address width`);
  }
  if (length === 0n) return undefined;
  return { first: pageOf(iova), last: pageOf(iova + length - 1n) + 1 };
}
