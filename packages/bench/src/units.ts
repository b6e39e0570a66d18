/**
 * Human units for sizes, rates and counts: parsing (CLI options) and formatting (tables, charts).
 *
 * Theory of operation
 * -------------------
 * Sizes are exact. `parseSize` reads a decimal (or `0x` hex) number with an optional binary
 * multiple and returns a bigint of bytes in [0, 2^64 - 1]: `4096`, `4K`, `4Ki`, `4KiB`, `2M`
 * (= 2 MiB), `1.5GiB`, `1TiB`, up to `E`/`EiB`. Every multiple is binary (K = 1024); the SI
 * spellings `KB`, `MB`, ... are refused as ambiguous rather than guessed. A fraction is allowed
 * when the product is a whole number of bytes (`0.5K` = 512; `0.3K` is refused). The arithmetic
 * is done in bigint on the decimal digits, so nothing is rounded.
 *
 * `formatBytes` is the inverse: the largest binary unit in which the value needs at most three
 * decimals, exactly (`1 TiB`, `1.5 GiB`, `1025 B`), so `parseSize(formatBytes(x)) === x` for every
 * 64-bit x.
 *
 * Rates (dirty density) are fractions: `1%`, `0.5%`, `50%`, or a plain number below 1 read as the
 * fraction itself (`0.01` = 1%). A bare `1` is refused as ambiguous (100%, or 1% meant?) and so
 * is a bare number above 1 (`50`): the message says to write `100%` or `1%`. A percentage is
 * converted by moving the decimal point in the text, then one correctly rounded `Number()`;
 * `formatRate` always prints a percentage, the shortest round-trip decimal of the fraction with
 * the point moved back, so `parseRate(formatRate(r)) === r` for every finite r.
 *
 * Data rates (`parseByteRate`) are bytes per second, exact, and say what they count: a number,
 * an optional prefix, an optional unit, an optional `/s` (or `ps`):
 * - unit `B` (or `byte`) counts bytes, `b` (or `bit`) counts bits (8 bits = 1 byte). The case
 *   of this letter matters (`Gb` is bits, `GB` bytes); prefixes are case-insensitive.
 * - a prefix followed by `i` is binary (`Ki` = 2^10 ... `Ei` = 2^60): `1GiB/s`, `1Gibit/s`;
 * - a prefix followed directly by a unit is decimal, SI (`k`/`K` = 10^3 ... `E` = 10^18), as link
 *   speeds are written: `10Gbit/s` = `10Gb/s` = 1.25 × 10^9 B/s, `1.25GB/s` = 1.25 × 10^9 B/s;
 * - a prefix alone is binary bytes, as for sizes: `512K/s` = 512 KiB/s, `1G/s` = 1 GiB/s;
 * - no prefix and no unit: bytes (`4096`, `0`).
 * The value must be a whole number of bytes per second (`1bit/s` is refused).
 *
 * Errors: `IovaBitmapError` `EINVAL` (bad text, out of range) or `EOVERFLOW` (a size of 2^64 or
 * more, as `toU64` in core), built with `IovaBitmapError.bad`, so the message names the option
 * and quotes the text. `details.reason` holds the reason alone, a predicate that reads after "It"
 * (`must lie between 0% and 100%`, `uses the ambiguous SI unit "GB"; ...`): the CLI prints
 * "It <reason>." after commander's own "option '--x' argument 'y' is invalid." (../cli/cliOptions.ts).
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { U64_MAX } from '@iovabitmap/core/internal';

/** Binary multiples by their letter: K = 2^10 ... E = 2^60. */
const BINARY_SHIFT: Readonly<Record<string, bigint>> = { K: 10n, M: 20n, G: 30n, T: 40n, P: 50n, E: 60n };
/** Unit names from largest to smallest, for {@link formatBytes}. */
const BYTE_UNITS: readonly (readonly [string, bigint])[] = [
  ['EiB', 60n],
  ['PiB', 50n],
  ['TiB', 40n],
  ['GiB', 30n],
  ['MiB', 20n],
  ['KiB', 10n],
];
const SIZE_RE = /^(?:0x([0-9a-f]+)|(\d+)(?:\.(\d+))?)\s*([a-z]*)$/i;
const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;
const KNOWN_UNITS = 'B, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB or E/EiB (binary multiples)';

function reject(where: string, option: string, text: unknown, why: string, code: 'EINVAL' | 'EOVERFLOW' = 'EINVAL'): never {
  const e = IovaBitmapError.bad(code, where, option, text, why);
  throw new IovaBitmapError(e.code, e.message, { param: e.param, value: e.value, details: { reason: why } });
}

/** The shift (log2 of the multiple) named by a size suffix, or `undefined` for an unknown suffix. */
function suffixShift(suffix: string): bigint | undefined {
  if (suffix === '' || /^b$/i.test(suffix)) return 0n;
  const m = /^([kmgtpe])(i|ib)?$/i.exec(suffix);
  if (m === null) return undefined;
  return BINARY_SHIFT[m[1]!.toUpperCase()];
}

/**
 * Parses a size in bytes: `4096`, `0x1000`, `4K`, `4KiB`, `2M` (= 2 MiB), `1.5GiB`, `1TiB`, `16T`.
 * Multiples are binary (K, Ki, KiB = 1024, up to E = 2^60) and case-insensitive; spaces between
 * number and unit are allowed. SI spellings (`KB`, `MB`...) are refused as ambiguous.
 * @param text - the text to parse
 * @param option - the option's name for messages, e.g. `"--iova-size"` @defaultValue `"size"`
 * @returns bytes, exact, in [0, 2^64 - 1]
 * @throws IovaBitmapError `EINVAL` for text that is not a size or not a whole number of bytes;
 *   `EOVERFLOW` for 2^64 bytes or more.
 */
export function parseSize(text: string, option = 'size'): bigint {
  const where = 'parseSize';
  if (typeof text !== 'string') return reject(where, option, text, 'must be a size given as text');
  const t = text.trim();
  const m = SIZE_RE.exec(t);
  if (m === null) return reject(where, option, text, 'must be a size such as 4096, 4K, 2MiB or 1TiB');
  const [, hex, whole, frac = '', suffix = ''] = m;
  const shift = suffixShift(suffix);
  if (shift === undefined) {
    const si = /^[kmgtpe]b$/i.test(suffix);
    return reject(
      where,
      option,
      text,
      si
        ? `uses the ambiguous SI unit "${suffix}"; write ${suffix[0]!.toUpperCase()}iB or ${suffix[0]!.toUpperCase()} (binary multiples)`
        : `has an unknown unit "${suffix}"; use ${KNOWN_UNITS}`,
    );
  }
  let bytes: bigint;
  if (hex !== undefined) {
    bytes = BigInt('0x' + hex) << shift;
  } else {
    const exact = exactQuotient(whole!, frac, 1n << shift, 1n);
    if (exact === undefined) return reject(where, option, text, 'is not a whole number of bytes');
    bytes = exact;
  }
  if (bytes > U64_MAX) return reject(where, option, text, 'is 2^64 bytes or more', 'EOVERFLOW');
  return bytes;
}

/**
 * Formats bytes exactly, in the largest binary unit that needs at most three decimals:
 * `1 TiB`, `64 GiB`, `1.5 KiB`, `4 KiB`, `1025 B`. The inverse of {@link parseSize}.
 * @param bytes - a non-negative integer (bigint, or a safe integer number)
 */
export function formatBytes(bytes: bigint | number): string {
  const b = typeof bytes === 'bigint' ? bytes : BigInt(bytes);
  if (b < 0n) throw IovaBitmapError.bad('EINVAL', 'formatBytes', 'bytes', bytes, 'must not be negative');
  for (const [name, shift] of BYTE_UNITS) {
    const unit = 1n << shift;
    if (b < unit) continue;
    const thousandths = b * 1000n;
    if (thousandths % unit !== 0n) continue;
    const q = thousandths / unit;
    const whole = q / 1000n;
    const frac = (q % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
    return `${whole}${frac === '' ? '' : '.' + frac} ${name}`;
  }
  return `${b} B`;
}

/**
 * Formats bytes for reading, rounded to three significant digits in the largest binary unit that
 * keeps the value at least 1: `2047888 KiB` → `1.95 GiB`. Not exact; use {@link formatBytes} for a
 * value that must parse back.
 */
export function formatBytesRounded(bytes: bigint | number): string {
  const b = typeof bytes === 'bigint' ? bytes : BigInt(bytes);
  for (const [name, shift] of BYTE_UNITS) {
    if (b >= 1n << shift) return `${significant(Number(b) / 2 ** Number(shift))} ${name}`;
  }
  return `${b} B`;
}

/** Moves the decimal point of a plain decimal string `by` places (positive: right). */
function shiftDecimal(digits: string, by: number): string {
  const m = DECIMAL_RE.exec(digits);
  if (m === null) throw new Error(`shiftDecimal: not a plain decimal: ${digits}`);
  let [, int = '', frac = ''] = m;
  if (by > 0) {
    frac = frac.padEnd(by, '0');
    int += frac.slice(0, by);
    frac = frac.slice(by);
  } else if (by < 0) {
    int = int.padStart(-by + 1, '0');
    frac = int.slice(by) + frac;
    int = int.slice(0, by);
  }
  int = int.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  return frac === '' ? int : `${int}.${frac}`;
}

/** The shortest round-trip decimal of a finite non-negative number, without exponent notation. */
function plainDecimal(x: number): string {
  const s = String(x);
  const m = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  return shiftDecimal(m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}`, Number(m[3]));
}

/** Decimal (SI) multiples by their letter: k/K = 10^3 ... E = 10^18. */
const DECIMAL_POWER: Readonly<Record<string, bigint>> = { K: 3n, M: 6n, G: 9n, T: 12n, P: 15n, E: 18n };
const RATE_RE = /^(\d+)(?:\.(\d+))?\s*(?:([kmgtpe])(i?))?(B|byte|bytes|b|bit|bits)?(?:\s*\/\s*s|ps)?$/i;

/** `whole.frac × multiple ÷ divisor` when it is a whole number, else `undefined` (exact, bigint). */
function exactQuotient(whole: string, frac: string, multiple: bigint, divisor: bigint): bigint | undefined {
  const scaled = BigInt(whole + frac) * multiple;
  const scale = 10n ** BigInt(frac.length) * divisor;
  return scaled % scale === 0n ? scaled / scale : undefined;
}

/**
 * Parses a data rate in bytes per second (module comment for the grammar): `1GiB/s`, `512K/s`,
 * `10Gbit/s`, `25Gb/s`, `1.25GB/s`, `4096`; `0` is allowed (callers give it a meaning, e.g. "as
 * fast as possible").
 * @returns bytes per second, exact
 * @throws IovaBitmapError `EINVAL` for text that is not a rate or not a whole number of bytes per
 *   second; `EOVERFLOW` for 2^64 bytes per second or more. The message names the option.
 */
export function parseByteRate(text: string, option = 'rate'): bigint {
  const where = 'parseByteRate';
  if (typeof text !== 'string') return reject(where, option, text, 'must be a data rate given as text');
  const m = RATE_RE.exec(text.trim());
  if (m === null) {
    return reject(where, option, text, 'must be a data rate such as 1GiB/s, 512M/s, 10Gbit/s, 25Gb/s or 1.25GB/s');
  }
  const [, whole = '', frac = '', prefix, binary = '', unit] = m;
  const bits = unit !== undefined && (unit === 'b' || /^bits?$/i.test(unit));
  if (unit !== undefined && !bits && unit !== 'B' && !/^bytes?$/i.test(unit)) {
    return reject(where, option, text, `has the unit "${unit}", which is neither B (bytes) nor b (bits)`);
  }
  let multiple = 1n;
  if (prefix !== undefined) {
    const p = prefix.toUpperCase();
    // A prefix alone (512K/s) is binary bytes, as for sizes; with an explicit unit and no "i", SI.
    multiple = binary !== '' || unit === undefined ? 1n << BINARY_SHIFT[p]! : 10n ** DECIMAL_POWER[p]!;
  }
  const bytes = exactQuotient(whole, frac, multiple, bits ? 8n : 1n);
  if (bytes === undefined) return reject(where, option, text, 'is not a whole number of bytes per second');
  if (bytes > U64_MAX) return reject(where, option, text, 'is 2^64 bytes per second or more', 'EOVERFLOW');
  return bytes;
}

/** SI byte units from largest to smallest, for {@link formatByteRate}. */
const SI_BYTE_UNITS: readonly (readonly [string, bigint])[] = [
  ['EB', 18n],
  ['PB', 15n],
  ['TB', 12n],
  ['GB', 9n],
  ['MB', 6n],
  ['kB', 3n],
];

/**
 * Formats a data rate in bytes per second exactly, so that {@link parseByteRate} reads it back: the
 * shorter of the binary form ({@link formatBytes}: `256 MiB/s`) and the SI form with at most three
 * decimals (`1.25 GB/s` for 10 Gbit/s), binary on a tie; `1000001 B/s` when neither is shorter.
 */
export function formatByteRate(bytesPerSec: bigint): string {
  const binary = `${formatBytes(bytesPerSec)}/s`;
  for (const [name, power] of SI_BYTE_UNITS) {
    const unit = 10n ** power;
    if (bytesPerSec < unit || (bytesPerSec * 1000n) % unit !== 0n) continue;
    const si = `${shiftDecimal(bytesPerSec.toString(), -Number(power))} ${name}/s`;
    return si.length < binary.length ? si : binary;
  }
  return binary;
}

/**
 * Parses a duration in milliseconds: `300ms`, `0.3s`, `300` (milliseconds), a finite number >= 0.
 * @throws IovaBitmapError `EINVAL` for text that is not such a duration; the message names the option.
 */
export function parseDurationMs(text: string, option = 'duration'): number {
  const where = 'parseDurationMs';
  if (typeof text !== 'string') return reject(where, option, text, 'must be a duration given as text');
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)?$/i.exec(text.trim());
  if (m === null) return reject(where, option, text, 'must be a duration such as 300ms, 0.3s or 300 (milliseconds)');
  const v = Number(m[1]) * (m[2]?.toLowerCase() === 's' ? 1000 : 1);
  if (!Number.isFinite(v)) return reject(where, option, text, 'must be a finite duration');
  return v;
}

/** Bounds for {@link parseRate}. */
export interface RateBounds {
  /** Smallest accepted fraction. @defaultValue 0 */
  readonly min?: number;
  /** Largest accepted fraction. @defaultValue 1 */
  readonly max?: number;
}

/**
 * Parses a rate as a fraction: `1%` → 0.01, `0.5%` → 0.005, `50%` → 0.5, `0.25` → 0.25. A plain
 * number is the fraction itself and must lie below 1: a bare `1` (100%? 1%?) and a bare number
 * above 1 (`50`) are refused with a hint to write the percent sign.
 * @param text - the text to parse
 * @param option - the option's name for messages @defaultValue `"rate"`
 * @param bounds - accepted range of the fraction @defaultValue `{ min: 0, max: 1 }`
 * @throws IovaBitmapError `EINVAL` for text that is not a rate, is ambiguous, or lies outside the
 *   bounds.
 */
export function parseRate(text: string, option = 'rate', bounds: RateBounds = {}): number {
  const where = 'parseRate';
  const min = bounds.min ?? 0;
  const max = bounds.max ?? 1;
  if (typeof text !== 'string') return reject(where, option, text, 'must be a rate given as text');
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?)\s*(%?)$/.exec(t);
  if (m === null) return reject(where, option, text, 'must be a percentage such as 1%, 0.5% or 50%, or a fraction such as 0.01');
  const percent = m[2] === '%';
  const value = Number(percent ? shiftDecimal(m[1]!, -2) : m[1]!);
  if (!percent && value === 1) return reject(where, option, text, 'is ambiguous; write 100% or 1%');
  if (!percent && value > 1) {
    return reject(where, option, text, `is a bare number above 1; write ${shiftDecimal(m[1]!, 0)}% or the fraction ${shiftDecimal(m[1]!, -2)}`);
  }
  if (!(value >= min && value <= max)) {
    return reject(where, option, text, `must lie between ${formatRate(min)} and ${formatRate(max)}`);
  }
  return value;
}

/**
 * Formats a fraction as a percentage with the shortest exact decimal: 0.01 → `1%`,
 * 0.005 → `0.5%`, 1 → `100%`. The inverse of {@link parseRate}.
 * @param fraction - a finite non-negative number
 */
export function formatRate(fraction: number): string {
  if (!(Number.isFinite(fraction) && fraction >= 0)) {
    throw IovaBitmapError.bad('EINVAL', 'formatRate', 'fraction', fraction, 'must be a finite non-negative number');
  }
  return `${shiftDecimal(plainDecimal(fraction), 2)}%`;
}

/** Bounds for {@link parseCount}. */
export interface CountBounds {
  /** Smallest accepted value. @defaultValue 0 */
  readonly min?: number;
  /** Largest accepted value. @defaultValue Number.MAX_SAFE_INTEGER */
  readonly max?: number;
}

/**
 * Parses a whole count (threads, rounds, seed): decimal digits, or a size-style multiple when it
 * is exact (`64K` = 65536 is accepted for counts too).
 * @throws IovaBitmapError `EINVAL` for text that is not a whole number or lies outside the bounds.
 */
export function parseCount(text: string, option = 'count', bounds: CountBounds = {}): number {
  const where = 'parseCount';
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof text !== 'string' || !/^\s*(0x[0-9a-f]+|\d+)\s*([a-z]*)\s*$/i.test(text)) {
    return reject(where, option, text, 'must be a whole number');
  }
  let v: bigint;
  try {
    v = parseSize(text, option);
  } catch (e) {
    return reject(where, option, text, String((e as IovaBitmapError).details?.reason ?? 'must be a whole number'));
  }
  if (v < BigInt(min) || v > BigInt(max)) return reject(where, option, text, `must be an integer in [${min}, ${max}]`);
  return Number(v);
}

/**
 * Parses a comma-separated list of counts, e.g. `--threads 1,2,4`.
 * @throws IovaBitmapError `EINVAL` naming the option, for an empty list or any bad element.
 */
export function parseCountList(text: string, option = 'list', bounds: CountBounds = {}): number[] {
  if (typeof text !== 'string' || text.trim() === '') return reject('parseCountList', option, text, 'must be a comma-separated list of whole numbers');
  return text.split(',').map((part) => {
    try {
      return parseCount(part, option, bounds);
    } catch (e) {
      return reject('parseCountList', option, text, `has a bad element ${JSON.stringify(part)}, which ${String((e as IovaBitmapError).details?.reason)}`);
    }
  });
}

/**
 * A count with its noun, singular for exactly 1: `plural(1, 'chunk')` → `1 chunk`,
 * `plural(3, 'entry', 'entries')` → `3 entries`.
 */
export function plural(n: number | bigint, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 || n === 1n ? one : many}`;
}

/** Nanoseconds per page-table entry, e.g. `0.47 ns/PTE` (three significant digits). */
export function formatNsPerPte(ns: number): string {
  return `${significant(ns)} ns/PTE`;
}

/** GiB of IOVA per second, e.g. `12.3 GiB/s` (three significant digits). */
export function formatGiBps(gibPerSec: number): string {
  return `${significant(gibPerSec)} GiB/s`;
}

/** Milliseconds with three significant digits, e.g. `15.2 ms`. */
export function formatMs(ms: number): string {
  return `${significant(ms)} ms`;
}

/** A ratio such as a speed-up, e.g. `1.93×`; `–` for null. */
export function formatRatio(x: number | null): string {
  return x === null ? '–' : `${significant(x)}×`;
}

/** A percentage that is already ×100, e.g. `4.2%`; `–` for null. */
export function formatPercent(pct: number | null): string {
  return pct === null ? '–' : `${significant(pct)}%`;
}

/** Three significant digits without exponent notation for the usual range; `NaN`/`∞` shown as such. */
export function significant(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toString();
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return Number(x.toFixed(Math.min(decimals, 20))).toString();
}
