/**
 * The options of `DeviceSimulator.start`, checked the same way on both sides of the control plane.
 * Runs on both ends of the control plane: the main thread and the device worker.
 *
 * Theory of operation
 * -------------------
 * The main-thread handle (./DeviceSimulator.ts) checks the options with {@link checkStartOptions}
 * before it posts anything, and posts the clean copy it returns (known fields only, values
 * checked), so a hostile value can neither reach the worker nor fail structured cloning half-way
 * through a call. The engine (./DeviceEngine.ts) runs the same check again, because it is also
 * driven in-process (tests), then the checks that need its state: a ground truth attached, the
 * region inside it and covered writable by every source.
 *
 * The rate is pages per second, a positive finite number (fractions allowed: 1/4096 is one
 * 4 KiB page every 4096 s, a rate of 1 byte/s), or `'max'` for as fast as the write loop can go.
 * 0 is refused: it used to mean "full speed", which made a rate that rounded down to zero write at
 * full speed.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { PAGE_MASK_BIG, checkInt, toU64 } from '@iovabitmap/core/internal';
import { checkOptions, orDefault } from '../checks.js';
import { DEVICE_PATTERNS, checkPatternOptions, isPatternName } from './patterns.js';
import type { DeviceStartOptions } from './deviceTypes.js';

/** Default pages per batch. About 0.1-0.5 ms of writes for 1-page runs: control calls wait at most that. */
export const DEFAULT_BATCH_PAGES = 1024;

/** The checked options: every field present, the rate as a number (Infinity for `'max'`). */
export interface CheckedStart {
  readonly pattern: DeviceStartOptions['pattern'];
  /** Pages per second; `Infinity` for `'max'`. */
  readonly pagesPerSec: number;
  readonly seed: number;
  readonly batchPages: number;
  /** The region in bytes, or undefined for the ground truth's range. */
  readonly region: { readonly iova: bigint; readonly length: bigint } | undefined;
  readonly sequentialRunPages: number;
  readonly burstPages: number;
}

/** The rate of `start()` as pages per second (Infinity for `'max'`); see the module comment. */
function checkRate(where: string, rate: unknown): number {
  if (rate === 'max') return Number.POSITIVE_INFINITY;
  if (rate === 0) throw IovaBitmapError.bad('EINVAL', where, 'rate', rate, "must be > 0 pages per second; use 'max' for full speed");
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
    throw IovaBitmapError.bad('EINVAL', where, 'rate', rate, "must be a positive finite number of pages per second, or 'max'");
  }
  return rate;
}

/**
 * Checks the options of `start()` (see the module comment) without any device state.
 * @throws IovaBitmapError `EINVAL` naming the first bad field.
 */
export function checkStartOptions(where: string, o: DeviceStartOptions): CheckedStart {
  checkOptions(where, 'options', o);
  if (!isPatternName(o.pattern)) throw IovaBitmapError.bad('EINVAL', where, 'pattern', o.pattern, `must be one of ${DEVICE_PATTERNS.join(', ')}`);
  const pagesPerSec = checkRate(where, o.rate);
  const seed = checkInt(where, 'seed', o.seed, 0, 2 ** 32 - 1);
  const batchPages = checkInt(where, 'batchPages', orDefault(o.batchPages, DEFAULT_BATCH_PAGES), 1, 2 ** 24);
  let region: CheckedStart['region'];
  if (o.region !== undefined) {
    const r = checkOptions(where, 'region', o.region);
    const iova = toU64(where, 'region.iova', r.iova);
    const length = toU64(where, 'region.length', r.length);
    if (length === 0n || (iova & PAGE_MASK_BIG) !== 0n || (length & PAGE_MASK_BIG) !== 0n) {
      throw IovaBitmapError.bad('EINVAL', where, 'region', `${iova}+${length}`, 'must be non-empty and aligned to 4 KiB');
    }
    region = { iova, length };
  }
  const tuning = checkPatternOptions(where, o);
  return { pattern: o.pattern, pagesPerSec, seed, batchPages, region, ...tuning };
}

/** The checked options as `start()` options again (structured-cloneable, known fields only). */
export function startOptionsOf(c: CheckedStart): DeviceStartOptions {
  return {
    pattern: c.pattern,
    rate: c.pagesPerSec === Number.POSITIVE_INFINITY ? 'max' : c.pagesPerSec,
    seed: c.seed,
    batchPages: c.batchPages,
    ...(c.region === undefined ? {} : { region: c.region }),
    sequentialRunPages: c.sequentialRunPages,
    burstPages: c.burstPages,
  };
}
