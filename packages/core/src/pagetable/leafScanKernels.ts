/**
 * Hot kernels: scan a table of 4 KiB leaves for dirty entries, record them, clear them.
 *
 * Theory of operation
 * -------------------
 * A level-1 table is 512 entries = 1024 words; entry i's low word is at `off + 2i`. The kernel
 * walks entries [i0, i1) in blocks of 32 (block starts are 32-aligned; the edge blocks are masked).
 * How a block starts depends on the block before it (its *state*; the first block of a call starts
 * in the state the previous leaf table ended in, which the caller passes on):
 *   - after a clean block, a block with a single dirty entry, and at the start: skip the clean
 *     blocks. Where the segment is a WebAssembly memory, one call of `skip` (./leafSkipKernel.ts)
 *     runs over them and lands on the first block with the dirty bit (or a replica bit) in a low
 *     word; otherwise OR-reduce the 32 low words of each block, unrolled by hand, and skip the
 *     block without the dirty bit. Skipped entries are counted as visited by the caller;
 *   - after a block with two or more dirty entries: no prescan, straight to step 1 (dirty blocks
 *     come in runs);
 *   - after a wholly dirty block: read the 32 low words into locals and AND them; when all 32 are
 *     dirty the mask is all ones (no step 1), and step 3 stores the words back less the dirty bit
 *     from the locals, without reading them again; otherwise go on to step 1.
 * Then:
 *   1. Build a 32-bit mask of the dirty entries without branches (bit j = entry b + j): one AND,
 *      one shift and one OR per entry, in two halves of 16.
 *   2. Hand the mask to the sink (./DirtyLeafSink.ts): one bitmap word, one Atomics.or (a plain store
 *      when all 32 are dirty), when the bitmap is aligned to it. **Record before clear**: the sink
 *      runs before the clear, so if it throws, every PTE of the block is still dirty.
 *   3. Clear the dirty entries: a plain load and store of each *dirty* entry's low word that
 *      changes only the dirty state; a count-leading-zeros loop over the mask, or a straight loop
 *      unrolled by 4 over a wholly dirty block (the stores from locals above: a word kept since
 *      before step 2 is still the entry's word, as nothing else changes a dirty entry, see below).
 * One sink call and one clear per block, whatever the state: every call in the loop is inlined
 * only if V8 has seen it often by the time it optimises the kernel, and a path that turns hot
 * late (wholly dirty blocks after sparse ones) would keep a call, and spill its locals around it.
 *
 * Why a plain store is safe although a device writes concurrently: while an entry is dirty, no
 * other thread changes its low word. The device only ever makes a clean entry dirty and stores
 * nothing to an entry that already is (PteCodec.markDirty), map/unmap never run during a walk, and
 * the ownership rule gives each entry one walker per report. So the store writes back exactly the
 * value the word holds, less the dirty state, and cannot undo a device write. (Were two reports
 * ever to walk the same entry at once, a mark made between one walker's read and its store could
 * be cleared, but that walker recorded the page in a report that completes after the clear, so the
 * page still reaches a report.) ./TableEditor.ts and the pagetable concurrent tests rely on this.
 *
 * Words are read through an Int32Array (TableMemory.wordsOf): a low word with bit 31 set (any
 * physical address at or above 2 GiB) is then an int32 like the others; read as a Uint32 it is a
 * number that optimised code speculating on small integers deoptimises for ("lost precision").
 * Every test and clear here is a bitwise operation, so the sign changes nothing.
 *
 * Why this shape (figures: docs/bench/limits.md §3 and docs/bench/pteWalk.md §2; reasons:
 * docs/design/performance.md §2, §4): the prescan ("scan") is the fastest at low density; at high
 * density it is wasted work, hence the states; the skip over clean blocks runs in WebAssembly
 * where it can, because every JavaScript typed-array load carries a bounds check, which kept the
 * JavaScript prescan 1.4x slower than C on a clean table (docs/bench/pteWalk.md §8); reading a
 * wholly dirty block once instead of twice (test, then clear) is most of what a full block costs;
 * the mask in AND-shift-OR form takes fewer operations than shift-AND per entry; the sink's direct
 * word write skips the clipping of the general `orMask`. V8 neither unrolls nor vectorises, so the
 * unrolling is written out. The clear is a plain store because an atomic one costs several times
 * the rest of the walk per *dirty* PTE (measured on this walk: docs/bench/limits.md §9.1). The
 * kernels, the sink method they call and the bit-kernel write must stay small enough for V8 to
 * inline them all into the kernel (docs/bench/pteWalk.md §2).
 *
 * Two variants, because the dirty tests differ: `bit` formats (VT-d bit 9, AMD bit 6) are dirty
 * when a bit is set; `smmu` is dirty when a valid leaf has AP[2] (bit 7) clear, tested as
 * `v & ~(v >>> 7) & 1` (valid bit 0 set, bit 7 clear). A `bit` block that also holds AMD replicas
 * (NextLevel 7 sets bit 9) stops the kernel: replicated pages need the group logic of
 * ./TableWalk.ts, so the kernel returns that block's start and the caller resumes after it. For
 * that reason formats with replicas always test a block before its mask, and have no DENSE or
 * FULL state: after a clean block the skip runs (then the block it lands on is OR-reduced again
 * for the replica test), after a dirty one a JavaScript prescan (PRESCAN), whose OR is both tests
 * at once. (Calling the skip after dirty blocks too, as a first version did, read every dirty
 * block three times: amd-v1 walked 18-27 % slower at 50-100 % dirty, docs/bench/pteWalk.md §9.)
 * vtd-ss (a `bit` format without replicas) takes a third way where its segment is a WebAssembly
 * memory and the walk holds a scratch slot there: {@link scanBitTable}. One WebAssembly call per
 * leaf table (`table`, ./leafSkipKernel.wat) does the skip, the states and the masks, and writes
 * the (block, mask) pairs to the slot; JavaScript hands them to the sink in one `leafPairs` call;
 * a second call (`clearPairs`) clears them. Record before clear then holds for the whole table.
 * Two calls per table and no bounds check per entry: walk + clear 17 % faster than scanBitLeaves
 * at 100 % dirty, 13 % at 50 %, the same at 0-1 % (docs/bench/pteWalk.md §10); with the pass in
 * 128-bit SIMD and one sink call per table, 0.60 / 1.13 / 0.54 ns per PTE at 1 / 50 / 100 %
 * (1.15x / 1.29x / 0.95x the scalar C walk, §11). The mask stays in JS for
 * amd-v1 (replicas need the group logic) and smmu-v3 (another dirty test), which keep the skip.
 * The `smmu` variant's FULL state tests a whole block all-dirty with an AND and an OR of its words
 * (valid in all, AP[2] in none), then skips the mask; it clears through the straight loop of
 * clearMasked rather than from locals. It carries its state across tables too.
 */

import type { LeafSkip } from './leafSkipKernel.js';

/** Block states of {@link scanBitLeaves}: how the next block starts. */
const SCAN = 0;
const DENSE = 1;
const FULL = 2;
/**
 * Formats with replicas only, after a block with a dirty entry: prescan in JavaScript, whose OR is
 * also the replica test, rather than call the skip, which would stop at once and leave the
 * replica test to a second read of the block.
 */
const PRESCAN = 3;

/** Receives the dirty leaves of one 32-entry block. */
export interface LeafMaskSink {
  /**
   * Bit j of `mask` = the 4 KiB leaf at page `firstPage + j` is dirty (and owned by this walk).
   * `firstPage` is a multiple of 32 (a block starts at a 32-aligned entry of a 512-aligned table).
   */
  leafMask(firstPage: number, mask: number): void;
  /**
   * `n` blocks at once, as `n` (block byte offset, mask) pairs at `w[q .. q + 2n)` (increasing
   * offsets; the block at offset o starts at page `page0 + (o - base) / 8`): the same as
   * {@link leafMask} for each, in order.
   */
  leafPairs(w: Int32Array, q: number, n: number, page0: number, base: number): void;
}

/**
 * The `e` of a skip over entries below `i1` of the table at word `off`: the byte offset of the end
 * of the last 32-entry block that holds one of them.
 */
function skipEndByte(off: number, i1: number): number {
  return (off + (((i1 + 31) & ~31) << 1)) << 2;
}

/** OR of the 32 low words of the block at `k` (entries k/2 .. k/2 + 31), unrolled. */
function orLowWords32(w: Int32Array, k: number): number {
  let any = 0;
  for (let j = 0; j < 64; j += 16) {
    const q = k + j;
    any |= w[q]! | w[q + 2]! | w[q + 4]! | w[q + 6]! | w[q + 8]! | w[q + 10]! | w[q + 12]! | w[q + 14]!;
  }
  return any;
}

/**
 * ANDs `and` into, then ORs `or` into, the low word of every entry of `mask` in the block at `k`:
 * a plain load and store per dirty entry (see the module comment). A whole block is a straight
 * loop unrolled by 4; otherwise a count-leading-zeros loop over the set bits, top down.
 */
function clearMasked(w: Int32Array, k: number, mask: number, and: number, or: number): void {
  if (mask === -1) {
    for (let q = k, e = k + 64; q < e; q += 8) {
      w[q] = (w[q]! & and) | or;
      w[q + 2] = (w[q + 2]! & and) | or;
      w[q + 4] = (w[q + 4]! & and) | or;
      w[q + 6] = (w[q + 6]! & and) | or;
    }
    return;
  }
  // From the top bit down: skip the zeros above the next set bit, shift them and it out of m.
  let q = k + 62;
  let m = mask;
  while (m !== 0) {
    const c = Math.clz32(m);
    q -= c << 1;
    w[q] = (w[q]! & and) | or;
    q -= 2;
    m = (m << c) << 1;
  }
}

/**
 * Scans entries [i0, i1) of a level-1 table whose dirty state is bit `dbit` (below 16) of the low
 * word.
 * @param w - the segment's words, as an Int32Array (TableMemory.wordsOf)
 * @param off - word index of entry 0 of the table
 * @param page0 - 4 KiB page number of entry 0
 * @param replicaMask - low-word bits that mark a replicated entry (0: none in this format)
 * @param clear - clear the dirty entries after recording them
 * @param skip - the segment's WebAssembly skip over clean blocks (TableMemory.skipsOf(id).bit), or
 *   null to prescan in JavaScript
 * @param state0 - the block state to start in: the state the previous call ended in (its return
 *   value r < 0 gives it as -1 - r), so that a dense walk goes on dense into the next table
 *   instead of prescanning (or calling `skip` for) the first block of every table; SCAN (0) at the
 *   start of a walk. Formats with replicas always start in SCAN.
 * @returns the start (32-aligned, >= 0) of a block to process with the group logic, or, when done,
 *   -1 - (the state the next table's call may start in)
 */
export function scanBitLeaves(
  w: Int32Array,
  off: number,
  i0: number,
  i1: number,
  dbit: number,
  replicaMask: number,
  page0: number,
  sink: LeafMaskSink,
  clear: boolean,
  skip: LeafSkip['bit'] | null,
  state0: number,
): number {
  const D = 1 << dbit;
  const ND = ~D;
  const endByte = skipEndByte(off, i1);
  // How the next block starts (see the module comment): a prescan, the mask, or the words read
  // into locals and ANDed. Formats with replicas always test the block first: with the skip after
  // a clean block, with the JavaScript prescan after a dirty one (PRESCAN).
  const adapt = replicaMask === 0;
  let state = adapt ? state0 : SCAN;
  for (let b = i0 & ~31; b < i1; b += 32) {
    let k = off + (b << 1);
    // The words of a wholly dirty block, kept for its clear (see below); 0 otherwise.
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0, a14 = 0, a15 = 0;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0, c8 = 0, c9 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0;
    let mask = 0;
    if (state === SCAN && skip !== null) {
      // To the first block with the dirty bit or a replica bit, in WebAssembly (module comment);
      // a block without replica bits then has a dirty entry (in the range or not: masked below).
      const next = skip(k << 2, endByte, D | replicaMask) >> 2;
      if (next << 2 >= endByte) return -1 - SCAN;
      b += (next - k) >> 1;
      k = next;
      if (!adapt && (orLowWords32(w, k) & replicaMask) !== 0) return b;
    } else if (state === SCAN || state === PRESCAN) {
      const any = orLowWords32(w, k);
      if ((any & D) === 0) {
        state = SCAN;
        continue;
      }
      if ((any & replicaMask) !== 0) return b;
    } else if (state === FULL && b >= i0 && i1 - b >= 32) {
      // After a wholly dirty block: read the 32 low words once; if all are dirty, the clear below
      // stores them back from the locals, less the dirty bit (docs/bench/pteWalk.md §2).
      a0 = w[k]!; a1 = w[k + 2]!; a2 = w[k + 4]!; a3 = w[k + 6]!; a4 = w[k + 8]!; a5 = w[k + 10]!; a6 = w[k + 12]!; a7 = w[k + 14]!;
      a8 = w[k + 16]!; a9 = w[k + 18]!; a10 = w[k + 20]!; a11 = w[k + 22]!; a12 = w[k + 24]!; a13 = w[k + 26]!; a14 = w[k + 28]!; a15 = w[k + 30]!;
      c0 = w[k + 32]!; c1 = w[k + 34]!; c2 = w[k + 36]!; c3 = w[k + 38]!; c4 = w[k + 40]!; c5 = w[k + 42]!; c6 = w[k + 44]!; c7 = w[k + 46]!;
      c8 = w[k + 48]!; c9 = w[k + 50]!; c10 = w[k + 52]!; c11 = w[k + 54]!; c12 = w[k + 56]!; c13 = w[k + 58]!; c14 = w[k + 60]!; c15 = w[k + 62]!;
      const all =
        a0 & a1 & a2 & a3 & a4 & a5 & a6 & a7 & a8 & a9 & a10 & a11 & a12 & a13 & a14 & a15 &
        c0 & c1 & c2 & c3 & c4 & c5 & c6 & c7 & c8 & c9 & c10 & c11 & c12 & c13 & c14 & c15;
      if ((all & D) !== 0) mask = -1;
    }
    const whole = mask === -1;
    if (!whole) {
      // Entry j's dirty bit to bit j: AND, shift, OR per entry, in two halves of 16 so that no bit
      // passes bit 31 (dirty bit below 16); written out, as V8 does not unroll.
      const lo =
        (w[k]! & D) | ((w[k + 2]! & D) << 1) | ((w[k + 4]! & D) << 2) | ((w[k + 6]! & D) << 3) |
        ((w[k + 8]! & D) << 4) | ((w[k + 10]! & D) << 5) | ((w[k + 12]! & D) << 6) | ((w[k + 14]! & D) << 7) |
        ((w[k + 16]! & D) << 8) | ((w[k + 18]! & D) << 9) | ((w[k + 20]! & D) << 10) | ((w[k + 22]! & D) << 11) |
        ((w[k + 24]! & D) << 12) | ((w[k + 26]! & D) << 13) | ((w[k + 28]! & D) << 14) | ((w[k + 30]! & D) << 15);
      const hi =
        (w[k + 32]! & D) | ((w[k + 34]! & D) << 1) | ((w[k + 36]! & D) << 2) | ((w[k + 38]! & D) << 3) |
        ((w[k + 40]! & D) << 4) | ((w[k + 42]! & D) << 5) | ((w[k + 44]! & D) << 6) | ((w[k + 46]! & D) << 7) |
        ((w[k + 48]! & D) << 8) | ((w[k + 50]! & D) << 9) | ((w[k + 52]! & D) << 10) | ((w[k + 54]! & D) << 11) |
        ((w[k + 56]! & D) << 12) | ((w[k + 58]! & D) << 13) | ((w[k + 60]! & D) << 14) | ((w[k + 62]! & D) << 15);
      mask = (lo >>> dbit) | ((hi >>> dbit) << 16);
      if (b < i0) mask &= -1 << (i0 - b);
      if (i1 - b < 32) mask &= (1 << (i1 - b)) - 1;
    }
    // A block of one dirty entry predicts a clean one (sparse tables): prescan after it.
    state = !adapt ? (mask === 0 ? SCAN : PRESCAN) : (mask & (mask - 1)) === 0 ? SCAN : mask === -1 ? FULL : DENSE;
    if (mask === 0) continue;
    sink.leafMask(page0 + b, mask);
    if (!clear) continue;
    if (whole) {
      w[k] = a0 & ND; w[k + 2] = a1 & ND; w[k + 4] = a2 & ND; w[k + 6] = a3 & ND;
      w[k + 8] = a4 & ND; w[k + 10] = a5 & ND; w[k + 12] = a6 & ND; w[k + 14] = a7 & ND;
      w[k + 16] = a8 & ND; w[k + 18] = a9 & ND; w[k + 20] = a10 & ND; w[k + 22] = a11 & ND;
      w[k + 24] = a12 & ND; w[k + 26] = a13 & ND; w[k + 28] = a14 & ND; w[k + 30] = a15 & ND;
      w[k + 32] = c0 & ND; w[k + 34] = c1 & ND; w[k + 36] = c2 & ND; w[k + 38] = c3 & ND;
      w[k + 40] = c4 & ND; w[k + 42] = c5 & ND; w[k + 44] = c6 & ND; w[k + 46] = c7 & ND;
      w[k + 48] = c8 & ND; w[k + 50] = c9 & ND; w[k + 52] = c10 & ND; w[k + 54] = c11 & ND;
      w[k + 56] = c12 & ND; w[k + 58] = c13 & ND; w[k + 60] = c14 & ND; w[k + 62] = c15 & ND;
    } else {
      clearMasked(w, k, mask, ND, 0);
    }
  }
  return -1 - state;
}

/**
 * {@link scanBitLeaves} for `bit` formats without replicas (vtd-ss) where the segment has its
 * WebAssembly kernels and the walk a scratch slot in it: one `table` call builds the masks of
 * every block of entries [i0, i1) (the skip, the states, the edge masks), into the slot as
 * (block byte offset, mask) pairs; the sink records them (LeafMaskSink.leafPairs); then one
 * `clearPairs` call clears them.
 * Record before clear holds for the whole table: if the sink throws, nothing of it is cleared.
 * Two calls per table instead of one skip per run of clean blocks and a JavaScript mask per dirty
 * block: no bounds check per entry, and no call per dirty block (docs/bench/pteWalk.md §10).
 * @param slot - byte offset of the walk's scratch slot in the segment (TableMemory.claimScratch)
 * @returns -1 - (the state the next table may start in), as scanBitLeaves when done.
 */
export function scanBitTable(
  w: Int32Array,
  off: number,
  i0: number,
  i1: number,
  dbit: number,
  page0: number,
  sink: LeafMaskSink,
  clear: boolean,
  kernels: LeafSkip,
  slot: number,
  state0: number,
): number {
  // Int32 arithmetic only: (1 << 31) - 1 is -2^31 - 1 in JavaScript, not int32 (a deopt).
  const fm = -1 << (i0 & 31);
  const lm = (i1 & 31) === 0 ? -1 : ~(-1 << (i1 & 31));
  const r = kernels.table((off + ((i0 & ~31) << 1)) << 2, skipEndByte(off, i1), dbit, slot, state0, fm, lm);
  const n = r >>> 2;
  const base = off << 2;
  sink.leafPairs(w, slot >> 2, n, page0, base);
  if (clear && n !== 0) kernels.clearPairs(slot, n, dbit);
  return -1 - (r & 3);
}

/**
 * The smmu-v3 variant of {@link scanBitLeaves}: a leaf is dirty when valid (bit 0) with AP[2]
 * (bit 7) clear; clearing sets AP[2] again. Never stops (no replicas). `skip` as there
 * (TableMemory.skipsOf(id).smmu). The states of scanBitLeaves; in FULL, a block wholly in the
 * range is first tested all-dirty (AND and OR of its words), and then needs no mask. `state0` and
 * the result as there (always -1 - state: done), so that a dense walk goes on dense into the next
 * table.
 */
export function scanSmmuLeaves(
  w: Int32Array,
  off: number,
  i0: number,
  i1: number,
  page0: number,
  sink: LeafMaskSink,
  clear: boolean,
  skip: LeafSkip['smmu'] | null,
  state0: number,
): number {
  const endByte = skipEndByte(off, i1);
  let state = state0;
  for (let b = i0 & ~31; b < i1; b += 32) {
    let k = off + (b << 1);
    let mask = 0;
    if (state === SCAN && skip !== null) {
      const next = skip(k << 2, endByte) >> 2;
      if (next << 2 >= endByte) return -1 - SCAN;
      b += (next - k) >> 1;
      k = next;
    } else if (state === SCAN) {
      let any = 0;
      for (let j = 0; j < 64; j += 16) {
        const q = k + j;
        const a0 = w[q]!, a1 = w[q + 2]!, a2 = w[q + 4]!, a3 = w[q + 6]!;
        const a4 = w[q + 8]!, a5 = w[q + 10]!, a6 = w[q + 12]!, a7 = w[q + 14]!;
        any |=
          (a0 & ~(a0 >>> 7)) | (a1 & ~(a1 >>> 7)) | (a2 & ~(a2 >>> 7)) | (a3 & ~(a3 >>> 7)) |
          (a4 & ~(a4 >>> 7)) | (a5 & ~(a5 >>> 7)) | (a6 & ~(a6 >>> 7)) | (a7 & ~(a7 >>> 7));
      }
      if ((any & 1) === 0) continue;
    } else if (state === FULL && b >= i0 && i1 - b >= 32 && allSmmuDirty32(w, k)) {
      mask = -1;
    }
    if (mask !== -1) {
      for (let j = 0; j < 32; j += 4) {
        const q = k + (j << 1);
        const a0 = w[q]!, a1 = w[q + 2]!, a2 = w[q + 4]!, a3 = w[q + 6]!;
        mask |=
          ((a0 & ~(a0 >>> 7) & 1) |
            ((a1 & ~(a1 >>> 7) & 1) << 1) |
            ((a2 & ~(a2 >>> 7) & 1) << 2) |
            ((a3 & ~(a3 >>> 7) & 1) << 3)) <<
          j;
      }
      if (b < i0) mask &= -1 << (i0 - b);
      if (i1 - b < 32) mask &= (1 << (i1 - b)) - 1;
    }
    state = (mask & (mask - 1)) === 0 ? SCAN : mask === -1 ? FULL : DENSE;
    if (mask === 0) continue;
    sink.leafMask(page0 + b, mask);
    if (clear) clearMasked(w, k, mask, -1, 0x80);
  }
  return -1 - state;
}

/**
 * True when all 32 entries of the smmu-v3 block at `k` are dirty (valid, AP[2] clear): the AND of
 * their low words has bit 0, their OR lacks bit 7. Two operations per entry, against the mask's
 * five or six.
 */
function allSmmuDirty32(w: Int32Array, k: number): boolean {
  let and = -1;
  let or = 0;
  for (let j = 0; j < 64; j += 16) {
    const q = k + j;
    const a0 = w[q]!, a1 = w[q + 2]!, a2 = w[q + 4]!, a3 = w[q + 6]!;
    const a4 = w[q + 8]!, a5 = w[q + 10]!, a6 = w[q + 12]!, a7 = w[q + 14]!;
    and &= a0 & a1 & a2 & a3 & a4 & a5 & a6 & a7;
    or |= a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7;
  }
  return (and & 1) !== 0 && (or & 0x80) === 0;
}

/**
 * Read-bandwidth probe: OR-reduces the low words of entries [0, n) (n a multiple of 16) of a
 * table at `off`, unrolled x8 like the fastest JS read loop measured (docs/bench/limits.md §1).
 */
export function orReduceLowWords(w: Int32Array, off: number, n: number): number {
  let a = 0;
  let b = 0;
  for (let k = off, e = off + (n << 1); k < e; k += 16) {
    a |= w[k]! | w[k + 4]! | w[k + 8]! | w[k + 12]!;
    b |= w[k + 2]! | w[k + 6]! | w[k + 10]! | w[k + 14]!;
  }
  return a | b;
}
