/**
 * The owner's list of mapped areas of an IOMMU page table, for O(log n) checks.
 *
 * Theory of operation
 * -------------------
 * iommufd keeps its mapped areas in an interval tree and checks requests against it, not against
 * the page table. We do the same with a sorted array of disjoint, non-adjacent half-open runs
 * [start, end) of 4 KiB pages (adjacent mappings merge, since only coverage matters): "does this
 * map overlap anything" and "where is the first hole in this report range" are one binary search
 * each. Insertion and removal splice the arrays (O(n) moves, O(log n) search), which is cheap next
 * to writing the PTEs of the mapping.
 *
 * Page numbers are plain numbers: a 57-bit IOVA has at most 2^45 pages, exact in a double.
 * A view in a worker gets a copy of the list as it was at share() ({@link MappedAreas.toFlat}).
 * IoPageTable keeps two lists: every mapped area, and the areas mapped writable.
 */
import { typedArrayTag } from '../buffers.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { lastAtOrBefore } from '../sortedRuns.js';

/** Disjoint, merged runs of mapped 4 KiB pages; see the module comment. */
export class MappedAreas {
  #starts: number[] = [];
  #ends: number[] = [];

  /**
   * Rebuilds a list from {@link MappedAreas.toFlat} output, checking that it is one: a Float64Array
   * of [start, end) pairs of integer pages, ascending and disjoint, within [0, pageLimit].
   * @param field - the descriptor field named in errors (`areas`, `writableAreas`)
   * @throws IovaBitmapError `EINVAL` naming the first pair that does not fit.
   */
  static fromFlat(where: string, flat: unknown, pageLimit: number, field = 'areas'): MappedAreas {
    if (typedArrayTag(flat) !== 'Float64Array' || (flat as Float64Array).length % 2 !== 0) {
      throw IovaBitmapError.bad('EINVAL', where, `descriptor.${field}`, flat, 'must be a Float64Array of [start, end) page pairs');
    }
    const f = flat as Float64Array;
    for (let i = 0; i < f.length; i += 2) {
      const s = f[i]!;
      const e = f[i + 1]!;
      if (!Number.isInteger(s) || !Number.isInteger(e) || s < (i === 0 ? 0 : f[i - 1]!) || e <= s || e > pageLimit) {
        throw IovaBitmapError.bad('EINVAL', where, `descriptor.${field}[${i}]`, [s, e], `must be ascending, disjoint [start, end) pages within [0, ${pageLimit}]`);
      }
    }
    return MappedAreas.#of(f);
  }

  static #of(flat: Float64Array): MappedAreas {
    const a = new MappedAreas();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      a.#starts.push(flat[i]!);
      a.#ends.push(flat[i + 1]!);
    }
    return a;
  }

  /** The runs as [start0, end0, start1, end1, ...] (a copy; structured-cloneable). */
  toFlat(): Float64Array {
    const out = new Float64Array(this.#starts.length * 2);
    for (let i = 0; i < this.#starts.length; i++) {
      out[2 * i] = this.#starts[i]!;
      out[2 * i + 1] = this.#ends[i]!;
    }
    return out;
  }

  /** Number of runs. */
  get size(): number {
    return this.#starts.length;
  }

  /** Index of the last run whose start is <= p, or -1. */
  #last(p: number): number {
    return lastAtOrBefore(this.#starts, p);
  }

  /** True when any page of [s, e) is mapped. */
  overlaps(s: number, e: number): boolean {
    const i = this.#last(e - 1);
    return i >= 0 && this.#ends[i]! > s;
  }

  /** The first unmapped page in [s, e), or -1 when [s, e) is wholly mapped. */
  firstHole(s: number, e: number): number {
    const i = this.#last(s);
    if (i < 0 || this.#ends[i]! <= s) return s;
    return this.#ends[i]! >= e ? -1 : this.#ends[i]!;
  }

  /** Adds [s, e), which must not overlap a run; merges with adjacent runs. */
  add(s: number, e: number): void {
    const i = this.#last(s); // run before (or -1)
    const joinLeft = i >= 0 && this.#ends[i] === s;
    const joinRight = i + 1 < this.#starts.length && this.#starts[i + 1] === e;
    if (joinLeft && joinRight) {
      this.#ends[i] = this.#ends[i + 1]!;
      this.#starts.splice(i + 1, 1);
      this.#ends.splice(i + 1, 1);
    } else if (joinLeft) {
      this.#ends[i] = e;
    } else if (joinRight) {
      this.#starts[i + 1] = s;
    } else {
      this.#starts.splice(i + 1, 0, s);
      this.#ends.splice(i + 1, 0, e);
    }
  }

  /** Removes [s, e) from the runs (parts that are not mapped are ignored). */
  remove(s: number, e: number): void {
    let i = this.#last(s);
    if (i < 0 || this.#ends[i]! <= s) i++;
    const keepStarts: number[] = [];
    const keepEnds: number[] = [];
    let j = i;
    for (; j < this.#starts.length && this.#starts[j]! < e; j++) {
      if (this.#starts[j]! < s) {
        keepStarts.push(this.#starts[j]!);
        keepEnds.push(s);
      }
      if (this.#ends[j]! > e) {
        keepStarts.push(e);
        keepEnds.push(this.#ends[j]!);
      }
    }
    this.#starts.splice(i, j - i, ...keepStarts);
    this.#ends.splice(i, j - i, ...keepEnds);
  }
}
