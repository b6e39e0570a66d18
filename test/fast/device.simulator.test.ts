/**
 * DeviceSimulator through its real worker and the comlink control plane: writes land in shared
 * memory, stop() quiesces, errors keep their codes across the thread boundary, and a dying worker
 * rejects pending calls with EIO instead of hanging them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { DeviceSimulator } from '@iovabitmap/workers';
import { rejectionOf } from '../helpers/rejection.js';

function groundTruth(): IovaBitmap {
  return new IovaBitmap({ iova: 1n << 32n, length: 32n << 20n, pageSize: 4096 });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('DeviceSimulator (worker + comlink)', () => {
  let sim: DeviceSimulator;
  beforeAll(async () => {
    sim = await DeviceSimulator.create();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('writes into the shared ground truth from its worker and stops quiesced', async () => {
    const gt = groundTruth();
    await sim.attach({ groundTruth: gt.share() });
    expect(sim.groundTruth?.buffer).toBe(gt.buffer);
    await sim.start({ pattern: 'burst', rate: 'max', seed: 7 });
    await until(() => sim.pagesWritten >= 512 * 20);
    const stats = await sim.stop();
    const after = gt.snapshot();
    expect(stats.state).toBe('stopped');
    expect(stats.perPattern.burst.pages).toBe(stats.pages);
    expect(stats.pages % 512).toBe(0);
    expect(sim.pagesWritten).toBe(stats.pages);
    // Burst writes whole aligned 2 MiB leaves: the ground truth is made of whole 64-byte blocks.
    expect(gt.count() % 512).toBe(0);
    expect(gt.count()).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 30));
    expect(gt.snapshot()).toEqual(after); // nothing written after stop() resolved
    expect((await sim.stats()).pages).toBe(stats.pages);
  });

  it('pauses and resumes through the control plane, with the fence advancing', async () => {
    await sim.attach({ groundTruth: groundTruth().share() });
    await sim.start({ pattern: 'uniform', rate: 20_000, seed: 1 });
    await until(() => sim.pagesWritten > 100);
    const p = await sim.pause();
    await new Promise((r) => setTimeout(r, 30));
    expect(sim.pagesWritten).toBe(p.pages);
    await sim.resume();
    await until(() => sim.pagesWritten > p.pages);
    const s = await sim.stop();
    expect(s.quiesceSeq).toBe(p.quiesceSeq + 1);
  });

  it('rebuilds errors with their codes across the thread boundary', async () => {
    await sim.attach({ groundTruth: groundTruth().share() });
    const e1 = await rejectionOf(sim.start({ pattern: 'uniform', rate: 1, seed: 1, region: { iova: 0, length: 4096 } }));
    expect(e1.code).toBe('EINVAL'); // found by the engine in the worker: the region is outside the ground truth
    expect(e1.param).toBe('region');
    expect(e1.message).toMatch(/^DeviceSimulator\.start: region must lie inside the ground truth/);
    expect((await rejectionOf(sim.resume())).code).toBe('EINVAL');
    await sim.start({ pattern: 'uniform', rate: 1000, seed: 1 });
    expect((await rejectionOf(sim.start({ pattern: 'uniform', rate: 'max', seed: 1 }))).code).toBe('EBUSY');
    const gt8k = new IovaBitmap({ iova: 0, length: 1n << 20n, pageSize: 8192 });
    expect((await rejectionOf(sim.attach({ groundTruth: gt8k.share() }))).code).toBe('EBUSY');
    await sim.stop();
    expect((await rejectionOf(sim.attach({ groundTruth: gt8k.share() }))).code).toBe('EINVAL');
  });

  it("writes at a fraction of a page per second as slowly as asked, at 'max' as fast as it can, and refuses 0", async () => {
    await sim.attach({ groundTruth: groundTruth().share() });
    await sim.start({ pattern: 'uniform', rate: 1 / 4096, seed: 1 }); // one byte per second
    await new Promise((r) => setTimeout(r, 200));
    const slow = await sim.stop();
    expect(slow.pages).toBeLessThanOrEqual(1);
    await sim.start({ pattern: 'uniform', rate: 'max', seed: 1 });
    // Waits for the pages rather than sleeping a fixed time: a starved worker on a loaded host
    // would fail a timed check (the slow rate above bounds from above, which a stall cannot break).
    await until(() => sim.pagesWritten - slow.pages > 10_000);
    const fast = await sim.stop();
    expect(fast.pages - slow.pages).toBeGreaterThan(10_000);
    const e = await rejectionOf(sim.start({ pattern: 'uniform', rate: 0, seed: 1 }));
    expect(e.code).toBe('EINVAL');
    expect(e.param).toBe('rate');
    expect(e.message).toContain("use 'max' for full speed");
    expect((await sim.stats()).state).toBe('stopped');
  });

  it('refuses a ground truth over a plain ArrayBuffer (the worker would write a copy) before posting it', async () => {
    const shared = groundTruth();
    await sim.attach({ groundTruth: shared.share() });
    const copy = { ...shared.share(), buffer: new ArrayBuffer(shared.buffer.byteLength) };
    const e = await rejectionOf(sim.attach({ groundTruth: copy as never }));
    expect(e.code).toBe('EINVAL');
    expect(e.param).toBe('groundTruth.buffer');
    expect(e.message).toMatch(/^DeviceSimulator\.attach: groundTruth\.buffer must be a SharedArrayBuffer/);
    expect(sim.groundTruth?.buffer).toBe(shared.buffer); // still attached to the shared one
  });

  it('rejects a call pending when the worker is killed with EIO, and every later call', async () => {
    const victim = await DeviceSimulator.create();
    const pending = victim.ping(60_000);
    expect(victim.pendingCalls).toBe(1);
    await victim.kill();
    const e = await rejectionOf(pending);
    expect(e.code).toBe('EIO');
    expect(e.message).toMatch(/ping.*exited/);
    expect(victim.alive).toBe(false);
    expect(victim.pendingCalls).toBe(0);
    expect((await rejectionOf(victim.stats())).code).toBe('EIO');
    await victim.close(); // idempotent on a dead worker
  });

  it('rejects pending calls with EIO when the worker dies by itself (exit or uncaught throw)', async () => {
    for (const kind of ['exit', 'throw'] as const) {
      const victim = await DeviceSimulator.create();
      await victim.attach({ groundTruth: groundTruth().share() });
      await victim.start({ pattern: 'sequential', rate: 'max', seed: 2 });
      const pending = victim.ping(60_000);
      await victim.injectFault(kind);
      const e = await rejectionOf(pending);
      expect(e.code).toBe('EIO');
      expect((await rejectionOf(victim.stop())).code).toBe('EIO');
      await victim.close();
    }
  });

  it('rejects calls after close() with EIO', async () => {
    const s = await DeviceSimulator.create();
    await s.close();
    await s.close();
    expect((await rejectionOf(s.ping())).code).toBe('EIO');
    expect(s.alive).toBe(false);
  });
});
