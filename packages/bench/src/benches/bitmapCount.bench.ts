/**
 * Benchmark of IovaBitmap.count() (the popcount both reporters run before and after a report for
 * `bitsSet`) over a 1 TiB bitmap at 4 KiB pages (2^28 bits = 8 Mi words), at 0 / 1 / 50 / 100%
 * of bits set. Median ms per count and ns per 32-bit word (tinybench).
 *
 *   node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source packages/bench/src/benches/bitmapCount.bench.ts
 */
import { Bench } from 'tinybench';
import { IovaBitmap } from '@iovabitmap/core';
import { PAGE_SIZE, PAGE_SIZE_BIG } from '@iovabitmap/core/internal';
import { createRng } from '@iovabitmap/workers/internal';

const NBITS = 2 ** 28;
const WORDS = NBITS / 32;
console.log(`IovaBitmap.count(): 1 TiB at 4 KiB pages = ${NBITS} bits (${WORDS} words); tinybench 800 ms per density; median`);
for (const density of [0, 0.01, 0.5, 1]) {
  const b = new IovaBitmap({ iova: 0n, length: BigInt(NBITS) * PAGE_SIZE_BIG, pageSize: PAGE_SIZE });
  if (density === 1) b.setBits(0, NBITS);
  else if (density > 0) {
    const r = createRng(7);
    for (let i = 0; i < NBITS * density; i++) b.setBits(r.int(NBITS), 1);
  }
  const expected = b.count();
  const bench = new Bench({ time: 800 });
  bench.add('count', () => {
    if (b.count() !== expected) throw new Error('count changed');
  });
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`benchmark ${r.state}`);
  const ms = r.latency.p50;
  console.log(`${String(density * 100).padStart(4)}%  ${String(expected).padStart(10)} bits set  ${ms.toFixed(2).padStart(7)} ms  ${((ms * 1e6) / WORDS).toFixed(2)} ns/word  ±${r.latency.rme.toFixed(1)}%`);
}
