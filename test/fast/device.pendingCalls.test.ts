/**
 * PendingCalls, the guard that turns "the worker died" into EIO rejections instead of hangs.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmapError } from '@iovabitmap/core';
import { PendingCalls } from '@iovabitmap/workers/internal';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('PendingCalls', () => {
  it('passes results and errors through while the worker lives', async () => {
    const calls = new PendingCalls('Dev');
    await expect(calls.track('a', async () => 5)).resolves.toBe(5);
    await expect(calls.track('b', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(
      calls.track('c', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(calls.size).toBe(0);
  });

  it('rejects every pending call with EIO naming its method, ignores their late replies, and rejects later calls', async () => {
    const calls = new PendingCalls('Dev');
    const d1 = deferred<number>();
    const d2 = deferred<number>();
    const p1 = calls.track('stop', () => d1.promise);
    const p2 = calls.track('stats', () => d2.promise);
    const done = calls.track('ping', async () => 1);
    await expect(done).resolves.toBe(1);
    expect(calls.size).toBe(2);
    calls.fail('the worker exited (code 1)');
    calls.fail('a second reason is ignored');
    d1.resolve(7); // a late reply changes nothing
    const e1 = await p1.catch((e: unknown) => e);
    const e2 = await p2.catch((e: unknown) => e);
    expect(IovaBitmapError.hasCode(e1, 'EIO')).toBe(true);
    expect((e1 as Error).message).toBe('Dev.stop: the worker exited (code 1)');
    expect((e2 as Error).message).toBe('Dev.stats: the worker exited (code 1)');
    expect(calls.size).toBe(0);
    expect(calls.failed).toBe(true);
    let started = false;
    const late = await calls
      .track('start', async () => {
        started = true;
        return 0;
      })
      .catch((e: unknown) => e);
    expect(IovaBitmapError.hasCode(late, 'EIO')).toBe(true);
    expect(started).toBe(false); // nothing is sent to a dead worker
  });
});
