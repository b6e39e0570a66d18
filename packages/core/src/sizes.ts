/**
 * Byte sizes and the 4 KiB page: the one home of these constants for every package's sources
 * (the tests have their own, test/helpers/sizes.ts, so that a wrong constant here cannot hide
 * behind the same constant in a test).
 *
 * Theory of operation
 * -------------------
 * IOVA sizes at the API are bigints and page or bit indices in hot paths are numbers, so each
 * size comes in both forms, told apart by case: `KiB`, `MiB`, `GiB`, `TiB` are bigints (`64n * GiB`),
 * `KIB`, `MIB`, `GIB`, `TIB` the same sizes as numbers. The compiler refuses to mix the two.
 *
 * The 4 KiB page is the unit every source counts IOVA in (the smallest IOMMU leaf and table
 * granule, the smallest VFIO tracker and report page): its page number is iova >> 12, a number
 * (exact: a 64-bit IOVA has fewer than 2^52 pages). {@link pageOf}, {@link pageCeilOf} and
 * {@link pageIova} are the conversions. Other 4096s are other ideas and keep their own names: the
 * size of a page-table page (TABLE_PAGE_BYTES), of the host memory pages a bitmap is pinned in
 * (BITMAP_PAGE_BYTES), VFIO's smallest page size (VFIO_MIN_PAGE_SIZE).
 */

/** 2^10 bytes, bigint. */
export const KiB = 1n << 10n;
/** 2^20 bytes, bigint. */
export const MiB = 1n << 20n;
/** 2^30 bytes, bigint. */
export const GiB = 1n << 30n;
/** 2^40 bytes, bigint. */
export const TiB = 1n << 40n;
/** 2^10 bytes, number. */
export const KIB = 2 ** 10;
/** 2^20 bytes, number. */
export const MIB = 2 ** 20;
/** 2^30 bytes, number. */
export const GIB = 2 ** 30;
/** 2^40 bytes, number. */
export const TIB = 2 ** 40;

/** log2 of the 4 KiB page, number. */
export const PAGE_SHIFT = 12;
/** log2 of the 4 KiB page, bigint. */
export const PAGE_SHIFT_BIG = 12n;
/** The 4 KiB page, bytes, number. */
export const PAGE_SIZE = 4096;
/** The 4 KiB page, bytes, bigint. */
export const PAGE_SIZE_BIG = 4096n;
/** The offset bits of an IOVA within its 4 KiB page, bigint (`iova & PAGE_MASK_BIG`). */
export const PAGE_MASK_BIG = 4095n;

/** The 4 KiB page holding IOVA `iova` (iova >> 12), as a number. */
export function pageOf(iova: bigint): number {
  return Number(iova >> PAGE_SHIFT_BIG);
}

/** The first 4 KiB page at or above IOVA `iova` (ceil(iova / 4096)), as a number. */
export function pageCeilOf(iova: bigint): number {
  return Number((iova + PAGE_MASK_BIG) >> PAGE_SHIFT_BIG);
}

/** The IOVA of 4 KiB page `page` (page << 12), as a bigint. */
export function pageIova(page: number): bigint {
  return BigInt(page) << PAGE_SHIFT_BIG;
}
