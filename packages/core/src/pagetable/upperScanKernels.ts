/**
 * Hot kernel: find the next block of an upper-level table (level 2 and up) that needs a visit.
 *
 * Theory of operation
 * -------------------
 * An upper-level entry needs the walk when it is a table pointer (descend), a dirty leaf (record
 * and clear) or, in amd-v1, a replica (the group logic of ./TableWalk.ts). Everything else (absent
 * entries, clean leaves of one entry) may be skipped. The kernel reads the low words of a block of
 * 32 entries (32-aligned, as in ./leafScanKernels.ts) and folds them two ways, with no branch per
 * entry: `or` (OR of the words) and `and` (AND of the words). The block is skipped when
 *   (or & none) === 0  and  (and & all) === all
 * with the format's two masks (PteCodec.cleanBlockNone / cleanBlockAll, ./pteFormats.ts):
 *   - vtd-ss: none = dirty bit 9, all = PS (bit 7). Every entry has PS, so none is a table (a table
 *     has PS clear) and every present one is a leaf, clean since no word has bit 9.
 *   - amd-v1: none = dirty bit 6 | NextLevel (bits 9..11), all = 0. A table has NextLevel L - 1
 *     (1..4) and a replica NextLevel 7, so no word has either; what remains is absent entries and
 *     NextLevel-0 leaves, clean.
 *   - smmu-v3: none = bit 1, all = bits 0 and 7. Every entry is valid with bit 1 clear: a block
 *     descriptor (a leaf; a table is bits 0..1 = 3), with AP[2] set: clean.
 * The test never looks at a table pointer's bits at a leaf's dirty position: those mean nothing
 * (a table never "is dirty"), and a block holding a table pointer is always visited, whatever its
 * other bits. So the skip is sound for any value of the ignored bits: the masks decide by the
 * bits classify() itself reads. Blocks that mix absent entries with leaves are visited (vtd-ss,
 * smmu-v3: an absent word is 0, which fails `all`); that is the walk of today for sparse upper
 * tables, and a fully mapped one (the case this exists for) has no absent entries.
 *
 * Why this shape: a 2 MiB- or 1 GiB-leaf table is one upper-level entry per leaf, and walking it
 * entry by entry (classify, replicas, isDirty per entry) cost ~4 ns per clean PTE on one thread;
 * skipping clean blocks makes it ~0.6, the read of the table (docs/bench/pteWalk.md §6). The OR-and-AND fold is two operations per entry over words read once,
 * written out 8 wide as V8 neither unrolls nor vectorises, the same form as the leaf prescan. The
 * alternatives: a per-format "is a table pointer" term folded into the OR (vtd-ss: present and
 * not PS, four to five operations per entry), or a count of child tables per table page, which
 * would have to live in shared memory, be kept by TableEditor on every install and removal, and
 * travel in the descriptor workers rebuild tables from. The two masks need neither, decide by the
 * very bits classify() reads, and cover replicas too. The edge blocks of a range are read whole
 * (entries outside [i, i1) but inside the table): a conservative test, never a wrong one.
 * TableWalk applies the same test to single words inside a busy block, so the clean leaves beside
 * a dirty one go by without the codec's classify / replicas / isDirty calls.
 *
 * Only reads: the kernel stores nothing, so the concurrency rules of ./leafScanKernels.ts (plain
 * clears of dirty entries, devices only setting dirty state) are untouched; a device that dirties
 * a leaf of a block just skipped is seen by the next report, as with any entry read clean.
 */

/**
 * Returns the first index in [i, i1) of a table's entries whose 32-entry block may need a visit,
 * or `i1` when every block from `i`'s to the one holding `i1 - 1` is clean (see the module comment).
 * @param w - the segment's words, as an Int32Array (TableMemory.wordsOf)
 * @param off - word index of entry 0 of the table
 * @param none - PteCodec.cleanBlockNone
 * @param all - PteCodec.cleanBlockAll
 */
export function nextBusyBlock(w: Int32Array, off: number, i: number, i1: number, none: number, all: number): number {
  for (let b = i & ~31; b < i1; b += 32) {
    let or = 0;
    let and = -1;
    for (let q = off + (b << 1), e = q + 64; q < e; q += 16) {
      const v0 = w[q]!, v1 = w[q + 2]!, v2 = w[q + 4]!, v3 = w[q + 6]!;
      const v4 = w[q + 8]!, v5 = w[q + 10]!, v6 = w[q + 12]!, v7 = w[q + 14]!;
      or |= v0 | v1 | v2 | v3 | v4 | v5 | v6 | v7;
      and &= v0 & v1 & v2 & v3 & v4 & v5 & v6 & v7;
    }
    if ((or & none) !== 0 || (and & all) !== all) return b > i ? b : i;
  }
  return i1;
}

/**
 * The entries of the 32-entry block at `b` (32-aligned) of a table that need a visit, as a mask (bit
 * j = entry b + j): the test of {@link nextBusyBlock} on each low word, `(lo & none) | ((lo & all)
 * ^ all)` non-zero, without a branch per entry. The walk then visits only those entries of a busy
 * block (a 2 MiB-leaf table at 1 % dirty: one entry of 32), not all 32 one by one.
 */
export function busyMask(w: Int32Array, off: number, b: number, none: number, all: number): number {
  let m = 0;
  for (let j = 0, q = off + (b << 1); j < 32; j += 4, q += 8) {
    const v0 = w[q]!, v1 = w[q + 2]!, v2 = w[q + 4]!, v3 = w[q + 6]!;
    m |=
      ((((v0 & none) | ((v0 & all) ^ all)) !== 0 ? 1 : 0) |
        ((((v1 & none) | ((v1 & all) ^ all)) !== 0 ? 1 : 0) << 1) |
        ((((v2 & none) | ((v2 & all) ^ all)) !== 0 ? 1 : 0) << 2) |
        ((((v3 & none) | ((v3 & all) ^ all)) !== 0 ? 1 : 0) << 3)) <<
      j;
  }
  return m;
}
