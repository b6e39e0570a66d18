/**
 * Argument checks shared by the public entry points of @iovabitmap/workers.
 * Runs on whichever thread calls (the main thread for the public calls; the device worker too,
 * through ./device/startOptions.ts).
 *
 * Theory of operation
 * -------------------
 * Every public function, constructor and method of this package validates its arguments before it
 * posts a message, starts a worker or writes anything, and refuses a wrong type instead of coercing
 * it (common rule of the project, core's IovaBitmapError.ts). The checks that recur — an options
 * object, a boolean flag, a callback, a default that only `undefined` selects — live here, once;
 * integers go through core's `checkInt`, 64-bit values through core's `toU64`.
 *
 * An *options object* is a plain object (its prototype is Object.prototype or null): an array, a
 * Date, a typed array or a class instance passed where options are expected is a caller's mistake,
 * and reading its absent fields as "all defaults" would hide it.
 */
import { IovaBitmapError } from '@iovabitmap/core';

/** True for a plain object: not null, and its prototype is Object.prototype or null. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The longest delay a Node timer takes, ms (a longer one silently becomes 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An optional field's value, or `fallback` when it is `undefined`. Only `undefined` means
 * "omitted": `null` (which `??` would also replace) is a wrong value and gets refused by the
 * field's check.
 */
export function orDefault<T>(v: T | undefined, fallback: T): T {
  return v === undefined ? fallback : v;
}

/**
 * Checks an options object (see the module comment).
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkOptions<T>(where: string, param: string, v: T): T {
  if (!isPlainObject(v)) throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a plain object');
  return v;
}

/**
 * Checks an object argument that need not be plain (a source, a tracker, a range): not null, not
 * a function, not an array.
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkObject<T>(where: string, param: string, v: T): T {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be an object');
  return v;
}

/**
 * An optional boolean option: `undefined` gives `fallback`, anything but a boolean is refused.
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkFlag(where: string, param: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a boolean');
  return v;
}

/**
 * An optional number option in [min, max] (Infinity allowed when max is): `undefined` gives
 * `fallback`; a non-number or NaN is refused.
 * @throws IovaBitmapError `EINVAL` naming `param`, with `why` as the message.
 */
export function checkNumber(where: string, param: string, v: unknown, fallback: number, min: number, max: number, why: string): number {
  const x = orDefault(v, fallback);
  if (typeof x !== 'number' || Number.isNaN(x) || x < min || x > max) throw IovaBitmapError.bad('EINVAL', where, param, x, why);
  return x;
}

/**
 * An optional callback: `undefined`, or a function.
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkCallback<F>(where: string, param: string, v: F | undefined): F | undefined {
  if (v !== undefined && typeof v !== 'function') throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a function');
  return v;
}

/**
 * An optional AbortSignal.
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkSignal(where: string, param: string, v: unknown): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal)) throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be an AbortSignal');
  return v;
}
