/**
 * Worker for test/fast/bitmap.threads.test.ts: sets bits in a shared IovaBitmap from its own thread.
 *
 * Theory of operation
 * -------------------
 * The worker gets, in `workerData`, a {@link SetterData}: a control SharedArrayBuffer and its id.
 * Each round the main thread posts a {@link SetterRound} (the bitmap descriptor from
 * `IovaBitmap.share()`, which may change from round to round, and a list of operations). The
 * worker rebuilds its view with `IovaBitmap.fromShared`, replies `ready`, and blocks on the control
 * word until the main thread releases the round. Waking from Atomics.wait takes tens of
 * microseconds and varies, so the workers then meet at a spin barrier (each adds one to an
 * arrival counter and spins until all `parties` have arrived): they start their writes within
 * about a microsecond of each other, and their interleaved writes to the same 32-bit words really
 * race. Then it runs its operations and replies `done`. An exception becomes `error` carrying
 * `IovaBitmapError.dataOf(e)` (errors cross threads as data).
 *
 * Control words: [0] the round that may start (workers wait while it is lower); [1] arrivals at
 * the spin barrier of the current round (the main thread zeroes it before the release).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { IovaBitmap, IovaBitmapError, type IovaBitmapErrorData, type SharedIovaBitmap } from '@iovabitmap/core';
import { applySetterOp, type SetterOp } from '../helpers/setterOps.js';

/** What the worker receives at start. */
export interface SetterData {
  /** Int32Array control words: [0] round released by the main thread, [1] barrier arrivals. */
  readonly control: SharedArrayBuffer;
  /** Worker number, for messages. */
  readonly id: number;
}

/** One round: the bitmap to write and the operations, in order. */
export interface SetterRound {
  readonly round: number;
  /** Workers that take part in this round (the spin barrier waits for all of them). */
  readonly parties: number;
  readonly bitmap: SharedIovaBitmap;
  readonly ops: readonly SetterOp[];
}

/** Replies to the main thread. */
export type SetterReply =
  | { kind: 'ready'; id: number; round: number }
  | { kind: 'done'; id: number; round: number; calls: number }
  | { kind: 'error'; id: number; round: number; error: IovaBitmapErrorData };

const port = parentPort;
if (port !== null && workerData !== undefined) {
  const data = workerData as SetterData;
  const control = new Int32Array(data.control);
  port.on('message', (msg: SetterRound) => {
    let bitmap: IovaBitmap;
    try {
      bitmap = IovaBitmap.fromShared(msg.bitmap);
    } catch (e) {
      port.postMessage({ kind: 'error', id: data.id, round: msg.round, error: IovaBitmapError.dataOf(e) } satisfies SetterReply);
      return;
    }
    port.postMessage({ kind: 'ready', id: data.id, round: msg.round } satisfies SetterReply);
    for (let seen = Atomics.load(control, 0); seen < msg.round; seen = Atomics.load(control, 0)) {
      Atomics.wait(control, 0, seen, 1000);
    }
    Atomics.add(control, 1, 1);
    while (Atomics.load(control, 1) < msg.parties) {
      // spin: every party is awake and about to arrive
    }
    let calls = 0;
    try {
      for (const op of msg.ops) calls += applySetterOp(bitmap, op);
    } catch (e) {
      port.postMessage({ kind: 'error', id: data.id, round: msg.round, error: IovaBitmapError.dataOf(e) } satisfies SetterReply);
      return;
    }
    port.postMessage({ kind: 'done', id: data.id, round: msg.round, calls } satisfies SetterReply);
  });
}
