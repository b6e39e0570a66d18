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

/** Registers the beforeAll/afterAll pair and returns the handles they fill in. */
export function usePoolAndDevice(threads = 2): PoolAndDevice {
  const h = {} as PoolAndDevice;
  beforeAll(async () => {
    h.pool = new ReportPool({ threads });
    h.device = await DeviceSimulator.create();
    await h.pool.ready();
  });
  afterAll(async () => {
    await h.device?.close();
    await h.pool?.close();
  });
  return h;
}
