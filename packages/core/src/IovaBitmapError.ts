/**
 * Typed errors for every package of iovabitmap.
 *
 * Theory of operation
 * -------------------
 * Every rejected input becomes an {@link IovaBitmapError} with a stable string `code` that mirrors
 * the kernel's errno where one applies (`EINVAL`, `EOVERFLOW`, `E2BIG`, `EOPNOTSUPP`, ...), the
 * name of the offending parameter, and its value rendered as text (bigints in decimal and hex).
 * The rendering ({@link describeValue}) is bounded: a type, a size and the first few items, at
 * most 100 characters, built without running the value's code, so a hostile or huge argument
 * costs the same small message as any other.
 *
 * Errors cross worker boundaries as *data*: piscina and structured clone turn a custom Error
 * subclass into a plain `Error` and drop its own fields, so `instanceof` cannot work on the main
 * thread. Workers send {@link IovaBitmapErrorData} (from {@link IovaBitmapError.toData}) and the
 * main thread rebuilds the error with {@link IovaBitmapError.fromData}. Recognise an error with
 * {@link IovaBitmapError.is}, which checks a `Symbol.for` footprint and, failing that, the shape
 * (`name` + `code`), never the prototype chain.
 */

import { bufferByteLength, bufferKind, slotGetter, TYPED_ARRAY_LENGTH, typedArrayTag } from './buffers.js';

/** Stable error codes. The first four mirror the kernel's errno for the same checks. */
export type IovaErrorCode =
  /** Invalid argument: misaligned, zero, not a power of two, buffer too small, tracking off... */
  | 'EINVAL'
  /** An IOVA range that wraps past 2^64 - 1 (or a value that does not fit in 64 bits). */
  | 'EOVERFLOW'
  /** Too many of something: ranges (VFIO allows 256), or a bitmap too large to address. */
  | 'E2BIG'
  /** Unsupported operation or flag: unknown PTE format, device limits exceeded. */
  | 'EOPNOTSUPP'
  /** Nothing mapped where a mapping was required (a hole inside a requested range). */
  | 'ENOENT'
  /** An allocation failed or would pass a documented limit (bitmap, table or record memory). */
  | 'ENOMEM'
  /**
   * The bitmap's memory is gone: its plain ArrayBuffer was detached (transferred). The kernel's
   * errno for user memory it cannot reach.
   */
  | 'EFAULT'
  /** The operation was aborted through an AbortSignal. */
  | 'ECANCELED'
  /** A worker threw or died while running a chunk of a report. */
  | 'EIO'
  /** The object is closed or busy (a pool after close(), a tracker already started). */
  | 'EBUSY';

/** The plain-object form of an {@link IovaBitmapError}; structured-cloneable. */
export interface IovaBitmapErrorData {
  readonly name: 'IovaBitmapError';
  readonly code: IovaErrorCode;
  readonly message: string;
  /** The parameter that was rejected, e.g. `"pageSize"`; empty when none applies. */
  readonly param: string;
  /** The rejected value rendered as text; empty when none applies. */
  readonly value: string;
  /** Extra structured context (source name, chunk index, worker id...). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

const FOOTPRINT = Symbol.for('iovabitmap.IovaBitmapError');

/** Longest name of a dirty source (it is part of every error message about the source). */
export const MAX_NAME_CHARS = 64;
/** Most characters {@link describeValue} returns. */
const MAX_DESCRIBED_CHARS = 100;
/** Elements or keys shown of an array, typed array or object. */
const SHOWN_ITEMS = 3;

/**
 * Renders a bad value for an error message, in at most {@link MAX_DESCRIBED_CHARS} characters:
 * bigints in decimal and hex, strings quoted, buffers and typed arrays by type and length, arrays
 * and objects by their first few elements or keys. It runs no code of the value's (no toString,
 * valueOf or getters; a proxy's traps are the one exception, and a throwing trap is caught), never
 * walks more than a few elements, and never throws.
 */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown = describeTop(value);
  } catch {
    shown = `<${typeof value}>`;
  }
  return clip(shown, MAX_DESCRIBED_CHARS);
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A bigint: decimal and hex while short, else its top hex digits and its bit length. */
function describeBigint(v: bigint, hexToo: boolean): string {
  const neg = v < 0n;
  const hex = (neg ? -v : v).toString(16);
  if (hex.length > 24) {
    const bits = (hex.length - 1) * 4 + parseInt(hex[0]!, 16).toString(2).length;
    return `${neg ? '-' : ''}0x${hex.slice(0, 12)}… (a ${bits}-bit bigint)`;
  }
  if (!hexToo) return `${v}n`;
  return neg ? String(v) : `${v} (0x${hex})`;
}

function describeNumber(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (Number.isInteger(v) && v >= 0 && v <= 2 ** 64) return `${v} (0x${v.toString(16)})`;
  return String(v);
}

function describeString(s: string, max: number): string {
  return s.length <= max ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, max))}…(${s.length} chars)`;
}

/** The value at the top level: full detail for primitives, type, size and first items for objects. */
function describeTop(value: unknown): string {
  if (typeof value === 'bigint') return describeBigint(value, true);
  if (typeof value === 'number') return describeNumber(value);
  if (typeof value === 'string') return describeString(value, 80);
  if (typeof value === 'object' && value !== null) return describeObject(value);
  return describeScalar(value);
}

/** Anything that is not an object (or is shown without its contents). */
function describeScalar(value: unknown): string {
  switch (typeof value) {
    case 'bigint':
      return describeBigint(value, false);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return describeString(value, 16);
    case 'symbol':
      return `Symbol(${clip(value.description ?? '', 20)})`;
    case 'function':
      return `[function ${clip(functionName(value), 20)}]`;
    case 'object':
      return value === null ? 'null' : objectTypeName(value);
    default:
      return String(value); // boolean, undefined
  }
}

function functionName(f: unknown): string {
  const d = Object.getOwnPropertyDescriptor(f, 'name');
  return typeof d?.value === 'string' && d.value !== '' ? d.value : '(anonymous)';
}

/** The constructor name of an object, read through descriptors (no getter runs), or ''. */
function objectTypeName(o: object): string {
  const tag = typedArrayTag(o);
  if (tag !== undefined) return tag;
  const kind = bufferKind(o);
  if (kind !== undefined) return kind === 'shared' ? 'SharedArrayBuffer' : 'ArrayBuffer';
  if (Array.isArray(o)) return 'Array';
  const proto = Object.getPrototypeOf(o) as object | null;
  if (proto === null) return '[null prototype]';
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  return typeof ctor === 'function' ? functionName(ctor) : 'Object';
}

/** One own property, shown without running a getter. */
function describeProperty(o: object, key: string): string {
  const d = Object.getOwnPropertyDescriptor(o, key);
  if (d === undefined) return '<empty>';
  return 'value' in d ? describeScalar(d.value) : '[getter]';
}

function describeObject(o: object): string {
  const kind = bufferKind(o);
  if (kind !== undefined) {
    return `${kind === 'shared' ? 'SharedArrayBuffer' : 'ArrayBuffer'}(${bufferByteLength(o, kind)})`;
  }
  const tag = typedArrayTag(o);
  if (tag !== undefined) {
    const len = slotGetter(TYPED_ARRAY_LENGTH, o) as number;
    const items: string[] = [];
    for (let i = 0; i < Math.min(len, SHOWN_ITEMS); i++) items.push(describeScalar((o as Record<number, unknown>)[i]));
    return `${tag}(${len}) [${items.join(', ')}${len > SHOWN_ITEMS ? ', …' : ''}]`;
  }
  if (Array.isArray(o)) {
    const len = Object.getOwnPropertyDescriptor(o, 'length')?.value as unknown;
    const n = typeof len === 'number' ? len : 0;
    const items: string[] = [];
    for (let i = 0; i < Math.min(n, SHOWN_ITEMS); i++) items.push(describeProperty(o, String(i)));
    return `[${items.join(', ')}${n > SHOWN_ITEMS ? `, … (${n} items)` : ''}]`;
  }
  const name = objectTypeName(o);
  const keys = Object.keys(o);
  const shown = keys.slice(0, SHOWN_ITEMS).map((k) => `${clip(k, 16)}: ${describeProperty(o, k)}`);
  const more = keys.length > SHOWN_ITEMS ? `, … (${keys.length} keys)` : '';
  const body = keys.length === 0 ? '{}' : `{ ${shown.join(', ')}${more} }`;
  return name === 'Object' ? body : `${name} ${body}`;
}

/** An errno-like code: `E` and up to 15 capitals or digits (the shape of every {@link IovaErrorCode}). */
const CODE_SHAPE = /^E[A-Z0-9]{1,15}$/;
/** Longest message {@link IovaBitmapError.dataOf} keeps of a foreign error, characters. */
const MAX_FOREIGN_MESSAGE = 1000;

/**
 * Copies a record of details (string, number or boolean values) from an object that is not an
 * array, a typed array or a buffer (whose every element would be a key: 16 Mi keys for a 16 MiB
 * typed array).
 * @throws IovaBitmapError `EINVAL`
 */
function detailsOf(where: string, param: string, v: unknown): Record<string, string | number | boolean> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typedArrayTag(v) !== undefined || bufferKind(v) !== undefined) {
    throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a record of strings, numbers and booleans');
  }
  const copy: Record<string, string | number | boolean> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      throw IovaBitmapError.bad('EINVAL', where, `${param}.${k}`, x, 'must be a string, number or boolean');
    }
    copy[k] = x;
  }
  return copy;
}

/** Text for a message part that should be a string (the API name, a parameter name). */
function text(x: unknown): string {
  return typeof x === 'string' ? x : describeValue(x);
}

type ErrorOptions = { param?: string; value?: string; details?: Record<string, string | number | boolean>; cause?: unknown };

/** Checks the constructor's arguments; returns the options with the details copied. */
function checkErrorArgs(code: unknown, message: unknown, options: unknown): Required<Omit<ErrorOptions, 'cause'>> & { cause: unknown } {
  const W = 'IovaBitmapError';
  if (typeof code !== 'string' || !CODE_SHAPE.test(code)) throw IovaBitmapError.bad('EINVAL', W, 'code', code, 'must be an errno-like code such as "EINVAL"');
  if (typeof message !== 'string') throw IovaBitmapError.bad('EINVAL', W, 'message', message, 'must be a string');
  if (typeof options !== 'object' || options === null) throw IovaBitmapError.bad('EINVAL', W, 'options', options, 'must be an object');
  const { param = '', value = '', details = {}, cause } = options as ErrorOptions;
  if (typeof param !== 'string') throw IovaBitmapError.bad('EINVAL', W, 'options.param', param, 'must be a string');
  if (typeof value !== 'string') throw IovaBitmapError.bad('EINVAL', W, 'options.value', value, 'must be a string');
  return { param, value, details: detailsOf(W, 'options.details', details), cause };
}

/** The one error type of iovabitmap. See the module comment for how it crosses threads. */
export class IovaBitmapError extends Error {
  /** Stable code; switch on this, not on the message. */
  readonly code: IovaErrorCode;
  /** The rejected parameter (e.g. `"length"`), or `""`. */
  readonly param: string;
  /** The rejected value as text, or `""`. */
  readonly value: string;
  /** Extra context, e.g. `{ source: 'iommu', chunk: 17 }`. */
  readonly details: Readonly<Record<string, string | number | boolean>>;

  /**
   * @param code - an {@link IovaErrorCode}
   * @param message - the whole message, `"<API>: <what is wrong>"`
   * @param options - the rejected parameter and value as text, details (strings, numbers,
   *   booleans), and the error that caused this one
   * @throws IovaBitmapError `EINVAL` when an argument has the wrong type (a code that is not
   *   errno-shaped, a message that is not a string...).
   */
  constructor(code: IovaErrorCode, message: string, options: ErrorOptions = {}) {
    const o = checkErrorArgs(code, message, options);
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.param = o.param;
    this.value = o.value;
    this.details = Object.freeze(o.details);
    Object.defineProperty(this, FOOTPRINT, { value: true });
  }

  override get name(): 'IovaBitmapError' {
    return 'IovaBitmapError';
  }

  /**
   * Builds the standard "bad parameter" error: `"<where>: <param> <why>, got <value>"`.
   * @param code - the errno-like code
   * @param where - the API that rejected it, e.g. `"IovaBitmap"`
   * @param param - the parameter name
   * @param value - the bad value, rendered short and bounded (its type, size and first few items),
   *   so the message stays short
   * @param why - what was expected, e.g. `"must be a power of two"`
   */
  static bad(code: IovaErrorCode, where: string, param: string, value: unknown, why: string): IovaBitmapError {
    const shown = describeValue(value);
    const p = text(param);
    return new IovaBitmapError(code, `${text(where)}: ${p} ${text(why)}, got ${shown}`, { param: p, value: shown });
  }

  /** True for an IovaBitmapError, a rebuilt one, or its plain-data form (any realm or thread). Never throws. */
  static is(e: unknown): e is IovaBitmapError {
    if (typeof e !== 'object' || e === null) return false;
    try {
      if ((e as Record<symbol, unknown>)[FOOTPRINT] === true) return true;
      const r = e as { name?: unknown; code?: unknown };
      return r.name === 'IovaBitmapError' && typeof r.code === 'string';
    } catch {
      return false; // a revoked proxy, a throwing getter
    }
  }

  /**
   * True when `e` is an iovabitmap error with the given code (a type guard, like
   * {@link IovaBitmapError.is}). Never throws.
   */
  static hasCode<C extends IovaErrorCode>(e: unknown, code: C): e is IovaBitmapError & { readonly code: C } {
    try {
      return IovaBitmapError.is(e) && (e as { code: string }).code === code;
    } catch {
      return false;
    }
  }

  /** The structured-cloneable form, for postMessage / piscina results. */
  toData(): IovaBitmapErrorData {
    return {
      name: 'IovaBitmapError',
      code: this.code,
      message: this.message,
      param: this.param,
      value: this.value,
      details: { ...this.details },
    };
  }

  /**
   * Rebuilds an error from {@link toData} output, optionally adding context.
   * @throws IovaBitmapError `EINVAL` when `data` or `extra` is not of that shape.
   */
  static fromData(data: IovaBitmapErrorData, extra?: Record<string, string | number | boolean>): IovaBitmapError {
    const W = 'IovaBitmapError.fromData';
    if (typeof data !== 'object' || data === null) throw IovaBitmapError.bad('EINVAL', W, 'data', data, 'must be error data from toData()');
    const details = { ...detailsOf(W, 'data.details', data.details ?? {}), ...detailsOf(W, 'extra', extra ?? {}) };
    return new IovaBitmapError(data.code, data.message, { param: data.param ?? '', value: data.value ?? '', details });
  }

  /**
   * Converts anything thrown into error data: an IovaBitmapError keeps its code; any other error
   * becomes `fallback` (default `EIO`) with its name and message (at most 1000 characters); any
   * other value is described short and bounded, as in {@link IovaBitmapError.bad}. Never throws
   * for any `e`.
   * @throws IovaBitmapError `EINVAL` when `fallback` is not an errno-like code.
   */
  static dataOf(e: unknown, fallback: IovaErrorCode = 'EIO'): IovaBitmapErrorData {
    if (typeof fallback !== 'string' || !CODE_SHAPE.test(fallback)) {
      throw IovaBitmapError.bad('EINVAL', 'IovaBitmapError.dataOf', 'fallback', fallback, 'must be an errno-like code such as "EIO"');
    }
    try {
      if (IovaBitmapError.is(e)) {
        const x = e as IovaBitmapError;
        const code = typeof x.code === 'string' && CODE_SHAPE.test(x.code) ? x.code : fallback;
        let details: Record<string, string | number | boolean> = {};
        try {
          details = detailsOf('IovaBitmapError.dataOf', 'details', x.details ?? {});
        } catch {
          // details that are not a record of scalars are dropped
        }
        return { name: 'IovaBitmapError', code, message: text(x.message), param: text(x.param ?? ''), value: text(x.value ?? ''), details };
      }
      const message = e instanceof Error ? clip(`${text(e.name)}: ${text(e.message)}`, MAX_FOREIGN_MESSAGE) : describeValue(e);
      return { name: 'IovaBitmapError', code: fallback, message, param: '', value: '', details: {} };
    } catch {
      return { name: 'IovaBitmapError', code: fallback, message: `an unreadable ${typeof e} was thrown`, param: '', value: '', details: {} };
    }
  }
}
