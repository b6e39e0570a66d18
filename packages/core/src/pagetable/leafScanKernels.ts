/**
 * Hot kernels: scan a table of 4 KiB leaves for dirty entries, record them, clear them.
 *
 * Theory of operation
 * -------------------
 * A level-1 table is 512 entries = 1024 words; entry i's low word is at `off + 2i`. The kernel
 * walks entries [i0, i1) in blocks of 32 (block starts are 32-aligned; the edge blocks are masked):
 *   1. OR-reduce the 32 low words, unrolled by hand; a block without the dirty bit is skipped.
 *      (The reads are counted as visited by the caller: they were read.)
 *   2. Otherwise build a 32-bit mask of the dirty entries without branches (bit j = entry b + j).
 *   3. Hand the mask to the sink, which writes up to 32 bitmap bits with one `orMask` (one or two
 *      Atomics.or) or one `setUnits` per run of dirty leaves. **Record before clear**: the sink
 *      runs before the clear, so if it throws, every PTE of the block is still dirty.
 *   4. Clear the dirty entries with a count-trailing-zeros loop: a plain load and store of each
 *      *dirty* entry's low word that changes only the dirty state.
 *
 * Why a plain store is safe although a device writes concurrently: while an entry is dirty, no
 * other thread changes its low word. The device only ever makes a clean entry dirty and stores
 * nothing to an entry that already is (PteCodec.markDirty), map/unmap never run during a walk, and
 * the ownership rule gives each entry one walker per report. So the store writes back exactly the
 * value the word holds, less the dirty state, and cannot undo a device write. (Were two reports
 * ever to walk the same entry at once, a mark made between one walker's read and its store could
 * be cleared, but that walker recorded the page in a report that completes after the clear, so the
 * page still reaches a report.) ./tableEdits.ts and the pagetable concurrent tests rely on this.
 *
 * Why this shape (figures: docs/bench/limits.md §3; docs/design/performance.md §2, §4): this
 * "scan" kernel was the fastest measured at low density and as fast as the best at high density,
 * ahead of the same mask kernel without the block skip, branchy per-word accumulation, an atomic
 * RMW on every entry and BigUint64Array. V8 neither unrolls nor vectorises, so the unrolling is
 * written out. Step 4 is the plain store because an atomic one costs several times the rest of
 * the walk per *dirty* PTE (measured on this walk: docs/bench/limits.md §9.1).
 *
 * Two variants, because the dirty tests differ: `bit` formats (VT-d bit 9, AMD bit 6) are dirty
 * when a bit is set; `smmu` is dirty when a valid leaf has AP[2] (bit 7) clear, tested as
 * `v & ~(v >>> 7) & 1` (valid bit 0 set, bit 7 clear). A `bit` block that also holds AMD replicas
 * (NextLevel 7 sets bit 9) stops the kernel: replicated pages need the group logic of
 * ./reportWalk.ts, so the kernel returns that block's start and the caller resumes after it.
 */

/** Receives the dirty leaves of one 32-entry block. */
export interface LeafMaskSink {
  /** Bit j of `mask` = the 4 KiB leaf at page `firstPage + j` is dirty (and owned by this walk). */
  leafMask(firstPage: number, mask: number): void;
}

/**
 * Scans entries [i0, i1) of a level-1 table whose dirty state is bit `dbit` of the low word.
 * @param u32 - the segment's word view
 * @param off - word index of entry 0 of the table
 * @param page0 - 4 KiB page number of entry 0
 * @param replicaMask - low-word bits that mark a replicated entry (0: none in this format)
 * @param clear - clear the dirty entries after recording them
 * @returns -1 when done, or the start (32-aligned) of a block to process with the group logic
 */
export function scanBitLeaves(
  u32: Uint32Array,
  off: number,
  i0: number,
  i1: number,
  dbit: number,
  replicaMask: number,
  page0: number,
  sink: LeafMaskSink,
  clear: boolean,
): number {
  const D = 1 << dbit;
  const ND = ~D;
  for (let b = i0 & ~31; b < i1; b += 32) {
    const k = off + (b << 1);
    let any = 0;
    for (let j = 0; j < 64; j += 16) {
      const q = k + j;
      any |= u32[q] | u32[q + 2] | u32[q + 4] | u32[q + 6] | u32[q + 8] | u32[q + 10] | u32[q + 12] | u32[q + 14];
    }
    if ((any & D) === 0) continue;
    if ((any & replicaMask) !== 0) return b;
    let mask = 0;
    for (let j = 0; j < 32; j += 4) {
      const q = k + (j << 1);
      mask |=
        (((u32[q] >>> dbit) & 1) |
          (((u32[q + 2] >>> dbit) & 1) << 1) |
          (((u32[q + 4] >>> dbit) & 1) << 2) |
          (((u32[q + 6] >>> dbit) & 1) << 3)) <<
        j;
    }
    if (b < i0) mask &= -1 << (i0 - b);
    if (i1 - b < 32) mask &= (1 << (i1 - b)) - 1;
    if (mask === 0) continue;
    sink.leafMask(page0 + b, mask);
    if (clear) {
      if (mask === -1) {
        // A wholly dirty block: a straight loop beats the ctz loop (3.4 -> see module comment).
        for (let q = k, e = k + 64; q < e; q += 2) u32[q] = u32[q]! & ND;
      } else {
        let m = mask;
        while (m !== 0) {
          const t = m & -m;
          const q = k + ((31 - Math.clz32(t)) << 1);
          u32[q] = u32[q]! & ND;
          m ^= t;
        }
      }
    }
  }
  return -1;
}

/**
 * The smmu-v3 variant of {@link scanBitLeaves}: a leaf is dirty when valid (bit 0) with AP[2]
 * (bit 7) clear; clearing sets AP[2] again. Never stops (no replicas).
 */
export function scanSmmuLeaves(
  u32: Uint32Array,
  off: number,
  i0: number,
  i1: number,
  page0: number,
  sink: LeafMaskSink,
  clear: boolean,
): number {
  for (let b = i0 & ~31; b < i1; b += 32) {
    const k = off + (b << 1);
    let any = 0;
    for (let j = 0; j < 64; j += 16) {
      const q = k + j;
      const a0 = u32[q], a1 = u32[q + 2], a2 = u32[q + 4], a3 = u32[q + 6];
      const a4 = u32[q + 8], a5 = u32[q + 10], a6 = u32[q + 12], a7 = u32[q + 14];
      any |=
        (a0 & ~(a0 >>> 7)) | (a1 & ~(a1 >>> 7)) | (a2 & ~(a2 >>> 7)) | (a3 & ~(a3 >>> 7)) |
        (a4 & ~(a4 >>> 7)) | (a5 & ~(a5 >>> 7)) | (a6 & ~(a6 >>> 7)) | (a7 & ~(a7 >>> 7));
    }
    if ((any & 1) === 0) continue;
    let mask = 0;
    for (let j = 0; j < 32; j += 4) {
      const q = k + (j << 1);
      const a0 = u32[q], a1 = u32[q + 2], a2 = u32[q + 4], a3 = u32[q + 6];
      mask |=
        ((a0 & ~(a0 >>> 7) & 1) |
          ((a1 & ~(a1 >>> 7) & 1) << 1) |
          ((a2 & ~(a2 >>> 7) & 1) << 2) |
          ((a3 & ~(a3 >>> 7) & 1) << 3)) <<
        j;
    }
    if (b < i0) mask &= -1 << (i0 - b);
    if (i1 - b < 32) mask &= (1 << (i1 - b)) - 1;
    if (mask === 0) continue;
    sink.leafMask(page0 + b, mask);
    if (clear) {
      if (mask === -1) {
        for (let q = k, e = k + 64; q < e; q += 2) u32[q] = u32[q]! | 0x80;
      } else {
        let m = mask;
        while (m !== 0) {
          const t = m & -m;
          const q = k + ((31 - Math.clz32(t)) << 1);
          u32[q] = u32[q]! | 0x80;
          m ^= t;
        }
      }
    }
  }
  return -1;
}

/**
 * Read-bandwidth probe: OR-reduces the low words of entries [0, n) (n a multiple of 16) of a
 * table at `off`, unrolled x8 like the fastest JS read loop measured (docs/bench/limits.md §1).
 */
export function orReduceLowWords(u32: Uint32Array, off: number, n: number): number {
  let a = 0;
  let b = 0;
  for (let k = off, e = off + (n << 1); k < e; k += 16) {
    a |= u32[k] | u32[k + 4] | u32[k + 8] | u32[k + 12];
    b |= u32[k + 2] | u32[k + 6] | u32[k + 10] | u32[k + 14];
  }
  return a | b;
}
