/// <reference path="../types/comlink-node-adapter.d.ts" />
/**
 * Worker entry of the device simulator: one {@link DeviceEngine} per worker, exposed over comlink.
 * Runs on the device worker.
 *
 * Theory of operation
 * -------------------
 * A plain `Worker` (not a piscina worker: piscina freezes an idle worker's event loop, and the
 * device must keep writing between control calls). The control plane is comlink on the worker's
 * parentPort; the data plane is shared memory only (the ground truth and the sources'
 * SharedArrayBuffers, which `attach` rebuilds views of). Every method replies with a
 * {@link DeviceReply}: comlink would flatten a thrown IovaBitmapError into a plain Error and drop
 * its code, so errors travel as {@link IovaBitmapError.toData} data and are rebuilt on the main
 * thread.
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { IovaBitmap, IovaBitmapError, type DirtySourceShared } from '@iovabitmap/core';
import { dirtySourceFromShared, pageOf } from '@iovabitmap/core/internal';
import { DeviceEngine, coverageOfRuns, type DmaTarget } from './DeviceEngine.js';
import { WriteEpochs } from './WriteEpochs.js';
import type { DeviceAttachShared, DeviceRemote, DeviceReply } from './deviceTypes.js';

function reply<T>(fn: () => T): DeviceReply<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    return { ok: false, error: IovaBitmapError.dataOf(e, 'EINVAL') };
  }
}

/** The DMA target of a shared source, with its coverage (mapped areas or tracked ranges). */
function targetOf(role: string, d: DirtySourceShared): DmaTarget {
  const s = dirtySourceFromShared(d) as unknown as Partial<DmaTarget> & { ranges?: { iova: bigint; length: bigint }[] };
  if (typeof s.dmaWritePages !== 'function') {
    throw IovaBitmapError.bad('EINVAL', 'DeviceSimulator.attach', role, d.kind, 'is not a source the device can DMA into');
  }
  const dmaWritePages = s.dmaWritePages.bind(s);
  const { areas, writableAreas } = d as { areas?: unknown; writableAreas?: unknown };
  if (areas instanceof Float64Array) {
    // IoPageTable: the owner's mapped areas at share() time, and the writable ones among them.
    const target: DmaTarget = { name: d.name, dmaWritePages, firstUncovered: coverageOfFlatRuns(areas) };
    return writableAreas instanceof Float64Array ? { ...target, firstReadOnly: coverageOfFlatRuns(writableAreas) } : target;
  }
  if (Array.isArray(s.ranges)) {
    // VfTracker: the tracked (merged) ranges, sorted.
    const starts: number[] = [];
    const ends: number[] = [];
    for (const r of s.ranges) starts.push(pageOf(r.iova)), ends.push(pageOf(r.iova + r.length));
    return { name: d.name, dmaWritePages, firstUncovered: coverageOfRuns(starts, ends) };
  }
  return { name: d.name, dmaWritePages };
}

/** {@link coverageOfRuns} over [start, end) page pairs, sorted (the page table's flat area lists). */
function coverageOfFlatRuns(flat: Float64Array): (firstPage: number, count: number) => number {
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) starts.push(flat[i]!), ends.push(flat[i + 1]!);
  return coverageOfRuns(starts, ends);
}

const engine = new DeviceEngine();

const remote: DeviceRemote = {
  attach: (a: DeviceAttachShared) =>
    reply(() => {
      const gt = IovaBitmap.fromShared(a.groundTruth);
      const targets: DmaTarget[] = [];
      if (a.pageTable !== undefined) targets.push(targetOf('pageTable', a.pageTable));
      if (a.tracker !== undefined) targets.push(targetOf('tracker', a.tracker));
      engine.attach(gt, targets, a.epochs === undefined ? undefined : WriteEpochs.fromShared(a.epochs));
    }),
  start: (o) => reply(() => engine.start(o)),
  pause: () => reply(() => engine.pause()),
  advance: (ms) => reply(() => engine.advance(ms)),
  resume: () => reply(() => engine.resume()),
  stop: () => reply(() => engine.stop()),
  stats: () => reply(() => engine.stats()),
  ping: (delayMs) =>
    new Promise((resolve) => {
      // DeviceSimulator.ping checked the delay; a non-number here cannot come from it.
      setTimeout(() => resolve({ ok: true, value: performance.now() }), typeof delayMs === 'number' ? delayMs : 0);
    }),
  control: () => reply(() => engine.control),
  injectFault: (kind) =>
    reply(() => {
      // Leave the reply on its way first, then fail: the test sees the worker die with no call pending,
      // or (with a call issued right after) with one pending.
      setTimeout(() => {
        if (kind === 'exit') process.exit(3);
        throw new Error('DeviceSimulator: injected fault');
      }, 5);
    }),
};

if (parentPort === null) throw new Error('deviceWorker must run in a worker thread');
Comlink.expose(remote, nodeEndpoint(parentPort));
