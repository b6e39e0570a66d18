/**
 * Test helpers for IoPageTable: byte snapshots of a table's shared memory ("nothing written"),
 * a small independent model of mapped leaves and their dirty state, and a bitmap that fails on
 * demand (record-before-clear).
 */
import { IovaBitmap, type IoPageTable, type IovaBitmapOptions } from '@iovabitmap/core';

import { GIB, KIB, KiB, MIB } from '../../helpers/sizes.js';

export { IoPageTable, type PteFormat } from '@iovabitmap/core';

/** Every PTE format. */
export { PTE_FORMATS } from '@iovabitmap/core';


/** Leaf sizes (bytes) each format maps natively; amd-v1 adds replicated sizes. */
export const LEAF_SIZES = {
  'vtd-ss': [4 * KIB, 2 * MIB, GIB],
  'amd-v1': [4 * KIB, 8 * KIB, 64 * KIB, MIB, 2 * MIB, 4 * MIB, 64 * MIB, GIB],
  'smmu-v3': [4 * KIB, 2 * MIB, GIB],
} as const;

/**
 * A copy of every byte of the table's shared memory (segments and control block), less each
 * segment's last 4 KiB page: the walks' scratch page (core's pagetable/TableMemory.ts), which
 * holds what the last walk there computed, not table state (zeroed in the copy).
 */
export function snapshotTable(pt: IoPageTable): Uint8Array[] {
  const d = pt.share();
  return [d.control, ...d.segments].map((b, i) => {
    const copy = new Uint8Array(b).slice();
    if (i > 0) copy.fill(0, copy.length - 4096);
    return copy;
  });
}

/** True when two snapshots hold the same bytes (Buffer.compare: toEqual is far too slow on MiBs). */
export function sameBytes(a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]!) === 0);
}

/** True when the table's shared memory holds exactly the bytes of `snap` (scratch pages aside, see snapshotTable). */
export function sameTable(pt: IoPageTable, snap: Uint8Array[]): boolean {
  return sameBytes(snapshotTable(pt), snap);
}

/** One mapped leaf of the model, in 4 KiB pages. */
export interface ModelLeaf {
  start: number;
  pages: number;
  writable: boolean;
  dirty: boolean;
}

/**
 * The reference model: a list of leaves, each clean or dirty. Written from the specification
 * (docs/design/iommufd.md, docs/design/pte-formats.md, the DirtySource ownership rule), not from
 * the implementation.
 */
export class LeafModel {
  leaves: ModelLeaf[] = [];
  tracking = false;

  overlaps(s: number, e: number): boolean {
    return this.leaves.some((l) => l.start < e && s < l.start + l.pages);
  }
  map(s: number, e: number, pages: number, writable: boolean): void {
    for (let p = s; p < e; p += pages) this.leaves.push({ start: p, pages, writable, dirty: false });
  }
  /** True when [s, e) cuts a leaf. */
  cuts(s: number, e: number): boolean {
    return this.leaves.some((l) => (l.start < s && s < l.start + l.pages) || (l.start < e && e < l.start + l.pages));
  }
  unmap(s: number, e: number): void {
    this.leaves = this.leaves.filter((l) => l.start + l.pages <= s || l.start >= e);
  }
  /** A device write over pages [s, e): returns the leaves marked. */
  write(s: number, e: number): number {
    if (!this.tracking) return 0;
    let n = 0;
    for (const l of this.leaves) {
      if (l.start < e && s < l.start + l.pages && l.writable) {
        l.dirty = true;
        n++;
      }
    }
    return n;
  }
  /** The first unmapped page in [s, e), or -1. */
  hole(s: number, e: number): number {
    const sorted = this.leaves.filter((l) => l.start < e && s < l.start + l.pages).sort((a, b) => a.start - b.start);
    let p = s;
    for (const l of sorted) {
      if (l.start > p) return p;
      p = Math.max(p, l.start + l.pages);
    }
    return p < e ? p : -1;
  }
  /** Dirty pages a report of [s, e) records (clipped), as merged [start, end) runs; clears unless noClear. */
  report(s: number, e: number, noClear: boolean): [number, number][] {
    const runs: [number, number][] = [];
    for (const l of [...this.leaves].sort((a, b) => a.start - b.start)) {
      if (!(l.dirty && l.start < e && s < l.start + l.pages)) continue;
      const a = Math.max(s, l.start);
      const b = Math.min(e, l.start + l.pages);
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === a) last[1] = b;
      else runs.push([a, b]);
      if (!noClear) l.dirty = false;
    }
    return runs;
  }
  /** Merged runs of mapped pages. */
  coverage(): [number, number][] {
    const runs: [number, number][] = [];
    for (const l of [...this.leaves].sort((a, b) => a.start - b.start)) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === l.start) last[1] = l.start + l.pages;
      else runs.push([l.start, l.start + l.pages]);
    }
    return runs;
  }
}

/** The bits of `bm` that runs of 4 KiB pages cover, as merged [start, end) bit runs. */
export function bitsOfPageRuns(bm: IovaBitmap, runs: [number, number][]): [number, number][] {
  const ps = bm.pageSize;
  const out: [number, number][] = [];
  for (const [s, e] of runs) {
    const a = Number((BigInt(s) * 4n * KiB - bm.iova) / ps);
    const b = Number((BigInt(e) * 4n * KiB - bm.iova + ps - 1n) / ps);
    const last = out[out.length - 1];
    if (last !== undefined && last[1] >= a) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The set bits of `bm` as merged [start, end) bit runs. */
export function bitRuns(bm: IovaBitmap): [number, number][] {
  const shift = BigInt(bm.pageShift);
  return [...bm.dirtyRanges()].map((r) => {
    const a = Number((r.iova - bm.iova) >> shift);
    return [a, a + Number(r.length >> shift)] as [number, number];
  });
}

/**
 * An IovaBitmap that runs `hook` before each write of the walk (orMask, setUnits): the point
 * between a walk's read of a PTE and its clear. A hook can throw (a failure mid-walk) or act as a
 * device writing at exactly that moment.
 */
export class HookedBitmap extends IovaBitmap {
  hook: () => void = () => {};
  override orMask(firstBit: number, mask: number): void {
    this.hook();
    super.orMask(firstBit, mask);
  }
  override setUnits(unit: number, count: number, unitShift: number): void {
    this.hook();
    super.setUnits(unit, count, unitShift);
  }
}

/** A {@link HookedBitmap} whose writes throw after `allowed` successful ones. */
export function failingBitmap(options: IovaBitmapOptions, allowed: number): HookedBitmap {
  const bm = new HookedBitmap(options);
  bm.hook = () => {
    if (allowed-- <= 0) throw new Error('injected bitmap failure');
  };
  return bm;
}
