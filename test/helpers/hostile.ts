/**
 * Hostile values for the sweep tests: what an adversarial or careless caller passes where a
 * number, a bigint, a buffer, a boolean or an options object is expected.
 *
 * A sweep calls a public function with one hostile value in one parameter position (the other
 * arguments valid) and asserts, with {@link expectTypedOrOk}, that the call either succeeds or
 * throws an IovaBitmapError whose message stays small, within a time bound (no hang).
 */
import { IovaBitmapError } from '@iovabitmap/core';

/** A detached ArrayBuffer (its memory transferred away). */
function detachedBuffer(): ArrayBuffer {
  const b = new ArrayBuffer(64);
  structuredClone(b, { transfer: [b] });
  return b;
}

/** One hostile value and a label for test names. */
export interface Hostile {
  readonly label: string;
  readonly value: unknown;
}

/** Made once: 16 MiB, the size that once made an error message take 17 s to build. */
let bigArray: Uint8Array | undefined;

/** About 25 hostile values (fresh objects on each call, except the big typed array). */
export function hostileValues(): Hostile[] {
  bigArray ??= new Uint8Array(16 << 20);
  return [
    { label: 'null', value: null },
    { label: 'undefined', value: undefined },
    { label: 'string "5"', value: '5' },
    { label: 'string "0xff"', value: '0xff' },
    { label: 'empty string', value: '' },
    { label: 'object with valueOf', value: { valueOf: () => 4096 } },
    { label: 'empty object', value: {} },
    { label: 'array', value: [1, 2] },
    { label: 'NaN', value: Number.NaN },
    { label: 'Infinity', value: Number.POSITIVE_INFINITY },
    { label: '-Infinity', value: Number.NEGATIVE_INFINITY },
    { label: '-0', value: -0 },
    { label: 'fraction 0.5', value: 0.5 },
    { label: '-1', value: -1 },
    { label: '2^53 + 1 (unsafe)', value: 2 ** 53 + 2 },
    { label: '-1e20', value: -1e20 },
    { label: 'bigint -1n', value: -1n },
    { label: 'bigint 2^64', value: 1n << 64n },
    { label: 'Symbol', value: Symbol('hostile') },
    { label: 'boolean true', value: true },
    { label: 'function', value: () => 0 },
    { label: 'typed array of 16 MiB', value: bigArray },
    { label: 'plain ArrayBuffer', value: new ArrayBuffer(64) },
    { label: 'detached ArrayBuffer', value: detachedBuffer() },
    { label: 'Date', value: new Date(0) },
    { label: 'null-prototype object', value: Object.create(null) as object },
  ];
}

/** Longest error message a hostile value may produce, characters. */
export const MAX_MESSAGE_CHARS = 2000;

/** Longest a single hostile call may take, ms (a hang or a runaway message build fails it). */
export const MAX_CALL_MS = 2000;

/** Checks what a hostile call threw: an IovaBitmapError with a short message. */
export function checkThrown(e: unknown, what: string): IovaBitmapError {
  if (!IovaBitmapError.is(e)) {
    const shown = e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : typeof e;
    throw new Error(`${what}: threw something that is not an IovaBitmapError: ${shown}`);
  }
  if (e.message.length > MAX_MESSAGE_CHARS) throw new Error(`${what}: error message of ${e.message.length} characters`);
  return e;
}

/**
 * Runs `call` (sync or async): it must return, or throw an IovaBitmapError with a short message,
 * within {@link MAX_CALL_MS}.
 * @returns the error, or undefined when the call succeeded
 */
export async function expectTypedOrOk(what: string, call: () => unknown): Promise<IovaBitmapError | undefined> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const r = call();
    if (r instanceof Promise) {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${MAX_CALL_MS} ms`)), MAX_CALL_MS);
      });
      await Promise.race([r, timeout]);
    }
    return undefined;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(`${what}: did not settle`)) throw e;
    return checkThrown(e, what);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    const ms = performance.now() - t0;
    if (ms > MAX_CALL_MS) throw new Error(`${what}: took ${ms.toFixed(0)} ms`);
  }
}
