/**
 * The WebAssembly kernels of the 4 KiB-leaf walk over a table segment: the clean-block skips, and
 * the table pass of vtd-ss (`table` and `clearPairs`, ./leafScanKernels.ts `scanBitTable`).
 *
 * Theory of operation
 * -------------------
 * What it is. ./leafScanKernels.ts walks a leaf table in blocks of 32 entries and, at low density,
 * spends nearly all its time proving blocks clean: an OR of their 32 low words. In JavaScript each
 * of those loads carries a bounds check, and that alone keeps the loop about 1.4x slower than the
 * same loop in C (docs/bench/pteWalk.md §8). WebAssembly loads at constant offsets carry none (the
 * engine reserves guard pages around a memory instead), so the skip over clean blocks runs as a
 * small WebAssembly function, `skip` of ./leafSkipKernel.wat: it returns the first block at or
 * after a byte offset with the dirty bit (or a replica bit) in one of its low words (`skipSmmu`:
 * with a valid entry whose AP[2] is clear, the smmu-v3 dirty state). For those formats everything
 * else (the mask, the record, the clear, the states) stays in JavaScript, where the sink's bitmap
 * is (a WebAssembly function reads only its own memory): a variant that also built the mask and
 * cleared in WebAssembly, one call per dirty block, lost 10-40 % at 50-100 % dirty
 * (docs/bench/pteWalk.md §8). vtd-ss takes the table pass below instead. The skip is called once
 * per run of clean blocks: a call costs 3.6 ns while its call site has seen one function, 7-7.5 ns
 * once it has seen several (pteWalk.md §9).
 *
 * Memory. A WebAssembly function reads only the memory its instance imports, and a memory cannot
 * be made from an existing SharedArrayBuffer (../wasmMemory.ts); so a table segment that should be
 * walked this way is allocated *as* a shared WebAssembly memory ({@link newSegmentMemory}), whose
 * `buffer` is the segment's SharedArrayBuffer for every JavaScript view. One instance per segment and thread: the
 * owner makes its own on first use ({@link leafSkipFor}); a view (a worker's, a new one for every
 * report) takes the ones its thread made for the same table before ({@link viewSkipsFor}), so that
 * the walk's call site sees the same functions report after report. share() hands the memories on
 * (they are structured-cloneable), with the table's id. The module is compiled once per thread.
 * Where a segment has no memory (WebAssembly missing, or the engine refusing the memory: each
 * reserves some 10 GiB of address space for its guard pages), or a descriptor none, the walk
 * prescans in JavaScript, with the same result bit for bit.
 *
 * The table pass. Where the walk can hand the record to JavaScript between two calls, the whole
 * mask pass of a vtd-ss leaf table runs in WebAssembly too: `table` writes (block, mask) pairs
 * into a scratch slot of the same memory (the last page of each segment, ./TableMemory.ts), and
 * `clearPairs` clears the entries they name once JavaScript has recorded them. `table` uses
 * 128-bit SIMD (two entries per load; the mask from i32x4.bitmask): an engine without WebAssembly
 * SIMD (V8 needs SSE4.1 on x86-64) refuses the module, and every walk then prescans in JavaScript.
 *
 * Safety. The skips and `table` read the table only (`table` writes its slot), `clearPairs` writes
 * only the dirty bit of the entries its pairs name; an offset outside the memory traps (a
 * RangeError in the caller) instead of touching another memory. The caller passes offsets of its
 * own table page and slot.
 *
 * The bytes are generated from ./leafSkipKernel.wat by scripts/build-wasm.mjs (wabt) into
 * ./leafSkipKernelBytes.ts; a test recompiles the text and compares.
 */
import { type WasmMemory, compileKernel, instantiate, isSharedMemory, newSharedMemory } from '../wasmMemory.js';
import { LEAF_SKIP_KERNEL_BYTES } from './leafSkipKernelBytes.js';

/**
 * The WebAssembly kernels over one segment (./leafSkipKernel.wat). p and e are block-aligned byte
 * offsets in the segment; the skips return the byte offset of the first 256-byte block (32
 * entries) in [p, e) that may need the walk, or `e`.
 */
export interface LeafSkip {
  /** `bit` formats: the first block one of whose low words has a bit of `bits`. */
  readonly bit: (p: number, e: number, bits: number) => number;
  /** smmu-v3: the first block with a valid entry whose AP[2] (bit 7) is clear. */
  readonly smmu: (p: number, e: number) => number;
  /**
   * `bit` formats without replicas: the masks of the dirty entries of the blocks in [p, e), the
   * first ANDed with `fm` and the last with `lm`, written as (block byte offset, mask) pairs from
   * byte `out` on (a scratch slot, ./TableMemory.ts); starts in block state `st`. Returns
   * (pairs << 2) | the state after the last block. Reads only the table (writes the slot).
   */
  readonly table: (p: number, e: number, dbit: number, out: number, st: number, fm: number, lm: number) => number;
  /** Clears bit `dbit` of the entries the `n` pairs at byte `out` name (after {@link LeafSkip.table}). */
  readonly clearPairs: (out: number, n: number, dbit: number) => void;
}

/** A table segment's WebAssembly memory (../wasmMemory.ts). */
export type SegmentMemory = WasmMemory;

/** The compiled module (per thread), or null when WebAssembly is unavailable or refuses it. */
function leafSkipModule(): object | null {
  return compileKernel(LEAF_SKIP_KERNEL_BYTES);
}

/**
 * A shared WebAssembly memory of `bytes` bytes (a multiple of 64 KiB) for a table segment, or
 * undefined when there is no WebAssembly, `bytes` is not a positive number of whole 64 KiB pages,
 * or the engine refuses the memory (the caller then allocates a plain SharedArrayBuffer).
 */
export function newSegmentMemory(bytes: number): SegmentMemory | undefined {
  return leafSkipModule() === null ? undefined : newSharedMemory(bytes);
}

/**
 * Tables whose views' skips a thread keeps ({@link viewSkipsFor}): at most this many, the most
 * recently used. Each kept instance keeps its segment's memory alive, so the bound is what a
 * dropped table can pin in a worker: up to four tables' segments.
 */
const VIEW_TABLES_KEPT = 4;
/** Per thread: the skips of views, by table id, then by segment. Most recently used last. */
const viewSkips = new Map<string, (LeafSkip | null)[]>();

/**
 * The skips over segment `segment` of the table `tableId` as this thread first made them for a view
 * of it, or a new instance over `memory`. A worker builds a new view of a table for every report;
 * without this, every report would make new instances, hence new functions, and the walk's call
 * site would see a new target at every report (docs/bench/pteWalk.md §8: that cost more than the
 * skip saved at 1-100 % dirty). The id is the table's (share() carries it, TableMemory.ts); a
 * descriptor that pairs an id with another table's memories (forged) gets that table's skips,
 * which can only mislead its own walk: the skip reads, the walk records and clears through the
 * descriptor's own segments.
 */
export function viewSkipsFor(tableId: string, segment: number, memory: SegmentMemory): LeafSkip | null {
  let table = viewSkips.get(tableId);
  if (table === undefined) {
    if (viewSkips.size >= VIEW_TABLES_KEPT) viewSkips.delete(viewSkips.keys().next().value as string);
    table = [];
  } else {
    viewSkips.delete(tableId); // re-inserted below: most recent last
  }
  viewSkips.set(tableId, table);
  let f = table[segment];
  if (f === undefined) f = table[segment] = leafSkipFor(memory);
  return f;
}

/** True when `x` is a shared WebAssembly memory of `bytes` bytes. */
export function isSegmentMemory(x: unknown, bytes: number): x is SegmentMemory {
  return isSharedMemory(x, bytes);
}

/** The skips over `memory` (a new instance), or null when it cannot be instantiated. */
export function leafSkipFor(memory: SegmentMemory): LeafSkip | null {
  const m = leafSkipModule();
  const e = m === null ? null : instantiate(m, memory);
  if (e === null) return null;
  return {
    bit: e['skip'] as LeafSkip['bit'],
    smmu: e['skipSmmu'] as LeafSkip['smmu'],
    table: e['scanTable'] as LeafSkip['table'],
    clearPairs: e['clearPairs'] as LeafSkip['clearPairs'],
  };
}
