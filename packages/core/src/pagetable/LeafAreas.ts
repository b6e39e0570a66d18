/**
 * LeafAreas: the owner's list of mapped runs *by entry size*, for work estimates.
 *
 * Theory of operation
 * -------------------
 * ./MappedAreas.ts answers "is it mapped" and merges neighbouring runs whatever their leaf size.
 * The parallel engine also wants "how much does a walk of this range read, and where is it
 * densest" (to cut chunks that are neither tiny nor long). That depends on the size of the
 * *entries* a walk reads: one per 4 KiB page under 4 KiB leaves (and under amd-v1's replicated
 * level-1 pages), one per 2 MiB at level 2, one per 1 GiB at level 3. So this list keeps sorted,
 * disjoint runs [start, end) of 4 KiB pages, each with the pages one leaf-level entry spans;
 * neighbouring runs are merged only when that span is equal. Owner-side only (like MappedAreas'
 * updates): map and unmap keep it; views built from a shared descriptor have none and report no
 * profile.
 */

import type { WorkProfile } from '../DirtySource.js';
import { lastAtOrBefore } from '../sortedRuns.js';

/** Sorted, disjoint runs of mapped pages with the pages one leaf-level entry spans. */
export class LeafAreas {
  #starts: number[] = [];
  #ends: number[] = [];
  #span: number[] = [];

  /** Index of the last run whose start is <= p, or -1. */
  #last(p: number): number {
    return lastAtOrBefore(this.#starts, p);
  }

  /** Adds pages [s, e) mapped with entries of `span` pages; [s, e) must not overlap a run. */
  add(s: number, e: number, span: number): void {
    const i = this.#last(s);
    if (i >= 0 && this.#ends[i] === s && this.#span[i] === span) {
      this.#ends[i] = e;
      if (i + 1 < this.#starts.length && this.#starts[i + 1] === e && this.#span[i + 1] === span) {
        this.#ends[i] = this.#ends[i + 1]!;
        this.#remove(i + 1);
      }
      return;
    }
    if (i + 1 < this.#starts.length && this.#starts[i + 1] === e && this.#span[i + 1] === span) {
      this.#starts[i + 1] = s;
      return;
    }
    this.#starts.splice(i + 1, 0, s);
    this.#ends.splice(i + 1, 0, e);
    this.#span.splice(i + 1, 0, span);
  }

  #remove(i: number): void {
    this.#starts.splice(i, 1);
    this.#ends.splice(i, 1);
    this.#span.splice(i, 1);
  }

  /** Removes pages [s, e) (unmapped parts ignored), splitting runs that stick out. */
  remove(s: number, e: number): void {
    let i = Math.max(0, this.#last(s));
    while (i < this.#starts.length && this.#starts[i]! < e) {
      const a = this.#starts[i]!;
      const b = this.#ends[i]!;
      if (b <= s) {
        i++;
        continue;
      }
      const span = this.#span[i]!;
      this.#remove(i);
      if (b > e) this.#starts.splice(i, 0, e), this.#ends.splice(i, 0, b), this.#span.splice(i, 0, span);
      if (a < s) this.#starts.splice(i, 0, a), this.#ends.splice(i, 0, s), this.#span.splice(i, 0, span), i++;
    }
  }

  /**
   * Leaf-level entries a walk of pages [s, e) reads (upper levels, a few per GiB, not counted), and
   * the peak entries per page: 1 under 4 KiB leaves, 1/512 under 2 MiB ones, 0 when nothing is mapped.
   */
  profile(s: number, e: number): WorkProfile {
    let entries = 0;
    let peak = 0;
    for (let i = Math.max(0, this.#last(s)); i < this.#starts.length && this.#starts[i]! < e; i++) {
      const a = Math.max(s, this.#starts[i]!);
      const b = Math.min(e, this.#ends[i]!);
      if (b <= a) continue;
      const span = this.#span[i]!;
      entries += Math.ceil((b - a) / span);
      if (1 / span > peak) peak = 1 / span;
    }
    return { entries, peakEntriesPerPage: peak };
  }
}
