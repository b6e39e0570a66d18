/**
 * Negative control: the suite must be able to fail. The set-race harness is run on a bitmap whose
 * bit setting is a plain, non-atomic read-modify-write (./helpers/racyBitmap.ts); it must report
 * lost bits. Its positive twin, the same harness with the same seeds and at least as many rounds
 * (10 or more) on the real IovaBitmap, must report none.
 *
 * Robust on 2 shared cores: a lost update needs two workers inside the same word's read-write
 * window at the same time, which the scheduler may not grant in every round, so the control runs
 * rounds until it sees a loss, up to a bound; the racy twin widens its window with a busy loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SetterCrew } from './helpers/setterCrew.js';
import { stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';

const MAX_ROUNDS = 40;

describe('negative control: the set-race harness has teeth', () => {
  let crew: SetterCrew;
  beforeAll(() => {
    crew = SetterCrew.create(4);
  });
  afterAll(async () => {
    await crew.close();
  });

  it('detects lost bits on a non-atomic read-modify-write bitmap, and none on the real one', async () => {
    const { seed } = stressSeed('negative-control');
    let roundsUsed = 0;
    let lost = 0;
    let sample: readonly string[] = [];
    while (roundsUsed < MAX_ROUNDS && lost === 0) {
      const res = await crew.round({ mode: 'racy', kind: 'stride', seed: subSeed(seed, roundsUsed), bits: 16384 });
      roundsUsed++;
      lost += res.lost;
      sample = res.lostSample;
      expect(res.extra).toBe(0); // the racy twin loses bits; it never invents them
    }
    console.log(`[stress] negative-control: racy bitmap lost ${lost} bits in ${roundsUsed} round(s), e.g. bits ${sample.join(', ')}`);
    expect(lost, `the harness saw no lost update in ${MAX_ROUNDS} rounds of a racy bitmap: it has no teeth`).toBeGreaterThan(0);

    const twinRounds = Math.max(roundsUsed, 10);
    for (let r = 0; r < twinRounds; r++) {
      const res = await crew.round({ mode: 'atomic', kind: 'stride', seed: subSeed(seed, r), bits: 16384 });
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard }).toEqual({ round: r, lost: 0, extra: 0, guard: 0 });
    }
  }, stressTimeout(240_000));
});
