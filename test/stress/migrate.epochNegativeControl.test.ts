/**
 * Negative control of the end-to-end (epoch) check: a deliberately wrong source must be caught.
 *
 * The wrong source wraps a real VF tracker (4 KiB pages). It reports a page the first time it
 * finds it dirty; when it finds a page dirty again that it has already reported once, it clears
 * the dirty state without recording it (the bug the union check cannot see: the page is in the
 * union from its first report, but the destination keeps the first copy). The reports run on the
 * main thread (a MigratePool over core's sequential reportDirty, since a pool worker rebuilds the
 * real tracker from its descriptor and would never run the wrapper), while the simulated device
 * writes a hot set at full speed in its worker; each pre-copy round first waits until the device has
 * written 512 more pages, so pages are written again after their first report. Over 100 seeded migrations the epoch check must flag every one (stale > 0), and the
 * union check alone (verifyMigration without epochs) must pass every one. The positive twin, the
 * same harness with the real tracker, must pass both.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, VfTracker, reportDirty, type DirtySource, type ReportChunk, type ReportOptions } from '@iovabitmap/core';
import { migrate, trackerUnitMap, type MigratePool, type PoolReportStats } from '@iovabitmap/workers';
import { usePoolAndDevice } from '../helpers/poolAndDevice.js';
import { MiB } from '../helpers/sizes.js';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';

const BASE = 1n << 32n;
const LEN = 4n * MiB;
/** Pages the device must write between two reports (see deviceWroteMore). */
const REWRITES = 512;
/** Pre-copy rounds per migration (then the final one, after the device stops). */
const ROUNDS = 3;

/** See the module comment: forgets, without recording, a page it already reported once. */
class ForgetfulTracker implements DirtySource {
  readonly name: string;
  readonly #real: VfTracker;
  readonly #scratch: IovaBitmap;
  readonly #reportedOnce: Uint8Array;

  constructor(real: VfTracker) {
    this.#real = real;
    this.name = real.name;
    this.#scratch = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
    this.#reportedOnce = new Uint8Array(this.#scratch.nbits);
  }

  checkReport(bitmap: IovaBitmap, iova: bigint, length: bigint, options?: ReportOptions): void {
    this.#real.checkReport(bitmap, iova, length, options);
  }

  reportChunk(bitmap: IovaBitmap, chunk: ReportChunk, options?: ReportOptions) {
    this.#scratch.clear();
    const stats = this.#real.reportChunk(this.#scratch, chunk, options); // reads and clears the real state
    for (const r of this.#scratch.dirtyRanges()) {
      const first = Number((r.iova - BASE) >> 12n);
      for (let p = first; p < first + Number(r.length >> 12n); p++) {
        if (this.#reportedOnce[p] === 1) continue; // the bug: cleared above, never recorded
        this.#reportedOnce[p] = 1;
        bitmap.setBits(p, 1);
      }
    }
    return stats;
  }

  share() {
    return this.#real.share();
  }
}

/** A MigratePool that reports on the main thread with core's reportDirty. */
const mainThreadPool: MigratePool = {
  report: async (o) => {
    const s = reportDirty({ bitmap: o.bitmap, sources: o.sources });
    return { sources: s.sources } as unknown as PoolReportStats;
  },
};

describe('negative control: the epoch check catches a re-dirtied page cleared without being recorded', () => {
  const h = usePoolAndDevice(1);

  /**
   * Waits until the device has written at least REWRITES more pages than `since` (a count of
   * `pagesWritten`) and returns the new count. A fixed sleep is not enough: on a loaded 2-core
   * host the device's worker can be starved for a whole migration, no reported page is written
   * again, and the forgetful source has nothing to forget (CI saw 99/100 once). With a Zipf hot
   * set over 1024 pages, 512 more writes re-write a page already reported almost surely.
   */
  async function deviceWroteMore(since: number): Promise<number> {
    const deadline = Date.now() + 10_000;
    while (h.device.pagesWritten - since < REWRITES) {
      if (Date.now() > deadline) throw new Error(`the device wrote ${h.device.pagesWritten - since} pages in 10 s; the control needs ${REWRITES}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return h.device.pagesWritten;
  }

  /** One small migration; returns the verdicts with and without the epochs. */
  async function once(seed: number, forgetful: boolean) {
    const vf = new VfTracker({ name: 'vf0' });
    const started = vf.start({ ranges: [{ iova: BASE, length: LEN }], pageSize: 4096 });
    const gt = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
    await h.device.attach({ tracker: vf.share(), groundTruth: gt.share() });
    await h.device.start({ pattern: 'hotset', rate: 'max', seed });
    const units = [trackerUnitMap({ name: 'vf0', ...started })];
    const source = forgetful ? new ForgetfulTracker(vf) : vf;
    let seen = h.device.pagesWritten;
    let calls = 0;
    const pool: MigratePool = {
      report: async (o) => {
        // Pre-copy rounds wait for the device to write again; the final round runs after its stop.
        if (calls++ < ROUNDS) seen = await deviceWroteMore(seen);
        return mainThreadPool.report(o);
      },
    };
    const r = await migrate({ bitmapPageSize: 4096, rounds: ROUNDS, stream: false, sources: [source], device: h.device, pool, units });
    vf.stop();
    // The union check alone is the same verdict without the stale count.
    return { full: r.verification, unionOnly: r.verification.missing === 0 && r.verification.unexpected === 0 };
  }

  it('flags every one of 100 seeded migrations with a forgetful source as stale, which the union check passes; the real source passes both', async () => {
    const { seed } = stressSeed('epoch-negative-control');
    const runs = scaled(100);
    let caught = 0;
    let unionPassed = 0;
    for (let i = 0; i < runs; i++) {
      const v = await once(subSeed(seed, i), true);
      if (v.full.stale > 0 && !v.full.ok) caught++;
      if (v.unionOnly) unionPassed++;
    }
    console.log(`[stress] epoch negative control: ${caught}/${runs} forgetful migrations flagged stale; the union check passed ${unionPassed}/${runs}`);
    expect(caught).toBe(runs);
    expect(unionPassed).toBe(runs);
    for (let i = 0; i < 10; i++) {
      const v = await once(subSeed(seed, 1000 + i), false);
      expect({ i, ok: v.full.ok, stale: v.full.stale, missing: v.full.missing, unexpected: v.full.unexpected }).toEqual({ i, ok: true, stale: 0, missing: 0, unexpected: 0 });
    }
  }, stressTimeout(240_000));
});
