/**
 * Dirty-unit geometry of each source, for the migration checker's widening.
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
 */
import { lastAtOrBefore, type DirtySource } from '@iovabitmap/core';

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

/** Units of a device tracker: pageSize-aligned blocks inside its tracked ranges. */
export function trackerUnitMap(t: TrackerGeometry): UnitMap {
  const ppu = Number(t.pageSize >> 12n);
  const starts = t.ranges.map((r) => Number(r.iova >> 12n));
  const ends = t.ranges.map((r) => Number((r.iova + r.length) >> 12n));
  const order = starts.map((_, i) => i).sort((a, b) => starts[a]! - starts[b]!);
  const s = order.map((i) => starts[i]!);
  const e = order.map((i) => ends[i]!);
  return {
    name: t.name,
    unitOf(page: number): PageUnit | undefined {
      const i = lastAtOrBefore(s, page);
      if (i < 0 || page >= e[i]!) return undefined;
      return { first: Math.floor(page / ppu) * ppu, count: ppu };
    },
  };
}

/** What {@link pageTableUnitMap} needs: the leaf mapping an IOVA, if any. */
export interface LeafLookup {
  readonly name: string;
  /**
   * The leaf that maps 4 KiB page `page`: its first page and its size in pages, or undefined for
   * a hole.
   */
  leafOf(page: number): PageUnit | undefined;
}

/** Units of an IOMMU page table: its leaves. */
export function pageTableUnitMap(pt: LeafLookup): UnitMap {
  return { name: pt.name, unitOf: (page) => pt.leafOf(page) };
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
 */
export function mappingUnitMap(name: string, mappings: readonly LeafMapping[]): UnitMap {
  const sorted = [...mappings].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const starts = sorted.map((m) => Number(m.iova >> 12n));
  const ends = sorted.map((m) => Number((m.iova + m.length) >> 12n));
  const leafPages = sorted.map((m) => Number(m.leaf >> 12n));
  return {
    name,
    unitOf(page: number): PageUnit | undefined {
      const i = lastAtOrBefore(starts, page);
      if (i < 0 || page >= ends[i]!) return undefined;
      const n = leafPages[i]!;
      return { first: Math.floor(page / n) * n, count: n };
    },
  };
}

/**
 * The unit map of a dirty source, from its shape: a started tracker (`pageSize` + `ranges`), or a
 * page table offering a `leafAt(iova) → { iova, size } | undefined` lookup. IoPageTable has no
 * such lookup today: pass its mappings through {@link mappingUnitMap} (migrate's `units` option).
 * Returns undefined for any other source (the checker then widens nothing for it, which can only
 * make it report more "unexpected" pages, never hide a missing one).
 */
export function unitMapOf(source: DirtySource): UnitMap | undefined {
  const s = source as unknown as Partial<TrackerGeometry> & { leafAt?: (iova: bigint) => { iova: bigint; size: bigint } | undefined };
  if (typeof s.pageSize === 'bigint' && Array.isArray(s.ranges)) {
    // A stopped tracker reports pageSize 0 and no ranges: no geometry to widen with.
    return s.pageSize >= 4096n ? trackerUnitMap(s as TrackerGeometry) : undefined;
  }
  if (typeof s.leafAt === 'function') {
    const leafAt = s.leafAt.bind(source);
    return pageTableUnitMap({
      name: source.name,
      leafOf(page: number): PageUnit | undefined {
        const leaf = leafAt(BigInt(page) << 12n);
        return leaf === undefined ? undefined : { first: Number(leaf.iova >> 12n), count: Number(leaf.size >> 12n) };
      },
    });
  }
  return undefined;
}
