/**
 * The WebAssembly kernels over a bitmap in WebAssembly memory (./bitmapKernel.wat): the atomic OR
 * of the page-table walk's masks, and the population count of the readers; and the memory they
 * need.
 *
 * Theory of operation
 * -------------------
 * Why. V8 11.3 (Node 20) runs every JavaScript `Atomics.or` as a call of about 10 ns, where the
 * locked instruction it stands for costs a few; in the vtd-ss walk that call was a third of the
 * cost of a table at 1 % dirty and most of the gap between shared and plain memory at 50 %
 * (docs/bench/pteWalk.md §11). WebAssembly's `i32.atomic.rmw.or` is the instruction itself, so
 * the walk's sink hands the masks of a leaf table to {@link Or4} four at a time
 * (../pagetable/DirtyLeafSink.ts `leafPairs`). Counting is the other hot reader: JavaScript has
 * no population-count instruction, and its 32-bit bit-trick count ran at ~2.3 GB/s, where
 * WebAssembly's `i64.popcnt` is one instruction per 8 bytes ({@link CountBytes}; the bitmap's
 * `count()` / `countBits()` over its marked blocks, and so the pool's count after a report,
 * docs/bench/scale.md).
 *
 * Memory. A WebAssembly function reads and writes only the memory its instance imports, and a
 * memory cannot be made from an existing buffer (../wasmMemory.ts). So a bitmap over fresh memory
 * of at least {@link WASM_BITMAP_MIN_BYTES} is allocated as a shared WebAssembly memory
 * ({@link newBitmapMemory}; its buffer, rounded up to whole 64 KiB pages, is the bitmap's
 * SharedArrayBuffer), and share() hands the memory to workers with the buffer. Smaller bitmaps
 * (each memory reserves some 10 GiB of address space, and V8 caps the total: thousands of small
 * bitmaps must not spend it), a caller's buffer, a refused memory or module: plain
 * SharedArrayBuffer, and the JavaScript paths (Atomics.or, the bit-trick count), with the same
 * results.
 *
 * One instance per bitmap view ({@link bitmapKernelFor}, called once per IovaBitmap object when a
 * walk first records into it or a reader first counts it), so a worker that rebuilds its view per
 * report instantiates per report (about 9 µs on this machine; a new memory: about 24 µs).
 */
import { type WasmMemory, WASM_PAGE, compileKernel, instantiate, newSharedMemory } from '../wasmMemory.js';
import { BITMAP_KERNEL_BYTES } from './bitmapKernelBytes.js';

/**
 * ORs mask mk into the bitmap word at byte address ak of the memory (i32.atomic.rmw.or), m0
 * always, m1..m3 when not 0; returns the population count of m0..m3. Addresses are 4-byte aligned
 * words of the bitmap.
 */
export type Or4 = (a0: number, m0: number, a1: number, m1: number, a2: number, m2: number, a3: number, m3: number) => number;

/** A bitmap over fresh memory takes a WebAssembly memory from this many bytes on (2 GiB of IOVA at 4 KiB pages). */
export const WASM_BITMAP_MIN_BYTES = 64 * 1024;

/**
 * The size of the WebAssembly memory a new bitmap of `bytes` bytes is given: `bytes` rounded up
 * to whole 64 KiB pages, or undefined when it is given none (below {@link WASM_BITMAP_MIN_BYTES},
 * or above 4 GiB once rounded: the most a memory holds). The one rule for {@link newBitmapMemory}
 * and for what the benchmark's memory plan prices (bench's harness/memoryBudget.ts).
 */
export function wasmBitmapBytes(bytes: number): number | undefined {
  const rounded = Math.ceil(bytes / WASM_PAGE) * WASM_PAGE;
  return bytes >= WASM_BITMAP_MIN_BYTES && rounded <= 2 ** 32 ? rounded : undefined;
}

/**
 * A shared WebAssembly memory for a new bitmap of `bytes` bytes ({@link wasmBitmapBytes}), or
 * undefined: no such size, or no WebAssembly, no kernel, no memory (the caller then allocates a
 * SharedArrayBuffer).
 */
export function newBitmapMemory(bytes: number): WasmMemory | undefined {
  const size = wasmBitmapBytes(bytes);
  if (size === undefined || compileKernel(BITMAP_KERNEL_BYTES) === null) return undefined;
  return newSharedMemory(size);
}

/**
 * The set bits of the bitmap's bytes [a, e) (byte addresses of the memory, multiples of 4, a <= e
 * < 2^32: below the memory's end), as an exact number: read with plain loads, 8 bytes at a time.
 */
export type CountBytes = (a: number, e: number) => number;

/** The kernels of one instance over a bitmap's memory. */
export interface BitmapKernel {
  readonly or4: Or4;
  readonly count: CountBytes;
}

/** The kernels of a new instance over `memory`, or null when it cannot be made. */
export function bitmapKernelFor(memory: WasmMemory): BitmapKernel | null {
  const m = compileKernel(BITMAP_KERNEL_BYTES);
  const e = m === null ? null : instantiate(m, memory);
  return e === null ? null : { or4: e['or4'] as Or4, count: e['count'] as CountBytes };
}
