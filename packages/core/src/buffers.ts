/**
 * What kind of memory a value is, told by the engine's internal slots rather than by `instanceof`
 * (which a proxy or an object with a borrowed prototype passes, and which reads user code).
 *
 * Theory of operation
 * -------------------
 * The built-in getters `SharedArrayBuffer.prototype.byteLength`, `ArrayBuffer.prototype.byteLength`
 * and `%TypedArray%.prototype[Symbol.toStringTag]` check their receiver's internal slots and throw
 * (or return undefined) for anything else, so calling them on a value is a type test that no
 * forged object passes and that runs none of its code. Used wherever a caller hands memory to
 * the library (a bitmap's buffer, shared descriptors) and by error messages.
 */

/** A built-in accessor's getter, to call on any receiver. */
function builtinGetter(proto: object, key: PropertyKey): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(proto, key)!.get as (this: unknown) => unknown;
}

const SAB_BYTE_LENGTH = builtinGetter(SharedArrayBuffer.prototype, 'byteLength');
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
const TYPED_ARRAY_TAG = builtinGetter(TYPED_ARRAY_PROTO, Symbol.toStringTag);
/** `%TypedArray%.prototype.length`'s getter (the length from the internal slot). */
export const TYPED_ARRAY_LENGTH = builtinGetter(TYPED_ARRAY_PROTO, 'length');
const AB_BYTE_LENGTH = builtinGetter(ArrayBuffer.prototype, 'byteLength');
const AB_RESIZABLE = builtinGetter(ArrayBuffer.prototype, 'resizable');

/** Calls a built-in getter that checks its receiver's internal slots; undefined when it refuses. */
export function slotGetter(get: (this: unknown) => unknown, o: unknown): unknown {
  try {
    return Reflect.apply(get, o, []);
  } catch {
    return undefined;
  }
}

/** `'shared'` for a SharedArrayBuffer, `'plain'` for an ArrayBuffer (detached included), else undefined. */
export function bufferKind(o: unknown): 'shared' | 'plain' | undefined {
  if (typeof o !== 'object' || o === null) return undefined;
  if (slotGetter(SAB_BYTE_LENGTH, o) !== undefined) return 'shared';
  if (slotGetter(AB_BYTE_LENGTH, o) !== undefined) return 'plain';
  return undefined;
}

/** The byteLength of a buffer of the given kind (0 for a detached ArrayBuffer). */
export function bufferByteLength(o: SharedArrayBuffer | ArrayBuffer | object, kind: 'shared' | 'plain'): number {
  return slotGetter(kind === 'shared' ? SAB_BYTE_LENGTH : AB_BYTE_LENGTH, o) as number;
}

/** The typed array's type name (`'Uint8Array'`, `'Float64Array'`...), or undefined for anything else. */
export function typedArrayTag(o: unknown): string | undefined {
  const tag = slotGetter(TYPED_ARRAY_TAG, o);
  return typeof tag === 'string' ? tag : undefined;
}

/** True for a resizable ArrayBuffer (one that can shrink); false for anything else. */
export function isResizableArrayBuffer(o: unknown): boolean {
  return slotGetter(AB_RESIZABLE, o) === true;
}
