/**
 * Typed errors for every package of iovabitmap.
 *
 * Theory of operation
 * -------------------
 * Every rejected input becomes an {@link IovaBitmapError} with a stable string `code` that mirrors
 * the kernel's errno where one applies (`EINVAL`, `EOVERFLOW`, `E2BIG`, `EOPNOTSUPP`, ...), the
 * name of the offending parameter, and its value rendered as text (bigints in decimal and hex).
 *
 * Errors cross worker boundaries as *data*: piscina and structured clone turn a custom Error
 * subclass into a plain `Error` and drop its own fields, so `instanceof` cannot work on the main
 * thread. Workers send {@link IovaBitmapErrorData} (from {@link IovaBitmapError.toData}) and the
 * main thread rebuilds the error with {@link IovaBitmapError.fromData}. Recognise an error with
 * {@link IovaBitmapError.is}, which checks a `Symbol.for` footprint and, failing that, the shape
 * (`name` + `code`), never the prototype chain.
 */

/** Stable error codes. The first four mirror the kernel's errno for the same checks. */
export type IovaErrorCode =
  /** Invalid argument: misaligned, zero, not a power of two, buffer too small, tracking off... */
  | 'EINVAL'
  /** An IOVA range that wraps past 2^64 - 1 (or a value that does not fit in 64 bits). */
  | 'EOVERFLOW'
  /** Too many of something: ranges (VFIO allows 256), or a bitmap too large to allocate. */
  | 'E2BIG'
  /** Unsupported operation or flag: unknown PTE format, device limits exceeded. */
  | 'EOPNOTSUPP'
  /** Nothing mapped where a mapping was required (a hole inside a requested range). */
  | 'ENOENT'
  /** An allocation failed (SharedArrayBuffer too large for this host). */
  | 'ENOMEM'
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

/** Renders a bad value for an error message: bigints in decimal and hex, strings quoted. */
export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return value >= 0n ? `${value} (0x${value.toString(16)})` : String(value);
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 ? `${value} (0x${value.toString(16)})` : String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined || value === null) return String(value);
  if (value instanceof SharedArrayBuffer) return `SharedArrayBuffer(${value.byteLength})`;
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength})`;
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? typeof value;
  } catch {
    return Object.prototype.toString.call(value);
  }
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

  constructor(
    code: IovaErrorCode,
    message: string,
    options: { param?: string; value?: string; details?: Record<string, string | number | boolean>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.param = options.param ?? '';
    this.value = options.value ?? '';
    this.details = Object.freeze({ ...(options.details ?? {}) });
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
   * @param value - the bad value (rendered with {@link describeValue})
   * @param why - what was expected, e.g. `"must be a power of two"`
   */
  static bad(code: IovaErrorCode, where: string, param: string, value: unknown, why: string): IovaBitmapError {
    const shown = describeValue(value);
    return new IovaBitmapError(code, `${where}: ${param} ${why}, got ${shown}`, { param, value: shown });
  }

  /** True for an IovaBitmapError, a rebuilt one, or its plain-data form (any realm or thread). */
  static is(e: unknown): e is IovaBitmapError {
    if (typeof e !== 'object' || e === null) return false;
    if ((e as Record<symbol, unknown>)[FOOTPRINT] === true) return true;
    const r = e as { name?: unknown; code?: unknown };
    return r.name === 'IovaBitmapError' && typeof r.code === 'string';
  }

  /** True when `e` is an iovabitmap error with the given code. */
  static hasCode(e: unknown, code: IovaErrorCode): boolean {
    return IovaBitmapError.is(e) && (e as { code: string }).code === code;
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

  /** Rebuilds an error from {@link toData} output, optionally adding context. */
  static fromData(data: IovaBitmapErrorData, extra?: Record<string, string | number | boolean>): IovaBitmapError {
    return new IovaBitmapError(data.code, data.message, {
      param: data.param,
      value: data.value,
      details: { ...(data.details ?? {}), ...(extra ?? {}) },
    });
  }

  /**
   * Converts anything thrown into error data: an IovaBitmapError keeps its code; any other error
   * becomes `fallback` (default `EIO`) with its message.
   */
  static dataOf(e: unknown, fallback: IovaErrorCode = 'EIO'): IovaBitmapErrorData {
    if (IovaBitmapError.is(e)) {
      const x = e as IovaBitmapError;
      return {
        name: 'IovaBitmapError',
        code: x.code,
        message: x.message,
        param: x.param ?? '',
        value: x.value ?? '',
        details: { ...(x.details ?? {}) },
      };
    }
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { name: 'IovaBitmapError', code: fallback, message, param: '', value: '', details: {} };
  }
}
