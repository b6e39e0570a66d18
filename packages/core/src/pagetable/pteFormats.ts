/**
 * The three IOMMU PTE formats that carry a hardware dirty bit, as bit-exact codecs.
 *
 * Theory of operation
 * -------------------
 * A page-table entry is 64 bits, held as two 32-bit halves in a Uint32Array (little-endian: entry
 * k is words 2k (bits 0..31, "lo") and 2k + 1 (bits 32..63, "hi")). Every dirty test, and every
 * atomic set or clear of the dirty state, touches the low word only: that is what lets the walk
 * kernels (./leafScanKernels.ts, and ./upperScanKernels.ts above level 1, where the low word also
 * tells a table pointer from a leaf) OR-reduce 32 low words to skip clean blocks.
 *
 * Levels count from 1 (the table of 4 KiB entries) up to 4 (48-bit IOVA) or 5 (57-bit). An entry
 * at level L spans 512^(L-1) pages of 4 KiB; it is absent, a pointer to a table at level L - 1, or
 * a leaf (4 KiB at L1, 2 MiB at L2, 1 GiB at L3). A table pointer holds the child's *table-page id*
 * in the output-address field (bits 12 and up), exactly where hardware holds a physical address.
 * Leaves hold a synthetic output address: the IOVA's page number modulo the field's width (no
 * physical memory is modelled).
 *
 * Bits used (docs/design/pte-formats.md for the dirty bits; the vendor manuals for the rest):
 * - `vtd-ss` (Intel VT-d second stage): R bit 0, W bit 1, PS bit 7 (a leaf above level 1), dirty
 *   bit 9. Present = R|W. Tables are R|W with PS = 0.
 * - `amd-v1` (AMD IOMMU v1): PR bit 0, dirty bit 6, NextLevel bits 9..11, IR bit 61, IW bit 62.
 *   A table has NextLevel = L - 1; a leaf NextLevel 0 (the level's own size) or 7 (a non-default
 *   power of two). A size-2^s page with NextLevel 7 sets address bits 12..s-2 and clears bit s-1,
 *   and is *replicated* into every entry it covers (2 .. 256 entries); the hardware may set the
 *   dirty bit in any replica, so software ORs them on read and clears them all (AMD manual 2.2.3.2).
 * - `smmu-v3` (Arm stage-1 LPAE, 4 KiB granule, HTTU with HD): valid bit 0, bit 1 table/page (1)
 *   vs block (0), AttrIndx bits 2..4, AP[1] bit 6, AP[2] (read-only) bit 7, SH bits 8..9, AF bit
 *   10, nG bit 11, DBM bit 51. Writable-clean = DBM=1, AP[2]=1; dirty = DBM=1, AP[2]=0; clearing
 *   sets AP[2] back. Read-only leaves never get DBM, so they keep AP[2]=1 and never look dirty;
 *   writable leaves always get DBM. Hence "AP[2] = 0 on a valid leaf" implies DBM = 1, and the
 *   dirty test reads the low word only. (Linux creates writable leaves dirty and relies on the
 *   clear when tracking is enabled; we create them clean so that all formats start alike.) Real
 *   SMMUs stop at 52-bit VAs (LPA2); our 5-level smmu-v3 table is an extension for uniformity.
 */
import { ctz32 } from '../bitmap/bitKernels.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../sizes.js';

/** The PTE formats with hardware dirty tracking. */
export type PteFormat = 'vtd-ss' | 'amd-v1' | 'smmu-v3';

/** Every supported format, in a stable order (handy for tests). */
export const PTE_FORMATS: readonly PteFormat[] = Object.freeze(['vtd-ss', 'amd-v1', 'smmu-v3']);

/** What an entry is, from {@link PteCodec.classify}. */
export const ENTRY_ABSENT = 0;
/** A pointer to a table one level down. */
export const ENTRY_TABLE = 1;
/** A leaf (a mapped page, or one replica of an AMD non-default-size page). */
export const ENTRY_LEAF = 2;

const TWO20 = 1048576;

/**
 * Encoder/decoder of one PTE format. `u32` is a table segment's word view and `k` the index of an
 * entry's low word (the high word is `k + 1`). Methods that change a live leaf are atomic on the
 * low word and change only the dirty state.
 */
export interface PteCodec {
  /** The format's name. */
  readonly format: PteFormat;
  /** log2 of every leaf size (bytes) {@link PteCodec.writeLeaf} accepts, ascending. */
  readonly leafShifts: readonly number[];
  /** Which 4 KiB-leaf kernel applies: a set dirty bit (`bit`), or a cleared AP[2] (`smmu`). */
  readonly leafKernel: 'bit' | 'smmu';
  /** For `leafKernel === 'bit'`: the dirty bit's position in the low word. */
  readonly dirtyBit: number;
  /** Low-word bits whose presence in a level-1 block means "replicated entries here" (0: never). */
  readonly replicaMask: number;
  /**
   * The clean-block test of the upper levels (2 and up; ./upperScanKernels.ts): a block of
   * entries whose low words OR to none of these bits, and AND to all of {@link cleanBlockAll},
   * holds only absent entries and clean leaves of one entry each (no table pointer, no dirty
   * leaf, no replica), so the walk may skip it.
   */
  readonly cleanBlockNone: number;
  /** See {@link cleanBlockNone}: low-word bits that every entry of a skippable block has. */
  readonly cleanBlockAll: number;
  /** Absent, table or leaf, for an entry at `level`. */
  classify(lo: number, hi: number, level: number): number;
  /** The table-page id a table entry points to. */
  tableId(lo: number, hi: number): number;
  /** Writes a table entry at `level` pointing to table page `id`. */
  writeTable(u32: Uint32Array, k: number, level: number, id: number): void;
  /**
   * Writes one leaf entry (one replica) at `level` for a page of `groupPages` 4 KiB pages
   * starting at page `page`; clean; writable or read-only.
   */
  writeLeaf(u32: Uint32Array, k: number, level: number, page: number, groupPages: number, writable: boolean): void;
  /** Entries (replicas) that make up the leaf whose entry is (lo, hi) at `level`; 1 if not replicated. */
  replicas(lo: number, hi: number, level: number): number;
  /** True when the leaf entry's low word says dirty. */
  isDirty(lo: number): boolean;
  /**
   * Returns the dirty leaf at `k` to clean, touching only the dirty state: a plain load and store,
   * safe because no other thread changes a dirty entry's low word (see ./leafScanKernels.ts).
   */
  clearDirty(u32: Uint32Array, k: number): void;
  /**
   * A device write through the leaf at `k`: on a present writable leaf, atomically makes it dirty
   * and returns true; false for a read-only leaf. It must store nothing to a leaf that is already
   * dirty: that is what lets the walker clear with a plain store (./leafScanKernels.ts).
   */
  markDirty(u32: Uint32Array, k: number): boolean;
}

/** Pages of 4 KiB spanned by one entry at each level: SPAN[L] = 512^(L-1) (index 0 unused). */
export const SPAN: readonly number[] = [0, 1, 512, 2 ** 18, 2 ** 27, 2 ** 36];

/** The level at which a leaf of 2^shift bytes lives (1 for 4 KiB..1 MiB, 2 for 2 MiB..512 MiB, 3 for 1 GiB). */
export function leafLevel(shift: number): number {
  return Math.floor((shift - PAGE_SHIFT) / 9) + 1;
}

/** Count trailing one bits of a 32-bit value. */
function trailingOnes(x: number): number {
  const y = ~x;
  return y === 0 ? 32 : ctz32(y);
}

/** Splits a page number into the address field: lo bits 12..31 and hi bits 0..(width-21). */
function addrLo(pfn: number): number {
  return (pfn % TWO20) * PAGE_SIZE;
}
function addrHi(pfn: number, hiMask: number): number {
  return Math.floor(pfn / TWO20) & hiMask;
}

class VtdSecondStage implements PteCodec {
  readonly format = 'vtd-ss' as const;
  readonly leafShifts = [PAGE_SHIFT, 21, 30];
  readonly leafKernel = 'bit' as const;
  readonly dirtyBit = 9;
  readonly replicaMask = 0;
  /** Dirty bit 9 in none; PS (bit 7) in all: every entry is a leaf, as a table has PS clear. */
  readonly cleanBlockNone = 0x200;
  readonly cleanBlockAll = 0x80;
  classify(lo: number, _hi: number, level: number): number {
    if ((lo & 3) === 0) return ENTRY_ABSENT;
    return level === 1 || (lo & 0x80) !== 0 ? ENTRY_LEAF : ENTRY_TABLE;
  }
  tableId(lo: number, hi: number): number {
    return (lo >>> 12) + (hi & 0xfffff) * TWO20;
  }
  writeTable(u32: Uint32Array, k: number, _level: number, id: number): void {
    u32[k + 1] = addrHi(id, 0xfffff);
    u32[k] = (addrLo(id) | 3) >>> 0;
  }
  writeLeaf(u32: Uint32Array, k: number, level: number, page: number, _groupPages: number, writable: boolean): void {
    const pfn = page % 2 ** 40;
    u32[k + 1] = addrHi(pfn, 0xfffff);
    u32[k] = (addrLo(pfn) | 1 | (writable ? 2 : 0) | (level > 1 ? 0x80 : 0)) >>> 0;
  }
  replicas(): number {
    return 1;
  }
  isDirty(lo: number): boolean {
    return (lo & 0x200) !== 0;
  }
  clearDirty(u32: Uint32Array, k: number): void {
    u32[k] = u32[k]! & ~0x200;
  }
  markDirty(u32: Uint32Array, k: number): boolean {
    const lo = u32[k]!;
    if ((lo & 2) === 0) return false;
    if ((lo & 0x200) === 0) Atomics.or(u32, k, 0x200);
    return true;
  }
}

const AMD_IR = 1 << 29; // bit 61
const AMD_IW = 1 << 30; // bit 62

class AmdV1 implements PteCodec {
  readonly format = 'amd-v1' as const;
  readonly leafShifts = Array.from({ length: 19 }, (_, i) => PAGE_SHIFT + i);
  readonly leafKernel = 'bit' as const;
  readonly dirtyBit = 6;
  /** NextLevel bit 9: set only by NextLevel 7 (a replica) in a level-1 table. */
  readonly replicaMask = 0x200;
  /**
   * Dirty bit 6 and NextLevel (bits 9..11) in none: a table has NextLevel = L - 1 (not 0) and a
   * replica 7, so what is left is absent entries and leaves of NextLevel 0, clean.
   */
  readonly cleanBlockNone = 0xe40;
  readonly cleanBlockAll = 0;
  classify(lo: number): number {
    if ((lo & 1) === 0) return ENTRY_ABSENT;
    const nl = (lo >>> 9) & 7;
    return nl === 0 || nl === 7 ? ENTRY_LEAF : ENTRY_TABLE;
  }
  tableId(lo: number, hi: number): number {
    return (lo >>> 12) + (hi & 0xfffff) * TWO20;
  }
  writeTable(u32: Uint32Array, k: number, level: number, id: number): void {
    u32[k + 1] = (addrHi(id, 0xfffff) | AMD_IR | AMD_IW) >>> 0;
    u32[k] = (addrLo(id) | ((level - 1) << 9) | 1) >>> 0;
  }
  writeLeaf(u32: Uint32Array, k: number, level: number, page: number, groupPages: number, writable: boolean): void {
    const replicated = groupPages !== SPAN[level];
    // NextLevel 7: address bits 12..s-2 set, bit s-1 clear, for a 2^s-byte page.
    const pfn = (page % 2 ** 40) + (replicated ? groupPages / 2 - 1 : 0);
    u32[k + 1] = (addrHi(pfn, 0xfffff) | AMD_IR | (writable ? AMD_IW : 0)) >>> 0;
    u32[k] = (addrLo(pfn) | (replicated ? 7 << 9 : 0) | 1) >>> 0;
  }
  replicas(lo: number, _hi: number, level: number): number {
    if (((lo >>> 9) & 7) !== 7) return 1;
    // 2^(1 + ones) pages of 4 KiB over entries of 512^(level - 1) pages; a shift keeps it a small
    // integer (a division would make it a double, and every index computed from it).
    return 1 << (1 + trailingOnes(lo >>> 12) - 9 * (level - 1));
  }
  isDirty(lo: number): boolean {
    return (lo & 0x40) !== 0;
  }
  clearDirty(u32: Uint32Array, k: number): void {
    u32[k] = u32[k]! & ~0x40;
  }
  markDirty(u32: Uint32Array, k: number): boolean {
    if ((u32[k + 1]! & AMD_IW) === 0) return false;
    if ((u32[k]! & 0x40) === 0) Atomics.or(u32, k, 0x40);
    return true;
  }
}

const SMMU_DBM = 1 << 19; // bit 51
/** AttrIndx 1, AP[1] (unprivileged), SH inner-shareable, AF, nG. */
const SMMU_LEAF_ATTRS = (1 << 2) | (1 << 6) | (3 << 8) | (1 << 10) | (1 << 11);

class SmmuV3 implements PteCodec {
  readonly format = 'smmu-v3' as const;
  readonly leafShifts = [PAGE_SHIFT, 21, 30];
  readonly leafKernel = 'smmu' as const;
  readonly dirtyBit = 7;
  readonly replicaMask = 0;
  /**
   * Bit 1 in none and bits 0 and 7 in all: every entry valid (bit 0) with bit 1 clear, i.e. a
   * block descriptor (a table has bits 0..1 = 3), and AP[2] set, i.e. clean (or read-only).
   */
  readonly cleanBlockNone = 0x2;
  readonly cleanBlockAll = 0x81;
  classify(lo: number, _hi: number, level: number): number {
    const t = lo & 3;
    if (level === 1) return t === 3 ? ENTRY_LEAF : ENTRY_ABSENT;
    return t === 3 ? ENTRY_TABLE : t === 1 ? ENTRY_LEAF : ENTRY_ABSENT;
  }
  tableId(lo: number, hi: number): number {
    return (lo >>> 12) + (hi & 0xffff) * TWO20;
  }
  writeTable(u32: Uint32Array, k: number, _level: number, id: number): void {
    u32[k + 1] = addrHi(id, 0xffff);
    u32[k] = (addrLo(id) | 3) >>> 0;
  }
  writeLeaf(u32: Uint32Array, k: number, level: number, page: number, _groupPages: number, writable: boolean): void {
    const pfn = page % 2 ** 36;
    u32[k + 1] = (addrHi(pfn, 0xffff) | (writable ? SMMU_DBM : 0)) >>> 0;
    // AP[2] = 1 both ways: read-only, or writable-clean (with DBM).
    u32[k] = (addrLo(pfn) | SMMU_LEAF_ATTRS | 0x80 | (level === 1 ? 3 : 1)) >>> 0;
  }
  replicas(): number {
    return 1;
  }
  isDirty(lo: number): boolean {
    return (lo & 0x80) === 0;
  }
  clearDirty(u32: Uint32Array, k: number): void {
    u32[k] = u32[k]! | 0x80;
  }
  markDirty(u32: Uint32Array, k: number): boolean {
    if ((u32[k + 1]! & SMMU_DBM) === 0) return false;
    if ((u32[k]! & 0x80) !== 0) Atomics.and(u32, k, ~0x80);
    return true;
  }
}

const CODECS: Readonly<Record<PteFormat, PteCodec>> = {
  'vtd-ss': new VtdSecondStage(),
  'amd-v1': new AmdV1(),
  'smmu-v3': new SmmuV3(),
};

/** The codec of `format`, or undefined for an unknown name. */
export function codecOf(format: string): PteCodec | undefined {
  return typeof format === 'string' && Object.hasOwn(CODECS, format) ? CODECS[format as PteFormat] : undefined;
}
