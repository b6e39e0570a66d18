/**
 * One ReportPool and one DeviceSimulator for a whole test file: created in beforeAll (the pool
 * waited ready), closed in afterAll (device first, so it stops writing before the pool goes).
 * Used by the fast migrate tests and the stress tests that race reports with device writes.
 */
import { afterAll, beforeAll } from 'vitest';
import { DeviceSimulator, ReportPool } from '@iovabitmap/workers';

/** Live handles; read them inside tests (they are set by beforeAll). */
export interface PoolAndDevice {
  pool: ReportPool;
  device: DeviceSimulator;
}

/**
 * Registers the beforeAll/afterAll pair and returns the handles they fill in. The pool runs every
 * report on its workers (`inlineBelow: 0`) unless `inlineBelow` is given: these tests are about
 * the workers.
 */
export function usePoolAndDevice(threads = 2, inlineBelow = 0): PoolAndDevice {
  const h = {} as PoolAndDevice;
  beforeAll(async () => {
    h.pool = new ReportPool({ threads, inlineBelow });
    h.device = await DeviceSimulator.create();
    await h.pool.ready();
  });
  afterAll(async () => {
    await h.device?.close();
    await h.pool?.close();
  });
  return h;
}

/**
 * The pool's status once piscina's queue has drained (at most `timeoutMs`). Tasks of a report
 * that settled before they started are cancelled in its control block but stay queued until a
 * worker takes them and returns at once; a queue that never drains is a leak.
 */
export async function drainedStatus(pool: ReportPool, timeoutMs = 5_000): Promise<ReportPool['status']> {
  const deadline = performance.now() + timeoutMs;
  while (pool.status.queuedTasks > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return pool.status;
}

/**
 * Waits until `device` has written its first page since its last attach (at most `timeoutMs`).
 * A migration of a small world can fail or finish within a millisecond, before the device's first
 * batch (it starts on its own thread): a test that checks what the device wrote would then race
 * with nothing. The device keeps writing through the migration that follows.
 */
export async function untilDeviceWrites(device: DeviceSimulator, timeoutMs = 5_000): Promise<void> {
  for (const until = performance.now() + timeoutMs; device.pagesWritten === 0 && performance.now() < until; ) {
    await new Promise((res) => setTimeout(res, 1));
  }
}
