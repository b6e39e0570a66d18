/**
 * Commander options in human units, shared by the `report`, `migrate` and `bench` commands.
 *
 * Theory of operation
 * -------------------
 * Each factory returns a commander `Option` whose argument parser is one of ../units.ts. A parse
 * error (an IovaBitmapError) is turned into commander's `InvalidArgumentError` carrying only the
 * reason, so commander prints one line that names the option and quotes the bad value
 * (`error: option '--iova-size <size>' argument '12XB' is invalid. has an unknown unit "XB"; ...`)
 * and exits with status 1. Defaults are given already parsed, with their human text for `--help`.
 */
import { InvalidArgumentError, Option } from 'commander';
import { IovaBitmapError } from '@iovabitmap/core';
import { formatBytes, formatRate, parseByteRate, parseCount, parseCountList, parseRate, parseSize, type CountBounds } from '../units.js';

function commanderParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      if (IovaBitmapError.is(e)) throw new InvalidArgumentError(String((e as IovaBitmapError).details.reason ?? e.message));
      throw e;
    }
  };
}

/** `--flag <size>`: bytes as a bigint (`64GiB`, `2M`, `4096`). */
export function sizeOption(flags: string, description: string, defaultBytes?: bigint): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = new Option(flags, `${description} (bytes; binary units: 4K, 2MiB, 1TiB)`).argParser(commanderParser((t) => parseSize(t, name)));
  return defaultBytes === undefined ? o : o.default(defaultBytes, formatBytes(defaultBytes).replace(' ', ''));
}

/**
 * `--leaf <size|mixed>`: a leaf size in bytes, or `'mixed'` (the migrate layout: 4 KiB and 2 MiB
 * leaves side by side, see ./migrateCommand.ts).
 */
export function leafLayoutOption(flags: string, description: string, defaultValue: bigint | 'mixed'): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return new Option(flags, `${description} (bytes; binary units), or "mixed"`)
    .argParser(commanderParser((t): bigint | 'mixed' => (t === 'mixed' ? 'mixed' : parseSize(t, name))))
    .default(defaultValue, typeof defaultValue === 'string' ? defaultValue : formatBytes(defaultValue).replace(' ', ''));
}

/**
 * `--flag <bytes/s|max>`: a data rate in bytes per second as a bigint (`1GiB/s`, `1`), or `'max'`
 * for as fast as possible, which `0` also means (never a rate of zero).
 */
export function byteRateOption(flags: string, description: string, defaultBytesPerSec: bigint): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const parse = (t: string): bigint | 'max' => {
    if (t.trim().toLowerCase() === 'max') return 'max';
    const v = parseByteRate(t, name);
    return v === 0n ? 'max' : v;
  };
  return new Option(flags, `${description} (bytes per second, e.g. 1GiB/s or 512K/s; "max" or 0 for as fast as possible)`)
    .argParser(commanderParser(parse))
    .default(defaultBytesPerSec, `${formatBytes(defaultBytesPerSec).replace(' ', '')}/s`);
}

/** `--flag <rate>`: a fraction (`1%`, `0.5%`, `0.25`). */
export function rateOption(flags: string, description: string, defaultFraction?: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = new Option(flags, `${description} (1%, 0.5%, 50%, or a fraction such as 0.01)`).argParser(commanderParser((t) => parseRate(t, name)));
  return defaultFraction === undefined ? o : o.default(defaultFraction, formatRate(defaultFraction));
}

/** `--flag <n>`: a whole number within bounds. */
export function countOption(flags: string, description: string, bounds: CountBounds, defaultValue?: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = new Option(flags, description).argParser(commanderParser((t) => parseCount(t, name, bounds)));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `--flag <list>`: comma-separated whole numbers within bounds. */
export function countListOption(flags: string, description: string, bounds: CountBounds): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return new Option(flags, description).argParser(commanderParser((t) => parseCountList(t, name, bounds)));
}

/** `--flag <name>` restricted to `choices`. */
export function choiceOption(flags: string, description: string, choices: readonly string[], defaultValue?: string): Option {
  const o = new Option(flags, description).choices(choices);
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/**
 * A usage error found after parsing (a combination of options), reported like commander's own:
 * the option and its value are named. Thrown from actions; the CLI prints it and exits with 1.
 */
export function usageError(option: string, value: unknown, why: string): IovaBitmapError {
  return IovaBitmapError.bad('EINVAL', 'iovabitmap', option, value, why);
}
