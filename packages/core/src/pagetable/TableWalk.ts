/**
 * The report walk: find the dirty leaves owned by a chunk, record them, clear them.
 *
 * Theory of operation
 * -------------------
 * Ownership (../DirtySource.ts): a leaf [a, b) overlapping the clip range [clipLo, clipHi) belongs
 * to the chunk that holds max(a, clipLo). In 4 KiB page numbers, a chunk [lo, hi) therefore owns
 *   - every leaf whose first page lies in [p0, p1) = [ceil(lo / 4K), ceil(hi / 4K)), and
 *   - if the chunk holds clipLo, the leaf that contains clipLo's page but starts before it
 *     ({@link TableWalk.headLeaf}; a huge page that the clip range cuts).
 * {@link TableWalk.range} descends only into entries that intersect [p0, p1): absent subtrees are
 * skipped at the level where they are absent, so the cost follows what is mapped. In a 4 KiB-leaf
 * table the block kernels of ./leafScanKernels.ts do the work. In an upper-level table (level 2
 * and up: 2 MiB and 1 GiB leaves, table pointers) ./upperScanKernels.ts skips every 32-entry block
 * that holds only absent entries and clean single-entry leaves (an OR and an AND of the low words
 * against the format's masks: no table pointer, no dirty bit, no AMD replica); in a busy block the
 * same test on each word gives the mask of its busy entries (`busyMask`), and only those are
 * visited, one by one (a 2 MiB-leaf table at 1 % dirty: one entry of a busy block, where a loop
 * over all 32 cost ~90 ns per dirty leaf). The mask is read before any of the block's entries is
 * recorded, so a device write into the block after that read is seen by the next report (as for
 * a 4 KiB-leaf block). Entries walked one by one (busy upper entries; level-1 blocks holding
 * replicas):
 *   - a leaf of one entry (a 2 MiB or 1 GiB page; a 4 KiB one beside replicas): its dirty bit is
 *     tested first, and only a dirty leaf that starts in [p0, p1) is recorded ([a, b) ∩ clip),
 *     then cleared with a plain store of the low word that changes only the dirty state (safe:
 *     nothing else changes a dirty entry, see ./leafScanKernels.ts);
 *   - an AMD replicated page (2..256 entries, {@link TableWalk} group logic): read every replica
 *     (plain loads), OR their dirty bits, record [a, b) ∩ clip once, then clear the replicas that
 *     were seen dirty, each as above. Only replicated pages pay for this (docs/bench/pteWalk.md §3).
 * A replicated page seen mid-group (its head lies in a block the level-1 kernel skipped as clean,
 * or before the range) is handled whole when its head is in [p0, p1), and skipped otherwise
 * (another chunk owns it); so is a page whose head is in range but whose dirty replicas lie past
 * the range end, where the level-1 kernel stopped ({@link TableWalk} tail groups). The upper-level
 * skip never skips a block holding a replica, so there every group is met at its first replica in
 * the range, and `h = i & -r` with `head >= p0` decides ownership as for a single-entry leaf.
 *
 * The vtd-ss table pass (./leafScanKernels.ts scanBitTable) needs a scratch slot in the segment
 * of each leaf table it walks: the walk claims one per segment on first use and releases them all
 * when range() ends, in a `finally` (./TableMemory.ts, the scratch page); without a free slot, a
 * segment is walked with scanBitLeaves.
 *
 * Record before clear holds on every path: the sink writes the bitmap first; if it throws, the
 * clears of that block or leaf never run and the next report sees the leaf again. A replica that
 * a device dirties between our read and our clear is not cleared (only what was seen is).
 *
 * `entriesVisited` counts every entry of every index range walked (skipped clean blocks, at any
 * level, included: they were read), the entries read on the way down to a head leaf, and replicas
 * read outside the walked range.
 */
import { ctz32, popcount32 } from '../bitmap/bitKernels.js';
import type { LeafSink } from './DirtyLeafSink.js';
import type { LeafSkip } from './leafSkipKernel.js';
import { orReduceLowWords, scanBitLeaves, scanBitTable, scanSmmuLeaves } from './leafScanKernels.js';
import { busyMask, nextBusyBlock } from './upperScanKernels.js';
import { findLeafEntry } from './TableEditor.js';
import { ENTRY_ABSENT, ENTRY_LEAF, ENTRY_TABLE, SPAN, type PteCodec } from './pteFormats.js';
import { ENTRIES_PER_TABLE, ROOT_PAGE, type TableMemory } from './TableMemory.js';

/** Busy entries in a 32-entry upper block from which the walk visits the block's rest in one pass. */
const DENSE_BUSY = 4;

/** One walk over a table: a sink, a clear flag and the visit counter. */
export class TableWalk {
  /** PTEs read so far. */
  entriesVisited = 0;
  readonly #mem: TableMemory;
  readonly #codec: PteCodec;
  readonly #levels: number;
  readonly #sink: LeafSink;
  readonly #clear: boolean;
  /** The 4 KiB-leaf kernel's block state at the end of the last leaf table (the kernels' state0). */
  #leafState = 0;
  /** Replicas seen dirty in the current group (up to 256: 8 words). */
  readonly #seen = new Int32Array(8);
  /** Every slot this walk holds, as (table page id, slot) pairs, released when range() ends. */
  readonly #held: number[] = [];
  /** The slot claimed per segment so far (-1: none was free). */
  readonly #slotBySegment: number[] = [];

  constructor(mem: TableMemory, codec: PteCodec, levels: number, sink: LeafSink, clear: boolean) {
    this.#mem = mem;
    this.#codec = codec;
    this.#levels = levels;
    this.#sink = sink;
    this.#clear = clear;
  }

  /** Processes every leaf whose first 4 KiB page is in [p0, p1). */
  range(p0: number, p1: number): void {
    if (p0 >= p1) return;
    try {
      this.#table(ROOT_PAGE, this.#levels, 0, p0, p1);
    } finally {
      this.#releaseSlots();
    }
  }

  /**
   * The walk's scratch slot in the segment of table page `id` (TableMemory.claimScratch), claimed
   * on the first leaf table there; -1 when none was free.
   */
  #slotFor(id: number): number {
    const seg = this.#mem.segmentOf(id);
    let slot = this.#slotBySegment[seg];
    if (slot === undefined) {
      slot = this.#slotBySegment[seg] = this.#mem.claimScratch(id);
      if (slot >= 0) this.#held.push(id, slot);
    }
    return slot;
  }

  #releaseSlots(): void {
    const held = this.#held;
    for (let i = 0; i < held.length; i += 2) this.#mem.releaseScratch(held[i]!, held[i + 1]!);
    held.length = 0;
    this.#slotBySegment.length = 0;
  }

  /** Processes the leaf holding page `p` if it starts before `p` (the clip range's first leaf). */
  headLeaf(p: number): void {
    const at = findLeafEntry(this.#mem, this.#codec, this.#levels, p);
    this.entriesVisited += at.entriesRead;
    if (at.kind !== 'leaf' || at.start >= p) return;
    if (at.replicas === 1) {
      if (this.#codec.isDirty(at.u32[at.off + 2 * at.head]!)) this.#leaf(at.u32, at.off + 2 * at.head, at.start, at.span);
      return;
    }
    this.entriesVisited += at.replicas - 1;
    this.#group(at.u32, at.off, at.start, at.span, at.head, at.replicas);
  }

  #table(id: number, level: number, base: number, p0: number, p1: number): void {
    const mem = this.#mem;
    const span = SPAN[level]!;
    // Level 1 (an entry per page) needs no division: the common, per-leaf-table case.
    let i0 = level === 1 ? p0 - base : Math.floor((p0 - base) / span);
    let i1 = level === 1 ? p1 - base : Math.ceil((p1 - base) / span);
    if (i0 < 0) i0 = 0;
    if (i1 > ENTRIES_PER_TABLE) i1 = ENTRIES_PER_TABLE;
    if (i0 >= i1) return;
    this.entriesVisited += i1 - i0;
    if (level === 1) this.#leafTable(id, base, i0, i1, p0, p1);
    else this.#upperTable(id, level, base, i0, i1, p0, p1);
  }

  /**
   * Entries [i0, i1) of an upper-level table: in the blocks ./upperScanKernels.ts finds busy, the
   * busy entries (`busyMask`), one by one; the others are skipped (absent entries and clean leaves
   * only). An entry's visit may run past it (a replicated page): the mask goes on after it.
   */
  #upperTable(id: number, level: number, base: number, i0: number, i1: number, p0: number, p1: number): void {
    const codec = this.#codec;
    const mem = this.#mem;
    const words = mem.wordsOf(id);
    const u32 = mem.view(id);
    const off = mem.offsetOf(id);
    const none = codec.cleanBlockNone;
    const all = codec.cleanBlockAll;
    let i = i0;
    while (i < i1) {
      i = nextBusyBlock(words, off, i, i1, none, all);
      if (i >= i1) return;
      const b = i & ~31;
      const end = b + 32 < i1 ? b + 32 : i1;
      let m = busyMask(words, off, b, none, all) & (-1 << (i - b));
      if (end - b < 32) m &= (1 << (end - b)) - 1;
      if (popcount32(m) >= DENSE_BUSY) {
        // Many busy entries (a dense table): one pass over the rest of the block, as a call per
        // entry would cost more than the clean entries it skips.
        i = this.#entries(u32, off, level, base, b + ctz32(m), end, i1, p0, p1);
        continue;
      }
      i = end;
      while (m !== 0) {
        const j = b + ctz32(m);
        const after = this.#entries(u32, off, level, base, j, j + 1, i1, p0, p1);
        if (after >= end) {
          i = after;
          break;
        }
        m &= -1 << (after - b);
      }
    }
  }

  /**
   * The vtd-ss table pass over entries [i0, i1) of leaf table `id` (./leafScanKernels.ts
   * scanBitTable), or false when the walk has no scratch slot in its segment. Its own method: inside
   * #leafTable, its call pushed the other kernels out of V8's inlining budget there (amd-v1 walked
   * 20-25 % slower at 50-100 % dirty, docs/bench/pteWalk.md §10).
   */
  #tablePass(id: number, words: Int32Array, off: number, i0: number, i1: number, base: number, skips: LeafSkip): boolean {
    const slot = this.#slotFor(id);
    if (slot < 0) return false;
    this.#leafState = -1 - scanBitTable(words, off, i0, i1, this.#codec.dirtyBit, base, this.#sink, this.#clear, skips, slot, this.#leafState);
    return true;
  }

  #leafTable(id: number, base: number, i0: number, i1: number, p0: number, p1: number): void {
    const codec = this.#codec;
    const mem = this.#mem;
    const words = mem.wordsOf(id);
    const off = mem.offsetOf(id);
    const skips = mem.skipsOf(id);
    if (codec.leafKernel === 'smmu') {
      this.#leafState = -1 - scanSmmuLeaves(words, off, i0, i1, base, this.#sink, this.#clear, skips === null ? null : skips.smmu, this.#leafState);
      return;
    }
    if (skips !== null && codec.replicaMask === 0 && this.#tablePass(id, words, off, i0, i1, base, skips)) return;
    const skip = skips === null ? null : skips.bit;
    let i = i0;
    while (i < i1) {
      const stop = scanBitLeaves(words, off, i, i1, codec.dirtyBit, codec.replicaMask, base, this.#sink, this.#clear, skip, this.#leafState);
      this.#leafState = stop < 0 ? -1 - stop : 0;
      if (stop < 0) {
        if (codec.replicaMask !== 0) this.#tailGroup(mem.view(id), off, base, i, i1, p0);
        return;
      }
      const from = stop > i ? stop : i;
      const to = stop + 32 < i1 ? stop + 32 : i1;
      i = this.#entries(mem.view(id), off, 1, base, from, to, i1, p0, p1);
    }
  }

  /**
   * After a kernel pass over [i, i1) of a level-1 table: a replicated page whose head is in the
   * range but whose replicas run past i1 may be dirty only in replicas the kernel did not read.
   */
  #tailGroup(u32: Uint32Array, off: number, base: number, i: number, i1: number, p0: number): void {
    const codec = this.#codec;
    const k = off + 2 * (i1 - 1);
    if (i1 - 1 < i || codec.classify(u32[k]!, u32[k + 1]!, 1) !== ENTRY_LEAF) return;
    const r = codec.replicas(u32[k]!, u32[k + 1]!, 1);
    const h = (i1 - 1) & -r;
    if (h + r <= i1 || h < i || base + h < p0) return;
    this.entriesVisited += h + r - i1;
    this.#group(u32, off, base + h, 1, h, r);
  }

  /**
   * Walks entries [from, to) of a table one by one (upper levels; mixed level-1 blocks).
   * `end` is the end of the index range counted as visited. Returns the index after the last
   * entry handled (past `to` when a replicated page runs on).
   */
  #entries(u32: Uint32Array, off: number, level: number, base: number, from: number, to: number, end: number, p0: number, p1: number): number {
    const codec = this.#codec;
    const span = SPAN[level]!;
    // The clean-block test of ./upperScanKernels.ts on one entry, at the upper levels: an absent
    // entry or a clean leaf of one entry goes by without the codec. (At level 1, only a zero word.)
    const none = level > 1 ? codec.cleanBlockNone : -1;
    const all = level > 1 ? codec.cleanBlockAll : 0;
    let i = from;
    while (i < to) {
      const k = off + 2 * i;
      const lo = u32[k]! | 0; // an int32 (see ../leafScanKernels.ts: a Uint32 above 2^31 is a double)
      if (((lo & none) | ((lo & all) ^ all)) === 0) {
        i++;
        continue;
      }
      const hi = u32[k + 1]! | 0;
      const kind = codec.classify(lo, hi, level);
      if (kind === ENTRY_ABSENT) {
        i++;
      } else if (kind === ENTRY_TABLE) {
        this.#table(codec.tableId(lo, hi), level - 1, base + i * span, p0, p1);
        i++;
      } else {
        const r = codec.replicas(lo, hi, level);
        if (r === 1) {
          // One entry, one leaf: the dirty bit first, then ownership.
          if (codec.isDirty(lo) && base + i * span >= p0) this.#leaf(u32, k, base + i * span, span);
          i++;
          continue;
        }
        const h = i & -r;
        const start = base + h * span;
        if (start >= p0) {
          if (h + r > end) this.entriesVisited += h + r - end;
          this.#group(u32, off, start, span, h, r);
        }
        i = h + r;
      }
    }
    return i;
  }

  /** A dirty leaf of one entry (low word at `k`): record, then clear. */
  #leaf(u32: Uint32Array, k: number, start: number, pages: number): void {
    this.#sink.leafRun(start, pages);
    if (this.#clear) this.#codec.clearDirty(u32, k);
  }

  /** A replicated leaf of `r` > 1 entries from entry `h`: OR, record, clear what was seen dirty. */
  #group(u32: Uint32Array, off: number, start: number, span: number, h: number, r: number): void {
    const codec = this.#codec;
    const seen = this.#seen;
    seen.fill(0);
    let any = 0;
    for (let j = 0; j < r; j++) {
      if (codec.isDirty(u32[off + 2 * (h + j)]!)) {
        seen[j >>> 5]! |= 1 << (j & 31); // r <= 256 replicas: word j >>> 5 < 8 = seen.length
        any = 1;
      }
    }
    if (any === 0) return;
    this.#sink.leafRun(start, r * span);
    if (!this.#clear) return;
    for (let w = 0; w < 8; w++) {
      let m = seen[w]!;
      while (m !== 0) {
        codec.clearDirty(u32, off + 2 * (h + w * 32 + ctz32(m)));
        m &= m - 1;
      }
    }
  }
}

/**
 * Reads the low word of every entry of every 4 KiB-leaf table under the root (the memory a
 * 4 KiB-leaf walk reads), OR-reduced: the benchmark's read-bandwidth reference.
 * @returns the number of level-1 tables read and the OR of all low words (keeps the reads live)
 */
export function readLeafTables(mem: TableMemory, codec: PteCodec, levels: number): { tables: number; or: number } {
  const out = { tables: 0, or: 0 };
  const visit = (id: number, level: number): void => {
    const off = mem.offsetOf(id);
    if (level === 1) {
      out.tables++;
      out.or |= orReduceLowWords(mem.wordsOf(id), off, ENTRIES_PER_TABLE);
      return;
    }
    const u32 = mem.view(id);
    for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
      const k = off + 2 * i;
      if (codec.classify(u32[k]!, u32[k + 1]!, level) === ENTRY_TABLE) visit(codec.tableId(u32[k]!, u32[k + 1]!), level - 1);
    }
  };
  visit(ROOT_PAGE, levels);
  return out;
}
