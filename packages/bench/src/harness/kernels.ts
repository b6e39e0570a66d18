/**
 * The two hot loops of the benchmark's reference implementations.
 *
 * Theory of operation
 * -------------------
 * - {@link orReduceLowWords} is the *memory-read limit*: it reads the low 32-bit half of every
 *   64-bit entry of a page-table (or tracker) memory and OR-reduces them, touching every cache line
 *   once and doing nothing else. No walk that must look at every leaf can be faster on one
 *   thread. Shape: the loop is unrolled ×8 into two accumulators, because V8 neither unrolls nor
 *   vectorises, and this shape was the fastest JS read measured (docs/bench/limits.md §1).
 *   Only bitwise operations on Uint32 loads, which keeps V8 in int32 code (an arithmetic `+` on
 *   uint32 sometimes fell to float64: docs/bench/limits.md §7).
 * - {@link orReduceWords} is the same read over every word of a bitmap: "one plain pass" over its
 *   memory, the yardstick of the summary benchmark (../benches/summary.bench.ts).
 * - {@link fillBitRuns} writes 0xff over the bytes of a set of bit runs with `Uint8Array.fill`:
 *   what writing a dirty set alone costs (the `dirty-fill` yardstick of the `scale` group), with
 *   no walk, no atomics and no bookkeeping.
 * - {@link setBitsOneByOne} is the writer of rust-vmm's `AtomicBitmap`: one atomic OR per page,
 *   whatever the run length: several times the cost of one atomic per word at high density, and
 *   about 30 times for a 2 MiB page (figures: docs/bench/limits.md §3, §4); this is the cost the
 *   engine's word-at-a-time writes avoid, and it is measured here on purpose.
 */

/**
 * OR of the low halves of 64-bit entries `[0, entries)` of `u32` (entry i = u32[2i], u32[2i+1]).
 * @param u32 - a little-endian view of the entries
 * @param entries - number of 64-bit entries to read (clipped to the view)
 * @returns the OR, so the read cannot be optimised away
 */
export function orReduceLowWords(u32: Uint32Array, entries: number): number {
  const end = Math.min(entries, u32.length >>> 1) << 1;
  const unrolledEnd = end - (end % 16);
  let a = 0;
  let b = 0;
  let k = 0;
  for (; k < unrolledEnd; k += 16) {
    a |= u32[k]! | u32[k + 4]! | u32[k + 8]! | u32[k + 12]!;
    b |= u32[k + 2]! | u32[k + 6]! | u32[k + 10]! | u32[k + 14]!;
  }
  for (; k < end; k += 2) a |= u32[k]!;
  return a | b;
}

/**
 * OR of every word of `words`, unrolled ×8 into two accumulators like {@link orReduceLowWords}.
 * @returns the OR, so the read cannot be optimised away
 */
export function orReduceWords(words: Int32Array): number {
  const end = words.length;
  const unrolledEnd = end - (end % 8);
  let a = 0;
  let b = 0;
  let k = 0;
  for (; k < unrolledEnd; k += 8) {
    a |= words[k]! | words[k + 2]! | words[k + 4]! | words[k + 6]!;
    b |= words[k + 1]! | words[k + 3]! | words[k + 5]! | words[k + 7]!;
  }
  for (; k < end; k++) a |= words[k]!;
  return a | b;
}

/**
 * Fills with 0xff every byte of `bytes` that holds a bit of one of `runs` (`[first, end)` bit
 * pairs; bit p is in byte floor(p / 8)). The caller guarantees the bytes exist.
 * @returns the bytes written
 */
export function fillBitRuns(bytes: Uint8Array, runs: readonly number[]): number {
  let n = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) {
    // Math.floor, not >>> 3: a 2 GiB bitmap has 2^34 bits.
    const a = Math.floor(runs[i]! / 8);
    const b = Math.ceil(runs[i + 1]! / 8);
    bytes.fill(0xff, a, b);
    n += b - a;
  }
  return n;
}

/**
 * Sets absolute bits `[from, to)` of `words` one bit at a time, each with its own `Atomics.or`
 * (bit p is bit p % 32 of word floor(p / 32)). The caller guarantees the words exist.
 * @returns the number of bits written (to - from, or 0)
 */
export function setBitsOneByOne(words: Int32Array, from: number, to: number): number {
  // (p / 32) | 0, not p >>> 5: a 512 MiB bitmap has 2^32 bits, past what >>> keeps.
  for (let p = from; p < to; p++) Atomics.or(words, (p / 32) | 0, 1 << (p & 31));
  return to > from ? to - from : 0;
}
