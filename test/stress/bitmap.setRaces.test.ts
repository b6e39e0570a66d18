/**
 * Many workers setting overlapping ranges on shared 32-bit words: no bit is lost, none is set
 * outside what was asked, and nothing outside the bitmaps changes (guard bytes and the unused bits
 * of each last byte). Two bitmaps share a word at their boundary and sit at unaligned offsets.
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
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard }).toEqual({ round: r, lost: 0, extra: 0, guard: 0 });
    }
    console.log(`[stress] set-races/ranges: ${rounds} rounds, ${ops} operations, no loss`);
  }, stressTimeout(240_000));

  it('keeps every bit when every worker writes every word, each bit once (stride)', async () => {
    const { seed } = stressSeed('set-races/stride');
    const rounds = scaled(60);
    for (let r = 0; r < rounds; r++) {
      const res = await crew.round({ mode: 'atomic', kind: 'stride', seed: subSeed(seed, r), bits: 16384 });
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard }).toEqual({ round: r, lost: 0, extra: 0, guard: 0 });
    }
  }, stressTimeout(240_000));
});
