/**
 * The windowing scheme of the kernel's iova_bitmap, as a pure function.
 *
 * Theory of operation
 * -------------------
 * The kernel cannot touch the user's bitmap directly: it pins the user pages that hold it, at
 * most 512 at a time (one page of page pointers), and reports one *window* of IOVA at a time.
 * We keep the same cut so that work is split the way the kernel splits it, and so that every
 * input shape from the kernel's bug history can be replayed against us.
 *
 *   buffer:   |....pg0....|....pg1....|....pg2....| ... 4 KiB pages of the SharedArrayBuffer
 *   bitmap:         ^byteOffset (pgoff = byteOffset % 4096)
 *   window 0:       [ W pages pinned, the first one partial: W*4096 - pgoff bytes ]
 *   window 1:                                        [ W whole pages ] ...
 *   last window: clipped at ceil(nbits/8) bytes, and its bits at nbits
 *
 * Window i covers bitmap bytes [b_i, b_i + len_i) and therefore bits [8 b_i, 8 b_i + n_i) with
 * n_i = min(8 len_i, nbits - 8 b_i), i.e. IOVA [iova + 8 b_i * pageSize, + n_i * pageSize).
 * The pin count of a window is min(ceil(remaining / 4096) + (pgoff != 0), W): the extra page for
 * an unaligned start is the fix of 4bbcbc6ea2fa. At 4 KiB bitmap pages and W = 512, a window is
 * 2 MiB of bitmap = 2^24 bits = 64 GiB of IOVA.
 *
 * Invariant: the windows tile [0, nbits) exactly: no gap, no overlap, each non-empty.
 */

import { MAX_BITMAP_BITS } from './bitmapGeometry.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { checkInt, log2Exact, toU64 } from '../u64.js';

/** Size of the pages the bitmap's backing memory is cut into (the kernel's PAGE_SIZE), bytes. */
export const BITMAP_PAGE_BYTES = 4096;
/** Default pages per window: one 4 KiB page of page pointers holds 512 of them. */
export const DEFAULT_WINDOW_PAGES = 512;

/** One window of the bitmap. Plain data; bit and byte fields are numbers, IOVA fields bigints. */
export interface BitmapWindow {
  /** 0-based position in the tiling. */
  readonly index: number;
  /** IOVA of the window's first bit, bytes. */
  readonly iova: bigint;
  /** IOVA span of the window, bytes (bitCount * pageSize). */
  readonly length: bigint;
  /** First bit of the window, relative to the bitmap's bit 0. */
  readonly firstBit: number;
  /** Number of bits (IOVA pages) in the window. */
  readonly bitCount: number;
  /** Offset of the window's first byte in the SharedArrayBuffer, bytes. */
  readonly byteOffset: number;
  /** Bytes of bitmap in the window (the last byte may be partly used). */
  readonly byteLength: number;
}

/** What the tiling depends on; all numbers are exact integers. */
export interface WindowGeometry {
  /** IOVA of bit 0, bytes. */
  readonly iova: bigint;
  /** Bitmap page size (IOVA bytes per bit). */
  readonly pageSize: bigint;
  /** Bits in the bitmap. */
  readonly nbits: number;
  /** Offset of the bitmap in its buffer, bytes. */
  readonly byteOffset: number;
  /** Max pinned 4 KiB pages per window. */
  readonly windowPages: number;
}

/**
 * Computes the kernel-shaped tiling of a bitmap into windows (see the module comment).
 * @throws IovaBitmapError `EINVAL` for a geometry that is not one of a bitmap: iova or pageSize not
 *   a 64-bit integer, pageSize not a power of two, nbits outside [1, MAX_BITMAP_BITS], byteOffset
 *   not a non-negative safe integer, windowPages outside [1, 2^31]; `EOVERFLOW` past 2^64 - 1.
 */
export function computeWindows(geometry: WindowGeometry): BitmapWindow[] {
  const W = 'computeWindows';
  if (typeof geometry !== 'object' || geometry === null) throw IovaBitmapError.bad('EINVAL', W, 'geometry', geometry, 'must be an object');
  const pageSize = toU64(W, 'pageSize', geometry.pageSize);
  if (log2Exact(pageSize) < 0) throw IovaBitmapError.bad('EINVAL', W, 'pageSize', pageSize, 'must be a power of two');
  const g: WindowGeometry = {
    iova: toU64(W, 'iova', geometry.iova),
    pageSize,
    nbits: checkInt(W, 'nbits', geometry.nbits, 1, MAX_BITMAP_BITS),
    byteOffset: checkInt(W, 'byteOffset', geometry.byteOffset, 0),
    windowPages: checkInt(W, 'windowPages', geometry.windowPages, 1, 2 ** 31),
  };
  const total = Math.ceil(g.nbits / 8);
  const out: BitmapWindow[] = [];
  let base = 0;
  while (base < total) {
    const addr = g.byteOffset + base;
    const pgoff = addr % BITMAP_PAGE_BYTES;
    const remaining = total - base;
    const npages = Math.min(Math.ceil(remaining / BITMAP_PAGE_BYTES) + (pgoff !== 0 ? 1 : 0), g.windowPages);
    const byteLength = Math.min(remaining, npages * BITMAP_PAGE_BYTES - pgoff);
    const firstBit = base * 8;
    const bitCount = Math.min(byteLength * 8, g.nbits - firstBit);
    out.push({
      index: out.length,
      iova: g.iova + BigInt(firstBit) * g.pageSize,
      length: BigInt(bitCount) * g.pageSize,
      firstBit,
      bitCount,
      byteOffset: addr,
      byteLength,
    });
    base += byteLength;
  }
  return out;
}
