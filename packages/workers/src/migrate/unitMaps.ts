/**
 * Dirty-unit geometry of each source, for the migration checker's widening.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * A source does not report 4 KiB pages: it reports *units*. A dirty leaf PTE reports its whole
 * leaf (a dirty 2 MiB leaf sets all 512 bits of a 4 KiB bitmap; an AMD replicated 8 KiB..1 MiB
 * page its whole size), and a tracker records whole tracker pages (the START page size after
 * clamping). So a report may legitimately hold pages the device never wrote: every other page of a
 * unit the device wrote into. A {@link UnitMap} answers "which unit of this source holds 4 KiB page
 * p", which is all the checker needs to widen the ground truth. It reads the source's geometry
 * (leaf sizes, tracker page size and ranges), never its dirty state, so it cannot inherit a bug of
 * the reporting path.
 *
 * The builders check their input (EINVAL naming the field) and copy it, so a map answers from the
 * geometry it was given even if the caller's arrays change later; `unitOf` refuses a page that is
 * not a non-negative safe integer.
 */
import { IovaBitmapError, type DirtySource } from '@iovabitmap/core';
import { PAGE_SHIFT, PAGE_SIZE_BIG, U64_LIMIT, checkInt, lastAtOrBefore, log2Exact, pageIova, pageOf, toU64 } from '@iovabitmap/core/internal';
import { checkObject } from '../checks.js';

/** A unit of a source, in 4 KiB pages. */
export interface PageUnit {
  /** First 4 KiB page (IOVA >> 12). */
  readonly first: number;
  /** Pages in the unit (a power of two). */
  readonly count: number;
}

/** The dirty units of one source; see the module comment. */
export interface UnitMap {
  /** The source's name. */
  readonly name: string;
  /** The unit holding 4 KiB page `page` (IOVA >> 12), or undefined when the source does not cover it. */
  unitOf(page: number): PageUnit | undefined;
}

/** What {@link trackerUnitMap} needs of a tracker (a started `VfTracker` has it). */
export interface TrackerGeometry {
  readonly name: string;
  /** Tracker page size in force, bytes (>= 4096, a power of two). */
  readonly pageSize: bigint;
  /** Tracked ranges, bytes (not always aligned to pageSize: the device may clamp the page size up; units are whole tracker pages anyway). */
  readonly ranges: readonly { readonly iova: bigint; readonly length: bigint }[];
}

/** A source name: a non-empty string. */
function checkName(where: string, param: string, name: unknown): string {
  if (typeof name !== 'string' || name === '') throw IovaBitmapError.bad('EINVAL', where, param, name, 'must be a non-empty string');
  return name;
}

/** A unit size in bytes: a power of two >= 4096. */
function checkUnitBytes(where: string, param: string, v: unknown): bigint {
  const b = toU64(where, param, v);
  if (log2Exact(b) < PAGE_SHIFT) throw IovaBitmapError.bad('EINVAL', where, param, b, 'must be a power of two >= 4096');
  return b;
}

/** A non-empty range of IOVA bytes `{ iova, length }` ending at or below 2^64, as exact bigints. */
function checkRange(where: string, param: string, r: unknown): { iova: bigint; length: bigint } {
  checkObject(where, param, r);
  const { iova, length } = r as { iova: unknown; length: unknown };
  const lo = toU64(where, `${param}.iova`, iova);
  const len = toU64(where, `${param}.length`, length);
  if (len === 0n) throw IovaBitmapError.bad('EINVAL', where, `${param}.length`, len, 'must be greater than 0');
  if (lo + len > U64_LIMIT) throw IovaBitmapError.bad('EOVERFLOW', where, param, `${lo}+${len}`, 'must end at or below 2^64');
  return { iova: lo, length: len };
}

/** The check of `unitOf`'s argument (a 4 KiB page index). */
function checkPage(name: string, page: unknown): void {
  checkInt(`UnitMap(${name}).unitOf`, 'page', page, 0);
}

/**
 * Checks a list of unit maps (migrate's and verifyMigration's `units`).
 * @throws IovaBitmapError `EINVAL` naming `param`.
 */
export function checkUnitMaps(where: string, param: string, units: unknown): readonly UnitMap[] {
  if (!Array.isArray(units)) throw IovaBitmapError.bad('EINVAL', where, param, units, 'must be an array of unit maps');
  for (const m of units as unknown[]) {
    const u = m as Partial<UnitMap> | null;
    if (typeof u !== 'object' || u === null || typeof u.name !== 'string' || typeof u.unitOf !== 'function') {
      throw IovaBitmapError.bad('EINVAL', where, param, typeof m === 'object' ? (u?.name ?? m) : m, 'holds something that is not a unit map ({ name, unitOf })');
    }
  }
  return units as UnitMap[];
}

/**
 * Units of a device tracker: pageSize-aligned blocks inside its tracked ranges.
 * @throws IovaBitmapError `EINVAL` for a bad name, page size or range.
 */
export function trackerUnitMap(t: TrackerGeometry): UnitMap {
  const where = 'trackerUnitMap';
  checkObject(where, 'tracker', t);
  const name = checkName(where, 'name', t.name);
  const ppu = pageOf(checkUnitBytes(where, 'pageSize', t.pageSize));
  if (!Array.isArray(t.ranges)) throw IovaBitmapError.bad('EINVAL', where, 'ranges', t.ranges, 'must be an array of { iova, length }');
  return runsUnitMap(
    name,
    t.ranges.map((r, i) => ({ ...checkRange(where, `ranges[${i}]`, r), unitPages: ppu })),
  );
}

/**
 * The unit map of checked, disjoint runs of IOVA, each cut into aligned units of `unitPages` 4 KiB
 * pages (the one lookup behind both builders): a binary search for the run, then the unit.
 */
function runsUnitMap(name: string, runs: readonly { iova: bigint; length: bigint; unitPages: number }[]): UnitMap {
  const sorted = [...runs].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const starts = sorted.map((r) => pageOf(r.iova));
  const ends = sorted.map((r) => pageOf(r.iova + r.length));
  const unitPages = sorted.map((r) => r.unitPages);
  return {
    name,
    unitOf(page: number): PageUnit | undefined {
      checkPage(name, page);
      const i = lastAtOrBefore(starts, page);
      if (i < 0 || page >= ends[i]!) return undefined;
      const n = unitPages[i]!;
      return { first: Math.floor(page / n) * n, count: n };
    },
  };
}

/** One mapping of a page table, as given to `IoPageTable.map`. */
export interface LeafMapping {
  /** First IOVA, bytes, aligned to `leaf`. */
  readonly iova: bigint;
  /** Length, bytes, a multiple of `leaf`. */
  readonly length: bigint;
  /** Leaf size, bytes (4096, 2 MiB, 1 GiB, or an amd-v1 size in between). */
  readonly leaf: bigint;
}

/**
 * Units of a page table from the list of its mappings (what the caller passed to `map`), so the
 * checker's widening does not depend on the table's own code at all. Leaves are aligned to their
 * size in absolute IOVA (map() requires it).
 * @throws IovaBitmapError `EINVAL` for a bad name, or a mapping whose leaf is not a power of two
 *   >= 4096 or whose iova and length are not multiples of it.
 */
export function mappingUnitMap(name: string, mappings: readonly LeafMapping[]): UnitMap {
  const where = 'mappingUnitMap';
  checkName(where, 'name', name);
  if (!Array.isArray(mappings)) throw IovaBitmapError.bad('EINVAL', where, 'mappings', mappings, 'must be an array of { iova, length, leaf }');
  const runs = mappings.map((m, i) => {
    const r = checkRange(where, `mappings[${i}]`, m);
    const leaf = checkUnitBytes(where, `mappings[${i}].leaf`, (m as LeafMapping).leaf);
    if (r.iova % leaf !== 0n || r.length % leaf !== 0n) {
      throw IovaBitmapError.bad('EINVAL', where, `mappings[${i}]`, `${r.iova}+${r.length}`, `must be aligned to its leaf size ${leaf}`);
    }
    return { ...r, unitPages: pageOf(leaf) };
  });
  return runsUnitMap(name, runs);
}

/**
 * The unit map of a dirty source, from its shape: a started tracker (`pageSize` + `ranges`), or a
 * page table with a `leafAt(iova) → { iova, size } | undefined` lookup (IoPageTable has it, views
 * included: a table lookup per unit). {@link mappingUnitMap} builds the same map from the list of
 * mappings instead, for a check that does not rely on the table's own code. Returns undefined for
 * any other source (the checker then widens nothing for it, which can only make it report more
 * "unexpected" pages, never hide a missing one).
 * @throws IovaBitmapError `EINVAL` for a source that is not an object with a non-empty name.
 */
export function unitMapOf(source: DirtySource): UnitMap | undefined {
  checkObject('unitMapOf', 'source', source);
  checkName('unitMapOf', 'source.name', source.name);
  const s = source as unknown as Partial<TrackerGeometry> & { leafAt?: (iova: bigint) => { iova: bigint; size: bigint } | undefined };
  if (typeof s.pageSize === 'bigint' && Array.isArray(s.ranges)) {
    // A stopped tracker reports pageSize 0 and no ranges: no geometry to widen with.
    return s.pageSize >= PAGE_SIZE_BIG ? trackerUnitMap(s as TrackerGeometry) : undefined;
  }
  if (typeof s.leafAt === 'function') {
    const leafAt = s.leafAt.bind(source);
    const name = source.name;
    return {
      name,
      unitOf(page: number): PageUnit | undefined {
        checkPage(name, page);
        const leaf = leafAt(pageIova(page));
        return leaf === undefined ? undefined : { first: pageOf(leaf.iova), count: pageOf(leaf.size) };
      },
    };
  }
  return undefined;
}
