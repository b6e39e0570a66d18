/**
 * The table memory a set of mappings will need, computed before mapping anything.
 *
 * Theory of operation
 * -------------------
 * A table page is 4 KiB and holds 512 entries (./TableMemory.ts). A leaf of 2^shift bytes lives at
 * level L = leafLevel(shift) (./pteFormats.ts): 4 KiB..1 MiB at level 1, 2 MiB..512 MiB at
 * level 2, 1 GiB at level 3; an amd-v1 replicated page takes one entry per replica at its level.
 * The table at level l that holds entry e covers 512 · SPAN[l] pages, and it exists exactly when
 * some mapping whose leaves live at level L <= l touches that cover (the walk down to the leaves
 * creates it); the root (level `levels`) always exists. So the pages of a table are
 *
 *   1 + Σ over l in [1, levels - 1] of |⋃ over mappings with L <= l of the covers they touch|,
 *
 * counted here with interval unions, one per level: O(m log m) for m mappings, whatever their
 * size (64 TiB of 4 KiB leaves is 2^25 leaf tables, counted in microseconds). This is exact: it
 * equals `memoryStats().tableBytes` after mapping the same (non-overlapping) mappings into an
 * empty table, and it is the figure of the IoPageTable header (a 4 KiB table per 512 entries at
 * each level, plus the near-empty upper levels).
 *
 * It does not count the slack of the SharedArrayBuffer segments the pages live in
 * (`memoryStats().reservedBytes - tableBytes`: at most one segment, 64 MiB, beyond what is used,
 * plus each segment's 4 KiB scratch page, ./TableMemory.ts).
 */
import { IovaBitmapError } from '../IovaBitmapError.js';
import { log2Exact, toU64, type U64Like } from '../u64.js';
import { codecOf, leafLevel, SPAN, type PteFormat } from './pteFormats.js';
import { checkPageRange } from './rangeChecks.js';
import { ENTRIES_PER_TABLE, TABLE_PAGE_BYTES } from './TableMemory.js';

const WHERE = 'pageTableBytesFor';

/** One mapping, as `IoPageTable.map(iova, length, { leaf })` would take it. */
export interface TableMapping {
  /** First IOVA, bytes, aligned to `leaf`. */
  readonly iova: U64Like;
  /** Bytes, > 0, a multiple of `leaf`. */
  readonly length: U64Like;
  /** Leaf size, bytes: a page size of the format. */
  readonly leaf: U64Like;
}

/** Integers in the union of closed integer intervals [lo, hi] (sorts its argument). */
function unionSize(intervals: [number, number][]): number {
  intervals.sort((a, b) => a[0] - b[0]);
  let n = 0;
  let curLo = -1;
  let curHi = -2;
  for (const [lo, hi] of intervals) {
    if (lo > curHi + 1) {
      n += curHi - curLo + 1;
      curLo = lo;
      curHi = hi;
    } else if (hi > curHi) {
      curHi = hi;
    }
  }
  return n + (curHi - curLo + 1);
}

/**
 * Bytes of table pages an empty IoPageTable of `format` needs to hold `mappings` (exact; see the
 * module comment). Overlapping mappings, which map() would refuse, are counted once.
 * @param levels - table levels, 4 (48-bit IOVA) or 5 (57-bit) @defaultValue 4
 * @throws IovaBitmapError as `IoPageTable.map` for the same arguments, checked before anything is
 *   counted: `EOPNOTSUPP` (unknown format, leaf size the format lacks), `EINVAL` (not an array,
 *   unaligned, zero length, leaf not a power of two), `EOVERFLOW` (past the address width).
 */
export function pageTableBytesFor(mappings: readonly TableMapping[], format: PteFormat, levels: 4 | 5 = 4): number {
  const codec = codecOf(format);
  if (codec === undefined) throw IovaBitmapError.bad('EOPNOTSUPP', WHERE, 'format', format, "must be 'vtd-ss', 'amd-v1' or 'smmu-v3'");
  if (levels !== 4 && levels !== 5) throw IovaBitmapError.bad('EINVAL', WHERE, 'levels', levels, 'must be 4 or 5');
  if (!Array.isArray(mappings)) throw IovaBitmapError.bad('EINVAL', WHERE, 'mappings', mappings, 'must be an array of { iova, length, leaf }');
  const perLevel: [number, number][][] = Array.from({ length: levels }, () => []);
  mappings.forEach((m: TableMapping, i) => {
    const where = `${WHERE}: mappings[${i}]`;
    if (typeof m !== 'object' || m === null) throw IovaBitmapError.bad('EINVAL', WHERE, `mappings[${i}]`, m, 'must be { iova, length, leaf }');
    const r = checkPageRange(where, m.iova, m.length, levels);
    const leaf = toU64(where, 'leaf', m.leaf);
    const shift = log2Exact(leaf);
    if (shift < 0) throw IovaBitmapError.bad('EINVAL', where, 'leaf', leaf, 'must be a power of two');
    if (!codec.leafShifts.includes(shift)) throw IovaBitmapError.bad('EOPNOTSUPP', where, 'leaf', leaf, `is not a page size of ${format}`);
    if (r.iova % leaf !== 0n || (r.end - r.iova) % leaf !== 0n) throw IovaBitmapError.bad('EINVAL', where, 'iova', r.iova, `and length must be multiples of the leaf size ${leaf}`);
    for (let l = leafLevel(shift); l < levels; l++) {
      const cover = ENTRIES_PER_TABLE * SPAN[l]!;
      perLevel[l]!.push([Math.floor(r.first / cover), Math.floor((r.last - 1) / cover)]);
    }
  });
  let pages = 1; // the root
  // perLevel[l] holds the covers of every mapping whose leaves are at level l or below.
  for (let l = 1; l < levels; l++) if (perLevel[l]!.length > 0) pages += unionSize(perLevel[l]!);
  return pages * TABLE_PAGE_BYTES;
}
