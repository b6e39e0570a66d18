/**
 * Soak: many migrate() runs back to back on one pool and one device. Every migration must verify,
 * and the process must not accumulate:
 * - the main thread's heap after a full GC stays flat;
 * - every world (page table, tracker, ground truth) of a finished migration is collectable on the
 *   main thread: nothing in migrate(), the device handle or the pool keeps a reference to it;
 * - listener counts (process, device worker, pool) and active handles stay flat.
 * Array-buffer memory is printed and only loosely bounded: the device and pool workers hold views
 * of each migration's SharedArrayBuffers until *their* next GC, which this thread cannot force
 * (measured: a sawtooth of ~1.4 MiB per migration, dropping when a worker collects).
 * `STRESS_SCALE` multiplies the number of migrations.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { PTE_FORMATS } from '@iovabitmap/core';
import { DEVICE_PATTERNS, migrate } from '@iovabitmap/workers';
import { createRng } from '@iovabitmap/workers/internal';
import { scaled, stressSeed, stressTimeout, subSeed } from './helpers/stressEnv.js';
import { makeWorld } from './helpers/world.js';
import { usePoolAndDevice } from '../helpers/poolAndDevice.js';
import { MIB } from '../helpers/sizes.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample {
  readonly heapUsed: number;
  readonly arrayBuffers: number;
  readonly processListeners: number;
  readonly deviceListeners: number;
  readonly poolListeners: number;
  readonly handles: number;
}

function processListeners(): number {
  let n = 0;
  for (const e of process.eventNames()) n += process.listenerCount(e);
  return n;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}


describe('soak: back-to-back migrations', () => {
  const h = usePoolAndDevice();

  it('verifies every migration and keeps memory and listener counts flat', async () => {
    const { seed } = stressSeed('soak');
    const runs = scaled(200);
    const warmup = 6;
    const samples: Sample[] = [];
    const worlds: WeakRef<object>[] = [];
    let retained = 0;
    for (let i = 0; i < runs; i++) {
      const rng = createRng(subSeed(seed, i));
      const w = makeWorld(rng, { format: PTE_FORMATS[i % PTE_FORMATS.length]!, length: 1n << 29n, pieces: 4 });
      await h.device.attach({ pageTable: w.pt.share(), tracker: w.vf.share(), groundTruth: w.gt.share() });
      await h.device.start({ pattern: DEVICE_PATTERNS[i % DEVICE_PATTERNS.length]!, rate: 'max', seed: subSeed(seed, 500 + i) });
      const r = await migrate({ bitmapPageSize: 4096, rounds: 3, sources: w.sources, device: h.device, pool: h.pool, units: w.units });
      expect({ run: i, ok: r.verification.ok, missing: r.verification.missing, unexpected: r.verification.unexpected }).toEqual({ run: i, ok: true, missing: 0, unexpected: 0 });
      w.vf.stop();
      worlds.push(new WeakRef(w.pt), new WeakRef(w.vf), new WeakRef(w.gt));
      await new Promise((res) => setImmediate(res));
      gc();
      await new Promise((res) => setImmediate(res));
      gc();
      // Worlds older than the last two must be gone (the device keeps its last attachment).
      retained = worlds.slice(0, Math.max(0, worlds.length - 6)).filter((x) => x.deref() !== undefined).length;
      if (retained > 0) break;
      const m = process.memoryUsage();
      samples.push({
        heapUsed: m.heapUsed,
        arrayBuffers: m.arrayBuffers,
        processListeners: processListeners(),
        deviceListeners: h.device.listeners,
        poolListeners: h.pool.status.listeners,
        handles: process.getActiveResourcesInfo().length,
      });
    }
    expect(retained, 'objects of finished migrations still reachable on the main thread').toBe(0);
    const steady = samples.slice(warmup);
    const head = steady.slice(0, 5);
    const tail = steady.slice(-5);
    const growth = (k: 'heapUsed' | 'arrayBuffers'): number => median(tail.map((s) => s[k])) - median(head.map((s) => s[k]));
    console.log(
      `[stress] soak: ${runs} migrations; heap ${(median(head.map((s) => s.heapUsed)) / MIB).toFixed(1)} -> ${(median(tail.map((s) => s.heapUsed)) / MIB).toFixed(1)} MiB, ` +
        `array buffers ${(median(head.map((s) => s.arrayBuffers)) / MIB).toFixed(1)} -> ${(median(tail.map((s) => s.arrayBuffers)) / MIB).toFixed(1)} MiB, ` +
        `listeners process/device/pool ${tail[tail.length - 1]!.processListeners}/${tail[tail.length - 1]!.deviceListeners}/${tail[tail.length - 1]!.poolListeners}`,
    );
    const first = steady[0]!;
    for (const s of steady) {
      expect({ processListeners: s.processListeners, deviceListeners: s.deviceListeners, poolListeners: s.poolListeners }).toEqual({
        processListeners: first.processListeners,
        deviceListeners: first.deviceListeners,
        poolListeners: first.poolListeners,
      });
      expect(s.handles).toBeLessThanOrEqual(first.handles + 2); // a timer may be in flight at sampling time
    }
    // A leak of 0.5 MiB of heap per migration would exceed this within the default 200 runs.
    expect(growth('heapUsed')).toBeLessThan(12 * MIB);
    expect(growth('arrayBuffers')).toBeLessThan(256 * MIB); // other threads' garbage; see the module comment
  }, stressTimeout(240_000));
});
