/**
 * The interim main job (issue 2): reports a synthetic dirty set over 1 TiB of IOVA into an
 * IovaBitmap and prints the kernel-shaped windows and per-window counts. Replaced by the
 * `migrate` command once the engine and the device simulator exist.
 */
import { IovaBitmap } from '@iovabitmap/core';

const GiB = 1n << 30n;
const TiB = 1n << 40n;
const iova = 4n * GiB; // the kernel comment's example starts at 4G
const bitmap = new IovaBitmap({ iova, length: TiB, pageSize: 4096 });

// A deterministic synthetic dirty set: a 2 MiB burst every 3 GiB, single 4 KiB pages on a
// pseudo-random stride, and one 1 GiB huge page that straddles the first 64 GiB window edge.
let x = 0x9e3779b9;
for (let off = 0n; off < TiB; off += 3n * GiB) bitmap.set(iova + off, 2n << 20n);
for (let i = 0; i < 100_000; i++) {
  x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  bitmap.setUnits(Number(iova >> 12n) + (x % (Number(TiB >> 12n))), 1, 12);
}
bitmap.set(iova + 64n * GiB - GiB / 2n, GiB);

console.log(`IovaBitmap: ${bitmap.length / GiB} GiB of IOVA from 0x${iova.toString(16)}, ` +
  `${bitmap.pageSize} B pages -> ${bitmap.nbits} bits, ${bitmap.byteLength / 2 ** 20} MiB of bitmap`);
console.log('window  iova range (GiB)        bits       bytes      dirty');
for (const w of bitmap.windows()) {
  const dirty = bitmap.countBits(w.firstBit, w.bitCount);
  console.log(
    `${String(w.index).padStart(6)}  ${String(w.iova / GiB).padStart(5)} .. ${String((w.iova + w.length) / GiB).padEnd(10)}` +
      `${String(w.bitCount).padStart(10)} ${String(w.byteLength).padStart(10)} ${String(dirty).padStart(10)}`,
  );
}
let runs = 0;
for (const _ of bitmap.dirtyRanges()) runs++;
console.log(`total dirty pages: ${bitmap.count()} in ${runs} runs`);
