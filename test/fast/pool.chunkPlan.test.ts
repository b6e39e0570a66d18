/**
 * The chunk plan of a parallel report (packages/workers/src/pool/ChunkPlan.ts), in-process: how
 * the windows are cut into chunks, the default and the work-profile chunk sizes, the chunk limit.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { computeWindows } from '@iovabitmap/core/internal';
import { ChunkPlan, chunkBitsFor, defaultChunkBits } from '@iovabitmap/workers/internal';

describe('ChunkPlan', () => {
  const geometry = fc.record({
    nbits: fc.integer({ min: 1, max: 3000 }),
    byteOffset: fc.integer({ min: 0, max: 9000 }),
    windowPages: fc.integer({ min: 1, max: 3 }),
    chunkWords: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
  });

  it('cuts the windows into maximal pieces whose inner edges are multiples of chunkBits (hence of 32 bits) of the buffer', () => {
    fc.assert(
      fc.property(geometry, ({ nbits, byteOffset, windowPages, chunkWords }) => {
        // Windows of 1..3 pinned pages (32768+ bits) and an unaligned byteOffset: several windows,
        // a partial first one, window edges that are not multiples of chunkBits; one piece size per source.
        const windows = computeWindows({ iova: 0n, pageSize: 4096n, nbits: nbits * 20, byteOffset, windowPages });
        const sizes = chunkWords.map((w) => w * 32);
        const bitBase = byteOffset * 8;
        const plan = new ChunkPlan(windows, bitBase, sizes);
        expect(plan.sources).toBe(sizes.length);
        expect(plan.chunks).toBe(plan.pieces.reduce((a, b) => a + b, 0));
        let c = 0; // source-major numbering: source s's pieces follow source s-1's
        const bad: string[] = [];
        sizes.forEach((C, s) => {
          let next = 0;
          let w = 0;
          for (let p = 0; p < plan.pieces[s]! && bad.length === 0; p++, c++) {
            const at = plan.locate(c);
            while (windows[w]!.firstBit + windows[w]!.bitCount <= at.firstBit) w++;
            const win = windows[w]!;
            const winEnd = win.firstBit + win.bitCount;
            const a = bitBase + at.firstBit;
            const e = a + at.bitCount;
            if (at.source !== s || at.piece !== p) bad.push(`chunk ${c}: source ${at.source} piece ${at.piece}, expected ${s} ${p}`);
            if (at.firstBit !== next) bad.push(`chunk ${c} starts at ${at.firstBit}, expected ${next}`);
            if (!(at.bitCount > 0 && at.bitCount <= C)) bad.push(`chunk ${c} has ${at.bitCount} bits`);
            if (at.firstBit + at.bitCount > winEnd) bad.push(`chunk ${c} crosses the end of window ${w}`);
            // Maximal: each edge is a window edge or a grid point, and no grid point lies inside.
            if (!(at.firstBit === win.firstBit || a % C === 0)) bad.push(`chunk ${c} starts off the grid`);
            if (!(at.firstBit + at.bitCount === winEnd || e % C === 0)) bad.push(`chunk ${c} ends off the grid`);
            if (Math.floor((e - 1) / C) !== Math.floor(a / C)) bad.push(`chunk ${c} holds a grid point`);
            next = at.firstBit + at.bitCount;
          }
          if (bad.length === 0 && next !== nbits * 20) bad.push(`source ${s} tiles [0, ${next}), expected [0, ${nbits * 20})`);
        });
        expect(bad).toEqual([]);
        expect(c).toBe(plan.chunks);
      }),
      { numRuns: 200 },
    );
  });

  it('defaults to 256 MiB of IOVA per chunk: 2^16 bits at 4 KiB, never below 32 bits', () => {
    expect(defaultChunkBits(12)).toBe(65536);
    expect(defaultChunkBits(11)).toBe(131072);
    expect(defaultChunkBits(21)).toBe(128);
    expect(defaultChunkBits(24)).toBe(32);
    expect(defaultChunkBits(63)).toBe(32);
  });

  it('refuses a plan of more than 2^30 chunks with E2BIG', () => {
    const windows = computeWindows({ iova: 0n, pageSize: 1n, nbits: 2 ** 36, byteOffset: 0, windowPages: 1 << 20 });
    expect(() => new ChunkPlan(windows, 0, [32, 32])).toThrow(expect.objectContaining({ code: 'E2BIG' }));
  });
});

describe('chunkBitsFor (chunk size from a source\'s work profile)', () => {
  const chunksOf = (bits: number, nbits: number) => Math.ceil(nbits / bits);

  it('falls back to 256 MiB of IOVA per chunk without a profile', () => {
    expect(chunkBitsFor(undefined, 2 ** 24, 12, 2)).toBe(defaultChunkBits(12));
  });

  it('gives 32 chunks per thread to a uniform 4 KiB-leaf walk: 64 GiB on 2 threads = 64 chunks of 2^18 entries', () => {
    const bits = chunkBitsFor({ entries: 2 ** 24, peakEntriesPerPage: 1 }, 2 ** 24, 12, 2);
    expect(chunksOf(bits, 2 ** 24)).toBe(64);
  });

  it('keeps at least 2^16 entries per chunk: 1 TiB of 2 MiB leaves (2^19 entries) gives 8 chunks, not 4096', () => {
    const bits = chunkBitsFor({ entries: 2 ** 19, peakEntriesPerPage: 1 / 512 }, 2 ** 28, 12, 2);
    expect(chunksOf(bits, 2 ** 28)).toBe(8);
  });

  it('cuts 16 TiB of 1 GiB leaves into a couple of chunks, not 65,536', () => {
    const bits = chunkBitsFor({ entries: 2 ** 14, peakEntriesPerPage: 2 ** -18 }, 2 ** 32, 12, 2);
    expect(bits).toBe(2 ** 31);
    expect(chunksOf(bits, 2 ** 32)).toBe(2);
  });

  it('caps a chunk at 2^20 entries where the range is densest (4 KiB leaves inside a mostly 2 MiB guest)', () => {
    const bits = chunkBitsFor({ entries: 2 ** 24 + 2 ** 19, peakEntriesPerPage: 1 }, 2 ** 28, 12, 2);
    expect(bits).toBe(2 ** 20);
  });

  it('scales with the bitmap page size and rounds to whole 32-bit words', () => {
    // 2 KiB bitmap pages: two bits per 4 KiB entry, so the peak cap is 2^21 bits.
    expect(chunkBitsFor({ entries: 2 ** 30, peakEntriesPerPage: 1 }, 2 ** 31, 11, 16)).toBe(2 ** 21);
    const odd = chunkBitsFor({ entries: 3_000_000, peakEntriesPerPage: 1 }, 3_000_000, 12, 3);
    expect(odd % 32).toBe(0);
  });

  it('makes one chunk of a range with nothing to read', () => {
    expect(chunkBitsFor({ entries: 0, peakEntriesPerPage: 0 }, 2 ** 20, 12, 2)).toBe(2 ** 20);
  });
});
