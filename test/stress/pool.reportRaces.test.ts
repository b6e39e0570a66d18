/**
 * Reports racing with device writes on both sources, every PTE format: full migrate() runs with
 * the real pool (small chunks, so chunk and window edges cut huge leaves), the device writing in
 * every pattern, random leaf mixes (4 KiB to 1 GiB, amd-v1 replicated sizes), random tracker page
 * sizes and bitmap page sizes; one run in eight (a narrow one) reports on the caller's thread
 * instead (a pool with a huge `inlineBelow`). Every round's bitmap is checked for invented pages as it completes
 * (sound while the device writes, thanks to the ground-truth-first rule) and the union for lost
 * ones after the quiesce.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PTE_FORMATS } from '@iovabitmap/core';
import { DEVICE_PATTERNS, ReportPool, migrate } from '@iovabitmap/workers';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';
import { makeWorld } from './helpers/world.js';
import { createRng } from '@iovabitmap/workers/internal';
import { untilDeviceWrites, usePoolAndDevice } from '../helpers/poolAndDevice.js';


describe('reports racing with device writes', () => {
  const h = usePoolAndDevice();
  let inline: ReportPool;
  beforeAll(() => {
    inline = new ReportPool({ threads: 1, warmUp: false, inlineBelow: Number.MAX_SAFE_INTEGER });
  });
  afterAll(() => inline.close());

  it('finds every written page and invents none, for every format, pattern and geometry', async () => {
    const { seed } = stressSeed('report-races');
    const runs = scaled(480);
    let pages = 0;
    for (let i = 0; i < runs; i++) {
      const rng = createRng(subSeed(seed, i));
      const format = PTE_FORMATS[i % PTE_FORMATS.length]!;
      const pattern = DEVICE_PATTERNS[Math.floor(i / PTE_FORMATS.length) % DEVICE_PATTERNS.length]!;
      // Every fourth run is wide: 128 GiB in 16 GiB pieces of 2 MiB..1 GiB leaves, so the bitmap's
      // 64 GiB window edge (at 4 KiB bitmap pages) falls inside huge leaves (kernel 2780025e01e2).
      const wide = i % 4 === 3;
      const w = wide
        ? makeWorld(rng, { format, length: 128n << 30n, pieces: 8, smallLeaves: false, levels: rng.int(2) === 0 ? 4 : 5 })
        : makeWorld(rng, { format, levels: rng.int(4) === 0 ? 5 : 4 });
      const bitmapPageSize = wide ? 4096n : [4096n, 4096n, 64n * 1024n, 2n ** 21n][rng.int(4)]!;
      // Many chunks, with edges inside leaves: 32..2048 bits, or 2^14..2^16 for the wide worlds.
      const chunkBits = wide ? 2 ** (14 + rng.int(3)) : 32 * (1 + rng.int(64));
      // Full speed writes millions of scattered pages into a wide world; its checks then dominate.
      const rate = wide ? 200_000 : (['max', 400_000, 100_000] as const)[rng.int(3)]!;
      await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
      await h.device.start({ pattern, rate, seed: subSeed(seed, 1000 + i), batchPages: 1 + rng.int(512) });
      // A small world's migration on the caller's thread can be over before the device's first
      // batch (the groundTruthBits check below still catches a device that never writes).
      await untilDeviceWrites(h.device);
      const r = await migrate({
        bitmapPageSize,
        rounds: 2 + rng.int(4),
        sources: w.sources,
        device: h.device,
        pool: i % 8 === 1 ? inline : h.pool,
        units: w.units,
        chunkBits,
        verifyEachRound: true,
        roundIntervalMs: rng.int(3),
      });
      const tag = `run ${i}${i % 8 === 1 ? ' (inline)' : ''}: ${w.summary}, ${pattern} at ${rate || 'full'} pages/s, bitmap ${bitmapPageSize / 1024n}K, chunk ${chunkBits} bits`;
      expect({ tag, ok: r.verification.ok, missing: r.verification.missing, unexpected: r.verification.unexpected }).toEqual({ tag, ok: true, missing: 0, unexpected: 0 });
      expect({ tag, perRound: r.rounds.map((x) => x.unexpected) }).toEqual({ tag, perRound: r.rounds.map(() => 0) });
      expect({ tag, unmarked: r.device.unmarkedPages }).toEqual({ tag, unmarked: { iommu: 0, vf0: 0 } });
      expect(r.verification.groundTruthBits).toBeGreaterThan(0);
      pages += r.device.pages;
      w.vf.stop();
    }
    console.log(`[stress] report-races: ${runs} migrations, ${pages} device pages written, all verified`);
  }, stressTimeout(480_000));
});
