/**
 * Abort and worker kill mid-report while the device writes: nothing is lost across the following
 * reports. The pool's contract (ReportPool.report): after ECANCELED or EIO, every page whose dirty
 * state was cleared is in the bitmap, so a caller that keeps the bitmap and reports again loses
 * nothing. Here every report — completed, aborted (before it starts, or after a random delay) or
 * faulted (a worker exits or throws after a random number of chunks) — is ORed into a union; after
 * the device is stopped and one clean final report is taken, the union must hold every page the
 * device wrote and nothing outside the widened ground truth.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, IovaBitmapError, PTE_FORMATS } from '@iovabitmap/core';
import { verifyMigration } from '@iovabitmap/workers';
import { createRng } from '@iovabitmap/workers/internal';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';
import { makeWorld } from './helpers/world.js';
import { drainedStatus, usePoolAndDevice } from '../helpers/poolAndDevice.js';

type Action = 'complete' | 'abort-before' | 'abort-during' | 'exit' | 'throw';

describe('abort and worker kill mid-report while the device writes', () => {
  const h = usePoolAndDevice();

  it('loses no dirty page across aborted and faulted reports', async () => {
    const { seed } = stressSeed('abort-kill');
    const worlds = scaled(24);
    const counts: Record<string, number> = { complete: 0, ECANCELED: 0, EIO: 0, finishedAnyway: 0, partial: 0 };
    for (let wi = 0; wi < worlds; wi++) {
      const rng = createRng(subSeed(seed, wi));
      const w = makeWorld(rng, { format: PTE_FORMATS[wi % PTE_FORMATS.length]! });
      const pageSize = [4096n, 4096n, 16384n][rng.int(3)]!;
      const union = new IovaBitmap({ iova: w.iova, length: w.length, pageSize, buffer: new ArrayBuffer(IovaBitmap.bytesFor(w.length, pageSize)) });
      const unionBytes = new Uint8Array(union.buffer);
      const keep = (bm: IovaBitmap): void => {
        const b = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
        for (let i = 0; i < b.length; i++) unionBytes[i]! |= b[i]!;
      };
      await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
      await h.device.start({ pattern: (['uniform', 'hotset', 'burst', 'sequential'] as const)[wi % 4]!, rate: 'max', seed: subSeed(seed, 100 + wi) });
      const chunkBits = 32 * (8 + rng.int(32));
      const actions: Action[] = ['complete', 'abort-before', 'abort-during', 'abort-during', 'abort-during', 'throw', 'exit', 'complete'];
      const reports = 14;
      let exits = 0;
      for (let r = 0; r < reports; r++) {
        let action = actions[rng.int(actions.length)]!;
        if (action === 'exit' && exits >= 2) action = 'throw'; // a replacement worker costs ~0.5 s to start
        if (action === 'exit') exits++;
        const bitmap = new IovaBitmap({ iova: w.iova, length: w.length, pageSize });
        const ac = new AbortController();
        if (action === 'abort-before') ac.abort();
        if (action === 'abort-during') setTimeout(() => ac.abort(), rng.int(6));
        const chunks = Math.ceil(bitmap.nbits / chunkBits) * 2;
        const p = h.pool.report({
          bitmap,
          sources: w.sources,
          chunkBits,
          signal: ac.signal,
          ...(action === 'exit' || action === 'throw' ? { faultInjection: { afterChunks: rng.int(chunks), mode: action } } : {}),
        });
        try {
          await p;
          counts[action === 'complete' ? 'complete' : 'finishedAnyway']!++;
        } catch (e) {
          const code = IovaBitmapError.is(e) ? (e as IovaBitmapError).code : String(e);
          expect({ action, code }).toEqual({ action, code: action.startsWith('abort') ? 'ECANCELED' : 'EIO' });
          counts[code]!++;
          if (bitmap.count() > 0) counts.partial!++; // it had recorded (and cleared) pages before it stopped
        }
        keep(bitmap); // the caller keeps whatever a failed report recorded
      }
      await h.device.stop();
      const final = new IovaBitmap({ iova: w.iova, length: w.length, pageSize });
      await h.pool.report({ bitmap: final, sources: w.sources, chunkBits });
      keep(final);
      const v = verifyMigration({ groundTruth: w.gt, reported: union, units: w.units });
      const tag = `world ${wi}: ${w.summary}, bitmap ${pageSize / 1024n}K, chunk ${chunkBits} bits`;
      expect({ tag, ok: v.ok, missing: v.missing, unexpected: v.unexpected }).toEqual({ tag, ok: true, missing: 0, unexpected: 0 });
      expect(v.groundTruthBits).toBeGreaterThan(0);
      w.vf.stop();
    }
    console.log(`[stress] abort-kill: ${JSON.stringify(counts)}`);
    expect(counts.ECANCELED! + counts.EIO!).toBeGreaterThan(worlds); // the interruptions did happen
    expect(counts.partial).toBeGreaterThan(0); // and some of them mid-report, with pages already cleared
    expect(await drainedStatus(h.pool)).toMatchObject({ activeReports: 0, queuedTasks: 0, closed: false });
  }, stressTimeout(480_000));
});
