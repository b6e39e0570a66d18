/**
 * Commander options in human units, shared by the `report`, `migrate` and `bench` commands.
 *
 * Theory of operation
 * -------------------
 * Each factory returns a commander `Option` whose argument parser is one of ../units.ts. A parse
 * error (an IovaBitmapError) is turned into commander's `InvalidArgumentError` carrying the reason
 * as a sentence of its own, so commander prints one line that names the option, quotes the bad
 * value and says why: `error: option '--iova-size <size>' argument '64GB' is invalid. It uses the
 * ambiguous SI unit "GB"; write GiB or G (binary multiples).` (the units' reasons are predicates
 * that read after "It"), and exits with status 1. Defaults are given already parsed, with their
 * human text for `--help`.
 *
 * The text as typed. Checks that need two options (`--iova-size` a multiple of `--leaf`, a leaf
 * the `--format` supports) run after parsing, on parsed values; their messages quote the value as
 * the user typed it (`"3K"`, not `"3 KiB"`): every parser records the text it parsed, and
 * {@link typedValues} reads it back per option.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { IovaBitmapError } from '@iovabitmap/core';
import { formatByteRate, formatBytes, formatRate, parseByteRate, parseCount, parseCountList, parseDurationMs, parseRate, parseSize, type CountBounds } from '../units.js';

/** The text each option's parser last parsed, by option. */
const TYPED = new WeakMap<Option, string>();

/** The reason of a units error as a sentence that reads after commander's "... is invalid." */
export function reasonSentence(e: IovaBitmapError): string {
  const reason = e.details.reason;
  return typeof reason === 'string' ? `It ${reason}.` : e.message;
}

/** Sets `parse` as the parser of `option`, recording the typed text and turning errors into commander's. */
function withParser<T>(option: Option, parse: (text: string) => T): Option {
  return option.argParser((text: string) => {
    try {
      const v = parse(text);
      TYPED.set(option, text);
      return v;
    } catch (e) {
      if (IovaBitmapError.is(e)) throw new InvalidArgumentError(reasonSentence(e as IovaBitmapError));
      throw e;
    }
  });
}

/**
 * The options of `cmd` given on the command line, by long name, as typed (`{ '--leaf': '3K' }`):
 * for messages about parsed values (module comment).
 */
export function typedValues(cmd: Command): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of cmd.options) {
    const t = TYPED.get(o);
    if (t !== undefined && o.long !== undefined && cmd.getOptionValueSource(o.attributeName()) === 'cli') out[o.long] = t;
  }
  return out;
}

/** `--flag <size>`: bytes as a bigint (`64GiB`, `2M`, `4096`). */
export function sizeOption(flags: string, description: string, defaultBytes?: bigint): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = withParser(new Option(flags, `${description} (bytes; binary units: 4K, 2MiB, 1TiB)`), (t) => parseSize(t, name));
  return defaultBytes === undefined ? o : o.default(defaultBytes, formatBytes(defaultBytes).replace(' ', ''));
}

/**
 * `--leaf <size|mixed>`: a leaf size in bytes, or `'mixed'` (the migrate layout: 4 KiB and 2 MiB
 * leaves side by side, see ./migrateCommand.ts).
 */
export function leafLayoutOption(flags: string, description: string, defaultValue: bigint | 'mixed'): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return withParser(new Option(flags, `${description} (bytes; binary units), or "mixed"`), (t): bigint | 'mixed' => (t === 'mixed' ? 'mixed' : parseSize(t, name)))
    .default(defaultValue, typeof defaultValue === 'string' ? defaultValue : formatBytes(defaultValue).replace(' ', ''));
}

/**
 * `--flag <rate|max>`: a data rate in bytes per second as a bigint (`1GiB/s`, `10Gbit/s`,
 * `1.25GB/s`: ../units.ts parseByteRate), or `'max'` for as fast as possible, which `0` also means
 * (never a rate of zero).
 */
export function byteRateOption(flags: string, description: string, defaultBytesPerSec: bigint): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const parse = (t: string): bigint | 'max' => {
    if (t.trim().toLowerCase() === 'max') return 'max';
    const v = parseByteRate(t, name);
    return v === 0n ? 'max' : v;
  };
  return withParser(
    new Option(
      flags,
      `${description} (per second: bytes in binary units, 1GiB/s or 512K/s; or SI bits and bytes, 10Gbit/s = 10Gb/s = 1.25GB/s; "max" or 0 for as fast as possible)`,
    ),
    parse,
  ).default(defaultBytesPerSec, formatByteRate(defaultBytesPerSec).replace(' ', ''));
}

/** `--flag <time>`: a duration in milliseconds (`300ms`, `0.3s`, `300`). */
export function durationOption(flags: string, description: string, defaultMs: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return withParser(new Option(flags, `${description} (300ms, 0.3s, or a number of milliseconds)`), (t) => parseDurationMs(t, name)).default(defaultMs, `${defaultMs}ms`);
}

/** `--flag <rate>`: a fraction (`1%`, `0.5%`, `0.25`). */
export function rateOption(flags: string, description: string, defaultFraction?: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = withParser(new Option(flags, `${description} (1%, 0.5%, 100%, or a fraction below 1 such as 0.01)`), (t) => parseRate(t, name));
  return defaultFraction === undefined ? o : o.default(defaultFraction, formatRate(defaultFraction));
}

/** `--flag <n>`: a whole number within bounds. */
export function countOption(flags: string, description: string, bounds: CountBounds, defaultValue?: number): Option {
  const name = flags.split(/[ ,]/)[0]!;
  const o = withParser(new Option(flags, description), (t) => parseCount(t, name, bounds));
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** `--flag <list>`: comma-separated whole numbers within bounds. */
export function countListOption(flags: string, description: string, bounds: CountBounds): Option {
  const name = flags.split(/[ ,]/)[0]!;
  return withParser(new Option(flags, description), (t) => parseCountList(t, name, bounds));
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

/**
 * `--json [file]` and `--markdown [file]` (./documentOutputs.ts) on `cmd`, whose document is
 * described by `schemas/<kind>.schema.json`.
 */
export function addDocumentOptions(cmd: Command, kind: string): Command {
  return cmd
    .option('--json [file]', `write the ${kind} document as JSON (schemas/${kind}.schema.json) to file, or to stdout without one (the human text then goes to stderr)`)
    .option('--markdown [file]', `write the ${kind} document as Markdown to file, or to stdout without one (the human text then goes to stderr)`);
}
