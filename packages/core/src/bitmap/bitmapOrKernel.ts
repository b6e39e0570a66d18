/**
 * The WebAssembly OR of the page-table walk's masks into a bitmap (./bitmapOrKernel.wat), and the
 * memory it needs.
 *
 * Theory of operation
 * -------------------
 * Why. V8 11.3 (Node 20) runs every JavaScript `Atomics.or` as a call of about 10 ns, where the
 * locked instruction it stands for costs a few; in the vtd-ss walk that call was a third of the
 * cost of a table at 1 % dirty and most of the gap between shared and plain memory at 50 %
 * (docs/bench/pteWalk.md §11). WebAssembly's `i32.atomic.rmw.or` is the instruction itself, so
 * the walk's sink hands the masks of a leaf table to {@link Or4} four at a time
 * (../pagetable/DirtyLeafSink.ts `leafPairs`).
 *
 * Memory. A WebAssembly function writes only the memory its instance imports, and a memory cannot
 * be made from an existing buffer (../wasmMemory.ts). So a bitmap over fresh memory of at least
 * {@link WASM_BITMAP_MIN_BYTES} is allocated as a shared WebAssembly memory
 * ({@link newBitmapMemory}; its buffer, rounded up to whole 64 KiB pages, is the bitmap's
 * SharedArrayBuffer), and share() hands the memory to workers with the buffer. Smaller bitmaps
 * (each memory reserves some 10 GiB of address space, and V8 caps the total: thousands of small
 * bitmaps must not spend it), a caller's buffer, a refused memory or module: plain
 * SharedArrayBuffer, and the sink takes Atomics.or, with the same bits.
 *
 * One instance per bitmap view ({@link bitmapOrKernelFor}, called once per IovaBitmap object when
 * a walk first records into it), so a worker that rebuilds its view per report instantiates per
 * report (about 9 µs on this machine, only for views that record masks; a new memory: about 24 µs).
 */
import { type WasmMemory, WASM_PAGE, compileKernel, instantiate, newSharedMemory } from '../wasmMemory.js';
import { BITMAP_OR_KERNEL_BYTES } from './bitmapOrKernelBytes.js';

/**
 * ORs mask mk into the bitmap word at byte address ak of the memory (i32.atomic.rmw.or), m0
 * always, m1..m3 when not 0; returns the population count of m0..m3. Addresses are 4-byte aligned
 * words of the bitmap.
 */
export type Or4 = (a0: number, m0: number, a1: number, m1: number, a2: number, m2: number, a3: number, m3: number) => number;

/** A bitmap over fresh memory takes a WebAssembly memory from this many bytes on (2 GiB of IOVA at 4 KiB pages). */
export const WASM_BITMAP_MIN_BYTES = 64 * 1024;

/**
 * A shared WebAssembly memory for a new bitmap of `bytes` bytes (rounded up to whole pages), or
 * undefined: below {@link WASM_BITMAP_MIN_BYTES}, above 4 GiB, or no WebAssembly, no kernel, no
 * memory (the caller then allocates a SharedArrayBuffer).
 */
export function newBitmapMemory(bytes: number): WasmMemory | undefined {
  if (bytes < WASM_BITMAP_MIN_BYTES || compileKernel(BITMAP_OR_KERNEL_BYTES) === null) return undefined;
  return newSharedMemory(Math.ceil(bytes / WASM_PAGE) * WASM_PAGE);
}

/** The {@link Or4} of a new instance over `memory`, or null when it cannot be made. */
export function bitmapOrKernelFor(memory: WasmMemory): Or4 | null {
  const m = compileKernel(BITMAP_OR_KERNEL_BYTES);
  const e = m === null ? null : instantiate(m, memory);
  return e === null ? null : (e['or4'] as Or4);
}
