/**
 * DMA write patterns of the simulated device.
 * Runs on the device worker (the generators) and the main thread (checking a start's options).
 *
 * Theory of operation
 * -------------------
 * A pattern is a deterministic stream of *runs*: `{ page, count }` = the device writes 4 KiB
 * pages [page, page + count) (absolute 4 KiB page indices, i.e. IOVA >> 12). Every run lies
 * inside the device's *region*, the range of IOVA the device may DMA to; the simulator checks the
 * region once, so no run can fall where no source maps or tracks memory (see ./DeviceEngine.ts for
 * why that matters to the ground truth). The stream depends only on (pattern, region, seed,
 * options), never on timing, so a seed replays the same writes.
 *
 * - `uniform`: one random page per run, uniform over the region. Worst case for a report: dirty
 *   bits scattered over every leaf and word.
 * - `sequential`: a streaming device (a NIC ring, a disk DMA): runs of `sequentialRunPages`
 *   consecutive pages from a cursor that wraps at the region's end.
 * - `hotset`: Zipf-like (s = 1) popularity: rank r in [0, n) is drawn with P(r) proportional to
 *   log((r + 2) / (r + 1)) ~ 1 / (r + 1.5) by r = floor((n + 1)^u) - 1, u uniform; ranks are
 *   spread over the region by a stride coprime with n, so the hot pages are not all in one leaf.
 *   Pages are written again and again: most rounds re-dirty what the last round cleared.
 * - `burst`: whole huge leaves: runs of `burstPages` (default 512 = 2 MiB) pages aligned to
 *   burstPages in absolute IOVA, chosen uniformly among the aligned blocks wholly inside the
 *   region. Exercises the "a dirty 2 MiB leaf reports all its 512 pages" widening.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { checkInt } from '@iovabitmap/core/internal';
import { checkOptions, orDefault } from '../checks.js';
import { createRng } from './prng.js';

/** The names of the device's write patterns; see the module comment. */
export type DevicePatternName = 'uniform' | 'sequential' | 'hotset' | 'burst';

/** Every pattern, in a stable order. */
export const DEVICE_PATTERNS: readonly DevicePatternName[] = Object.freeze(['uniform', 'sequential', 'hotset', 'burst']);

/** A DMA write of consecutive 4 KiB pages. */
export interface PageRun {
  /** First page, as an absolute 4 KiB page index (IOVA >> 12). */
  page: number;
  /** Number of pages, >= 1. */
  count: number;
}

/** The region a pattern writes into, in absolute 4 KiB pages. */
export interface PageRegion {
  /** First page (IOVA >> 12). */
  readonly firstPage: number;
  /** Number of pages, >= 1. */
  readonly pageCount: number;
}

/** Tuning of the patterns; all counts are 4 KiB pages. */
export interface PatternOptions {
  /** Pages per run of `sequential`, an integer in [1, 2^24]. @defaultValue 16 (64 KiB, a typical DMA burst) */
  readonly sequentialRunPages?: number;
  /** Pages per run of `burst`, a power of two; runs are aligned to it. @defaultValue 512 (2 MiB) */
  readonly burstPages?: number;
}

/** A deterministic stream of runs inside one region. */
export interface PatternGenerator {
  /** The pattern's name. */
  readonly name: DevicePatternName;
  /**
   * The next run. The returned object is reused by the next call (the device loop consumes it at
   * once); copy it to keep it.
   */
  next(): PageRun;
}

const WHERE = 'DevicePattern';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A stride coprime with n (so rank -> rank * stride mod n is a bijection of [0, n)), kept small
 * (about 4099) so that rank * stride stays below 2^53 and exact for every n <= 2^40.
 */
function coprimeStride(n: number): number {
  if (n < 3) return 1;
  let s = 4099 % n;
  if (s === 0) s = 1;
  while (gcd(s, n) !== 1) s++;
  return s;
}

/** True for the name of a pattern (one of {@link DEVICE_PATTERNS}). */
export function isPatternName(v: unknown): v is DevicePatternName {
  return typeof v === 'string' && (DEVICE_PATTERNS as readonly string[]).includes(v);
}

/** The tuning of the patterns with its defaults filled in (see {@link PatternOptions}). */
export interface PatternTuning {
  readonly sequentialRunPages: number;
  readonly burstPages: number;
}

/**
 * Checks the tuning fields of `options` whatever the pattern (a wrong `burstPages` is refused even
 * when the pattern is `uniform`, so a mistake never waits for the day the pattern changes).
 * @throws IovaBitmapError `EINVAL` naming the field.
 */
export function checkPatternOptions(where: string, options: PatternOptions): PatternTuning {
  checkOptions(where, 'options', options);
  const sequentialRunPages = checkInt(where, 'sequentialRunPages', orDefault(options.sequentialRunPages, 16), 1, 2 ** 24);
  const burstPages = checkInt(where, 'burstPages', orDefault(options.burstPages, 512), 1, 2 ** 30);
  if ((burstPages & (burstPages - 1)) !== 0) throw IovaBitmapError.bad('EINVAL', where, 'burstPages', burstPages, 'must be a power of two in [1, 2^30]');
  return { sequentialRunPages, burstPages };
}

/**
 * Builds the generator of `name` over `region`, seeded with `seed`.
 * @param seed - an integer in [0, 2^32) (see ./prng.ts)
 * @throws IovaBitmapError `EINVAL` for an unknown pattern, a region that is not
 *   `{ firstPage, pageCount }` or is empty, a bad seed, bad options, or a `burst` region that
 *   holds no whole aligned block of `burstPages`.
 */
export function createPattern(name: DevicePatternName, region: PageRegion, seed: number, options: PatternOptions = {}): PatternGenerator {
  if (!isPatternName(name)) throw IovaBitmapError.bad('EINVAL', WHERE, 'pattern', name, `must be one of ${DEVICE_PATTERNS.join(', ')}`);
  checkOptions(WHERE, 'region', region);
  const { firstPage, pageCount } = region;
  checkInt(WHERE, 'region.firstPage', firstPage, 0);
  checkInt(WHERE, 'region.pageCount', pageCount, 1, 2 ** 40);
  const tuning = checkPatternOptions(WHERE, options);
  const rng = createRng(seed);
  const run: PageRun = { page: firstPage, count: 1 };
  switch (name) {
    case 'uniform':
      return {
        name,
        next() {
          run.page = firstPage + rng.int(pageCount);
          run.count = 1;
          return run;
        },
      };
    case 'sequential': {
      const len = tuning.sequentialRunPages;
      // Start at a seeded offset so that two devices (or two runs) do not stream in lockstep.
      let cursor = rng.int(pageCount);
      return {
        name,
        next() {
          const count = Math.min(len, pageCount - cursor);
          run.page = firstPage + cursor;
          run.count = count;
          cursor += count;
          if (cursor >= pageCount) cursor = 0;
          return run;
        },
      };
    }
    case 'hotset': {
      const stride = coprimeStride(pageCount);
      const logN1 = Math.log(pageCount + 1);
      return {
        name,
        next() {
          let rank = Math.floor(Math.exp(rng.float() * logN1)) - 1;
          if (rank >= pageCount) rank = pageCount - 1;
          if (rank < 0) rank = 0;
          run.page = firstPage + ((rank * stride) % pageCount);
          run.count = 1;
          return run;
        },
      };
    }
    case 'burst': {
      const bp = tuning.burstPages;
      const b0 = Math.ceil(firstPage / bp);
      const b1 = Math.floor((firstPage + pageCount) / bp);
      if (b1 <= b0) {
        throw IovaBitmapError.bad('EINVAL', WHERE, 'region', region, `holds no whole ${bp}-page block aligned to ${bp} pages for the burst pattern`);
      }
      const blocks = b1 - b0;
      return {
        name,
        next() {
          run.page = (b0 + rng.int(blocks)) * bp;
          run.count = bp;
          return run;
        },
      };
    }
  }
}
