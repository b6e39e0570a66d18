/**
 * The WebAssembly plumbing that core's kernels share: compiling a kernel's bytes, allocating a
 * shared WebAssembly memory, recognising one, instantiating a kernel over one.
 *
 * Theory of operation
 * -------------------
 * A WebAssembly function reads and writes only the memory its instance imports, and a memory
 * cannot be made from an existing SharedArrayBuffer. So memory that a kernel should work on is
 * allocated *as* a shared WebAssembly memory ({@link newSharedMemory}), whose `buffer` is a
 * SharedArrayBuffer that every JavaScript view uses as usual; the memory object itself is
 * structured-cloneable, so a worker can be handed it and instantiate the kernel there. Two users:
 * the page-table segments (./pagetable/leafSkipKernel.ts) and large bitmaps
 * (./bitmap/bitmapKernel.ts).
 *
 * Everything here fails soft: no WebAssembly, a module the engine refuses (one that uses SIMD on
 * a CPU without it), a memory the engine will not reserve (each shared memory reserves some
 * 10 GiB of address space for its guard pages, and V8 caps the total), a forged object: each
 * gives `null` / `undefined` / false, and the caller takes its JavaScript path, with the same
 * result bit for bit.
 *
 * Core is typed without the DOM library (which declares `WebAssembly`), so the slice of the
 * namespace it uses is declared here ({@link WasmMemory}, WasmApi).
 */

/** A shared WebAssembly memory, as far as core uses it: its buffer, a SharedArrayBuffer. */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}

/** The slice of the WebAssembly namespace used here. */
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}

/** Bytes of a WebAssembly memory page. */
export const WASM_PAGE = 65536;

const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The compiled modules of this thread, by their base64 bytes (null: refused). */
const compiled = new Map<string, object | null>();

/**
 * The module of a kernel's base64 bytes (compiled once per thread), or null when there is no
 * WebAssembly or the engine refuses it.
 */
export function compileKernel(base64: string): object | null {
  let m = compiled.get(base64);
  if (m !== undefined) return m;
  try {
    m = wasm === undefined ? null : new wasm.Module(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  } catch {
    m = null;
  }
  compiled.set(base64, m);
  return m;
}

/**
 * A shared WebAssembly memory of `bytes` bytes (a positive multiple of {@link WASM_PAGE}, at most
 * 4 GiB), or undefined when `bytes` is not, there is no WebAssembly, or the engine refuses it.
 */
export function newSharedMemory(bytes: number): WasmMemory | undefined {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0 || bytes % WASM_PAGE !== 0 || bytes > 2 ** 32) return undefined;
  if (wasm === undefined) return undefined;
  try {
    const pages = bytes / WASM_PAGE;
    return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return undefined;
  }
}

/** True when `x` is a shared WebAssembly memory (of `bytes` bytes, when given). */
export function isSharedMemory(x: unknown, bytes?: number): x is WasmMemory {
  try {
    if (wasm === undefined || !(x instanceof (wasm.Memory as unknown as new () => object))) return false;
    const b = (x as WasmMemory).buffer;
    return b instanceof SharedArrayBuffer && (bytes === undefined || b.byteLength === bytes);
  } catch {
    return false; // a proxy whose traps throw, a forged object whose buffer getter throws
  }
}

/** The exports of a new instance of `module` over `memory` (imported as env.mem), or null. */
export function instantiate(module: object, memory: WasmMemory): Record<string, unknown> | null {
  if (wasm === undefined) return null;
  try {
    return new wasm.Instance(module, { env: { mem: memory } }).exports;
  } catch {
    return null;
  }
}
