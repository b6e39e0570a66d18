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
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard, uncovered: res.uncovered }).toEqual({ round: r, lost: 0, extra: 0, guard: 0, uncovered: 0 });
    }
  }, stressTimeout(240_000));

  it('detects lost summary marks on a bitmap whose marks are plain read-modify-writes, and none on the real one', async () => {
    const { seed } = stressSeed('negative-control/marks');
    // Whole 64-byte blocks (512 bits at 4 KiB pages), each set once by one worker, strided over
    // the workers: every summary word (32 blocks) is marked by all of them, and a lost mark stays
    // lost unless the neighbouring unit, which may share a block at these unaligned offsets, marks it again.
    const options = { kind: 'stride', bits: 1 << 20, unit: 512 } as const;
    let roundsUsed = 0;
    let uncovered = 0;
    while (roundsUsed < MAX_ROUNDS && uncovered === 0) {
      const res = await crew.round({ ...options, mode: 'racy-marks', seed: subSeed(seed, roundsUsed) });
      roundsUsed++;
      uncovered += res.uncovered;
      expect({ lost: res.lost, extra: res.extra }).toEqual({ lost: 0, extra: 0 }); // its data words are atomic
    }
    console.log(`[stress] negative-control/marks: racy marks left ${uncovered} bits uncovered in ${roundsUsed} round(s)`);
    expect(uncovered, `the harness saw no lost mark in ${MAX_ROUNDS} rounds of racy marks: it has no teeth`).toBeGreaterThan(0);
    for (let r = 0; r < Math.max(roundsUsed, 10); r++) {
      const res = await crew.round({ ...options, mode: 'atomic', seed: subSeed(seed, r) });
      expect({ round: r, lost: res.lost, extra: res.extra, guard: res.guard, uncovered: res.uncovered }).toEqual({ round: r, lost: 0, extra: 0, guard: 0, uncovered: 0 });
    }
  }, stressTimeout(240_000));
});
