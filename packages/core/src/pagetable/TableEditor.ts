/**
 * Changes to a page table's entries: map, unmap (owner thread), and the device's dirty marking.
 *
 * Theory of operation
 * -------------------
 * All three descend from the root through the index range their page range touches.
 * - map: creates missing tables on the way down (pages reserved beforehand, so a map that passed
 *   its checks cannot run out of memory half-way), then writes the leaves of one size at the
 *   level that size lives at (./pteFormats.ts `leafLevel`), every replica of an AMD page included.
 *   The caller has checked that nothing in the range is mapped.
 * - unmap: zeroes every leaf in the range and frees each table whose last entry goes (the parent
 *   entry is zeroed first), so the table and the walks stay proportional to what is mapped. The
 *   caller has checked that no leaf is cut by the range's ends.
 * - mark: what a device's DMA does. Tables are only read; each present, writable leaf touched
 *   gets its dirty state set with one atomic RMW on the low word (none when already dirty; a
 *   replicated page marks the replica covering the write). Safe while other threads walk and clear.
 *
 * map and unmap write with plain stores and keep owner-only counts (./TableMemory.ts), hence
 * owner-thread-only; no walk may run on the same range at the same time (iommufd holds iova_rwsem
 * for that). A device marking a range while it is being unmapped is a device fault on real
 * hardware; here it can at worst leave a stray dirty bit in a now-absent entry, which the next
 * map of that entry overwrites.
 */
import { ENTRY_ABSENT, ENTRY_LEAF, ENTRY_TABLE, SPAN, type PteCodec } from './pteFormats.js';
import { ENTRIES_PER_TABLE, ROOT_PAGE, type TableMemory } from './TableMemory.js';

/** The leaves a map writes. */
export interface LeafSpec {
  /** Level the leaf entries live at (1..3). */
  readonly level: number;
  /** 4 KiB pages per leaf (a power of two). */
  readonly groupPages: number;
  /** Writable (dirty-trackable) or read-only. */
  readonly writable: boolean;
}

/** A leaf found by {@link TableEditor.leafAt}. */
export interface LeafInfo {
  /** First 4 KiB page of the leaf. */
  readonly start: number;
  /** Its size in 4 KiB pages. */
  readonly pages: number;
}

/** Where the descent of {@link findLeafEntry} ended. */
export type LeafEntry =
  | {
      readonly kind: 'leaf';
      /** Entries read on the way down, the leaf's (first replica read) included. */
      readonly entriesRead: number;
      /** The table holding the leaf: its word view and the word offset of its entry 0. */
      readonly u32: Uint32Array;
      readonly off: number;
      /** Index of the leaf's first replica in that table, and the number of replicas. */
      readonly head: number;
      readonly replicas: number;
      /** 4 KiB pages one entry of that table spans. */
      readonly span: number;
      /** First 4 KiB page of the leaf. */
      readonly start: number;
    }
  | { readonly kind: 'absent'; readonly entriesRead: number };

/**
 * Descends from the root to the entry that maps page `p`: one entry read per level, until a leaf
 * or an absent entry. Shared by {@link TableEditor.leafAt} and the walk's first leaf
 * (./TableWalk.ts `TableWalk.headLeaf`).
 */
export function findLeafEntry(mem: TableMemory, codec: PteCodec, levels: number, p: number): LeafEntry {
  let id = ROOT_PAGE;
  let base = 0;
  let entriesRead = 0;
  for (let level = levels; level >= 1; level--) {
    const u32 = mem.view(id);
    const off = mem.offsetOf(id);
    const span = SPAN[level]!;
    const i = Math.floor((p - base) / span);
    const k = off + 2 * i;
    entriesRead++;
    const kind = codec.classify(u32[k]!, u32[k + 1]!, level);
    if (kind === ENTRY_ABSENT) break;
    if (kind === ENTRY_LEAF) {
      const replicas = codec.replicas(u32[k]!, u32[k + 1]!, level);
      const head = i & -replicas;
      return { kind: 'leaf', entriesRead, u32, off, head, replicas, span, start: base + head * span };
    }
    id = codec.tableId(u32[k]!, u32[k + 1]!);
    base += i * span;
  }
  return { kind: 'absent', entriesRead };
}

/** map / unmap / mark over one table memory; see the module comment. */
export class TableEditor {
  readonly #mem: TableMemory;
  readonly #codec: PteCodec;
  readonly #levels: number;

  constructor(mem: TableMemory, codec: PteCodec, levels: number) {
    this.#mem = mem;
    this.#codec = codec;
    this.#levels = levels;
  }

  /** An upper bound on the tables a map of pages [s, e) with leaves at `leafLevel` creates. */
  tablesNeeded(s: number, e: number, leafLevel: number): number {
    let n = 0;
    for (let l = leafLevel; l < this.#levels; l++) {
      const cover = ENTRIES_PER_TABLE * SPAN[l]!;
      n += Math.floor((e - 1) / cover) - Math.floor(s / cover) + 1;
    }
    return n;
  }

  /** Maps pages [s, e) (aligned to the leaf size; nothing mapped there). */
  map(s: number, e: number, spec: LeafSpec): void {
    this.#map(ROOT_PAGE, this.#levels, 0, s, e, spec);
  }

  #map(id: number, level: number, base: number, s: number, e: number, spec: LeafSpec): void {
    const mem = this.#mem;
    const codec = this.#codec;
    const u32 = mem.view(id);
    const off = mem.offsetOf(id);
    const span = SPAN[level]!;
    if (level === spec.level) {
      const i0 = (s - base) / span;
      const i1 = (e - base) / span;
      const r = spec.groupPages / span;
      for (let i = i0; i < i1; i += r) {
        for (let j = 0; j < r; j++) codec.writeLeaf(u32, off + 2 * (i + j), level, base + i * span, spec.groupPages, spec.writable);
      }
      mem.addCount(id, i1 - i0);
      return;
    }
    const i0 = Math.floor((s - base) / span);
    const i1 = Math.ceil((e - base) / span);
    for (let i = i0; i < i1; i++) {
      const k = off + 2 * i;
      let child: number;
      const kind = codec.classify(u32[k]!, u32[k + 1]!, level);
      if (kind === ENTRY_TABLE) {
        child = codec.tableId(u32[k]!, u32[k + 1]!);
      } else if (kind === ENTRY_ABSENT) {
        child = mem.allocPage();
        codec.writeTable(u32, k, level, child);
        mem.addCount(id, 1);
      } else {
        throw new Error(`IoPageTable internal error: map over a leaf at level ${level}`);
      }
      const cBase = base + i * span;
      this.#map(child, level - 1, cBase, Math.max(s, cBase), Math.min(e, cBase + span), spec);
    }
  }

  /** Unmaps pages [s, e) (no leaf cut by the ends); returns the leaves and pages removed. */
  unmap(s: number, e: number): { leaves: number; pages: number } {
    const acc = { leaves: 0, pages: 0 };
    this.#unmap(ROOT_PAGE, this.#levels, 0, s, e, acc);
    return acc;
  }

  #unmap(id: number, level: number, base: number, s: number, e: number, acc: { leaves: number; pages: number }): void {
    const mem = this.#mem;
    const codec = this.#codec;
    const u32 = mem.view(id);
    const off = mem.offsetOf(id);
    const span = SPAN[level]!;
    const i0 = Math.max(0, Math.floor((s - base) / span));
    const i1 = Math.min(ENTRIES_PER_TABLE, Math.ceil((e - base) / span));
    for (let i = i0; i < i1; i++) {
      const k = off + 2 * i;
      const kind = codec.classify(u32[k]!, u32[k + 1]!, level);
      if (kind === ENTRY_TABLE) {
        const child = codec.tableId(u32[k]!, u32[k + 1]!);
        this.#unmap(child, level - 1, base + i * span, s, e, acc);
        if (mem.count(child) === 0) {
          u32[k] = 0;
          u32[k + 1] = 0;
          mem.addCount(id, -1);
          mem.freePage(child);
        }
      } else if (kind === ENTRY_LEAF) {
        const r = codec.replicas(u32[k]!, u32[k + 1]!, level);
        const h = i & -r;
        for (let j = h; j < h + r; j++) {
          u32[off + 2 * j] = 0;
          u32[off + 2 * j + 1] = 0;
        }
        mem.addCount(id, -r);
        acc.leaves++;
        acc.pages += r * span;
        i = h + r - 1;
      }
    }
  }

  /** The leaf holding page `p`, or undefined when `p` is not mapped. */
  leafAt(p: number): LeafInfo | undefined {
    const at = findLeafEntry(this.#mem, this.#codec, this.#levels, p);
    return at.kind === 'leaf' ? { start: at.start, pages: at.replicas * at.span } : undefined;
  }

  /** A device write over pages [p, end): marks the present writable leaves; returns how many. */
  mark(p: number, end: number): number {
    return this.#mark(ROOT_PAGE, this.#levels, 0, p, end);
  }

  #mark(id: number, level: number, base: number, p: number, end: number): number {
    const mem = this.#mem;
    const codec = this.#codec;
    const u32 = mem.view(id);
    const off = mem.offsetOf(id);
    const span = SPAN[level]!;
    let n = 0;
    let i = Math.floor((p - base) / span);
    while (i < ENTRIES_PER_TABLE) {
      const eStart = base + i * span;
      if (eStart >= end) break;
      const k = off + 2 * i;
      const lo = u32[k]!;
      const hi = u32[k + 1]!;
      const kind = codec.classify(lo, hi, level);
      if (kind === ENTRY_TABLE) {
        n += this.#mark(codec.tableId(lo, hi), level - 1, eStart, p > eStart ? p : eStart, end);
      } else if (kind === ENTRY_LEAF) {
        if (codec.markDirty(u32, k)) n++;
        const r = codec.replicas(lo, hi, level);
        if (r > 1) {
          i = (i & -r) + r;
          continue;
        }
      }
      i++;
    }
    return n;
  }
}
