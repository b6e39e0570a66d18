/**
 * Many workers setting overlapping ranges on shared 32-bit words: no bit is lost, none is set
 * outside what was asked, nothing outside the bitmaps changes (guard bytes and the unused bits
 * of each last byte), and no mark of the summary is lost (every set bit lies in a marked block).
 * Two bitmaps share a word at their boundary and sit at unaligned offsets. The last case sets
 * ranges long enough that the summary's whole words are marked in pairs (64-bit RMWs) while other
 * workers mark the same words 32 bits at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SetterCrew } from './helpers/setterCrew.js';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';

describe('IovaBitmap set races across workers', () => {
  let crew: SetterCrew;
  beforeAll(() => {
    crew = SetterCrew.create(4);
  });
  afterAll(async () => {
    await crew.close();
  });

  it('keeps every bit of overlapping random ranges set concurrently by 4 workers', async () => {
    const { seed } = stressSeed('set-races/ranges');
    const rounds = scaled(60);
    let ops = 0;
    for (let r = 0; r < rounds; r++) {
      const res = await crew.round({ mode: 'atomic', kind: 'ranges', seed: subSeed(seed, r), ops: 3000, maxBits: r % 2 === 0 ? 40 : 700 });
      ops += res.ops;
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard, uncovered: res.uncovered }).toEqual({ round: r, lost: 0, extra: 0, guard: 0, uncovered: 0 });
    }
    console.log(`[stress] set-races/ranges: ${rounds} rounds, ${ops} operations, no loss`);
  }, stressTimeout(240_000));

  it('keeps every bit when every worker writes every word, each bit once (stride)', async () => {
    const { seed } = stressSeed('set-races/stride');
    const rounds = scaled(60);
    for (let r = 0; r < rounds; r++) {
      const res = await crew.round({ mode: 'atomic', kind: 'stride', seed: subSeed(seed, r), bits: 16384 });
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard, uncovered: res.uncovered }).toEqual({ round: r, lost: 0, extra: 0, guard: 0, uncovered: 0 });
    }
  }, stressTimeout(240_000));

  it('keeps every summary mark when long ranges (marked in 64-bit pairs) race with short ones', async () => {
    const { seed } = stressSeed('set-races/long-ranges');
    const rounds = scaled(20);
    for (let r = 0; r < rounds; r++) {
      // ~2^18 bits per bitmap: 16 to 48 summary words; ranges up to 2^16 bits: up to 4 of them.
      const res = await crew.round({ mode: 'atomic', kind: 'ranges', seed: subSeed(seed, r), ops: 400, maxBits: r % 2 === 0 ? 1 << 16 : 1 << 12, bits: 1 << 18 });
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard, uncovered: res.uncovered }).toEqual({ round: r, lost: 0, extra: 0, guard: 0, uncovered: 0 });
    }
  }, stressTimeout(240_000));
});
