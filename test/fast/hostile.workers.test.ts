/**
 * The hostile-value sweep of @iovabitmap/workers: every function, constructor and method of its
 * public entry, and the checked ones of its internal entry (the pattern generator, the seeded
 * generator, the unit-map checks: @iovabitmap/workers/internal), gets one valid call, then each
 * argument (and each field of an options argument) in turn replaced by each value of
 * hostileValues(). Every call must return, or fail with an IovaBitmapError with a short message, in
 * time (expectTypedOrOk). The calls that succeed are collected and compared with the list of the
 * ones that should: an omitted optional field, a name that is a string, -0 where 0 is valid, a
 * fraction where fractions are valid. Anything else succeeding would be a coercion.
 *
 * One ReportPool (2 threads, no warm-up) and one DeviceSimulator serve the whole file.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker } from '@iovabitmap/core';
import { describeValue } from '@iovabitmap/core/internal';
import { DeviceSimulator, ReportPool, mappingUnitMap, migrate, trackerUnitMap, unitMapOf, verifyMigration } from '@iovabitmap/workers';
import { createPattern, createRng, seedFromEnv } from '@iovabitmap/workers/internal';
import { expectTypedOrOk, hostileValues, type Hostile } from '../helpers/hostile.js';
import { MiB } from '../helpers/sizes.js';

const BASE = 1n << 32n;
const LEN = 4n * MiB;

/**
 * The hostile values. Until core bounds what an error message shows of a value (describeValue
 * of a 16 MiB typed array takes ~10 s), the 16 MiB array is left out: every check that names a
 * bad value would time out on it, whatever this package does.
 */
const UNBOUNDED_MESSAGES = describeValue(new Uint8Array(1 << 12)).length > 2000;
function values(): Hostile[] {
  return hostileValues().filter((h) => !(UNBOUNDED_MESSAGES && h.label === 'typed array of 16 MiB'));
}

/** Calls that succeeded, as "target param: label". */
const succeeded: string[] = [];

/** One call of a sweep: its name and the arguments. */
type Case = readonly [what: string, args: readonly unknown[]];

/**
 * Runs every case through expectTypedOrOk, `batch` at a time (several calls that start a worker
 * thread at once overlap their start-up), and records the successes; `after` undoes a success.
 */
async function run(cases: readonly Case[], call: (...a: unknown[]) => unknown, after?: () => Promise<unknown>, batch = 1): Promise<void> {
  for (let i = 0; i < cases.length; i += batch) {
    const slice = cases.slice(i, i + batch);
    const errors = await Promise.all(slice.map(([what, args]) => expectTypedOrOk(what, () => call(...args))));
    for (let k = 0; k < slice.length; k++) {
      if (errors[k] !== undefined) continue;
      succeeded.push(slice[k]![0]);
      await after?.();
    }
  }
}

/** Each hostile value at each position of `args`. */
function argCases(target: string, args: readonly unknown[], names: readonly string[]): Case[] {
  return args.flatMap((_, i) => values().map((h): Case => [`${target} ${names[i]}: ${h.label}`, args.map((a, j) => (j === i ? h.value : a))]));
}

/** Each hostile value as the whole options object, then in each field of `valid`. */
function fieldCases(target: string, valid: Record<string, unknown>): Case[] {
  return [
    ...argCases(target, [valid], ['options']),
    ...Object.keys(valid).flatMap((key) => values().map((h): Case => [`${target} ${key}: ${h.label}`, [{ ...valid, [key]: h.value }]])),
  ];
}

/** Sweeps the positional arguments of `call`. */
function sweepArgs(target: string, args: readonly unknown[], names: readonly string[], call: (...a: unknown[]) => unknown, after?: () => Promise<unknown>): Promise<void> {
  return run(argCases(target, args, names), call, after);
}

/** Sweeps an options argument: the whole object, then each field of `valid`. */
function sweepFields(target: string, valid: Record<string, unknown>, call: (o: unknown) => unknown, after?: () => Promise<unknown>, batch = 1): Promise<void> {
  return run(fieldCases(target, valid), call as (...a: unknown[]) => unknown, after, batch);
}

/**
 * ReportPool from a fresh copy of the package whose piscina is a stand-in: it records nothing,
 * starts no thread, and answers the warm-up tasks at once.
 */
async function withStandInPiscina(): Promise<typeof ReportPool> {
  class StandIn {
    readonly threads: unknown[] = [];
    readonly queueSize = 0;
    on(): this {
      return this;
    }
    run(): Promise<unknown> {
      return Promise.resolve({ kind: 'warm', threadId: 0, complete: true, warmMs: 0 });
    }
    close(): Promise<void> {
      return Promise.resolve();
    }
  }
  // The module ReportPool imports: piscina's ESM entry, as resolved from the workers package.
  const piscina = join(dirname(createRequire(new URL('../../packages/workers/package.json', import.meta.url)).resolve('piscina')), 'esm-wrapper.mjs');
  vi.resetModules();
  vi.doMock(piscina, () => ({ Piscina: StandIn }));
  try {
    return (await import('@iovabitmap/workers')).ReportPool;
  } finally {
    vi.doUnmock(piscina);
  }
}

/**
 * DeviceSimulator from a fresh copy of the package whose `startWorker` gives a stand-in thread: a
 * MessagePort that answers the control calls create() and close() make (comlink 4's wire format:
 * APPLY → RAW reply) without loading anything.
 */
async function withStandInDeviceWorker(): Promise<typeof DeviceSimulator> {
  const replies: Record<string, () => unknown> = {
    ping: () => ({ ok: true, value: 0 }),
    control: () => ({ ok: true, value: new SharedArrayBuffer(32) }),
    stop: () => ({ ok: true, value: { state: 'stopped', quiesceSeq: 0 } }),
  };
  const startWorker = (): unknown => {
    const { port1, port2 } = new MessageChannel();
    port2.on('message', (m: { id: string; type: string; path?: string[] }) => {
      const value = m.type === 'APPLY' ? replies[m.path![0]!]?.() : undefined;
      port2.postMessage({ id: m.id, type: 'RAW', value });
    });
    return Object.assign(port1, {
      threadId: -1,
      terminate: async (): Promise<number> => {
        port1.close();
        port2.close();
        port1.emit('exit', 1);
        return 1;
      },
    });
  };
  // The module DeviceSimulator imports startWorker from, by its file: a mock replaces a module, and
  // the package's entries only re-export it.
  const entry = '../../packages/workers/src/runtime/workerLaunch.js';
  vi.resetModules();
  vi.doMock(entry, async (original) => ({ ...(await original<object>()), startWorker }));
  try {
    return (await import('@iovabitmap/workers')).DeviceSimulator;
  } finally {
    vi.doUnmock(entry);
  }
}

/** What may succeed: "target param" → the hostile labels with which success is right. */
const OMITTED = ['undefined'];
const NAME = ['string "5"', 'string "0xff"'];
const OPTIONS_BAG = ['undefined', 'object with valueOf', 'empty object', 'null-prototype object'];
const EXPECTED: Record<string, readonly string[]> = {
  'new ReportPool options': OPTIONS_BAG, // {} and the like: every option at its default
  'new ReportPool threads': OMITTED,
  'new ReportPool chunkBits': OMITTED,
  'new ReportPool progressIntervalMs': OMITTED,
  'new ReportPool warmUp': ['undefined', 'boolean true'],
  'new ReportPool inlineBelow': ['undefined', '-0'], // -0 is 0: every report on the workers
  'ReportPool.report noClear': ['undefined', 'boolean true'],
  'ReportPool.report signal': OMITTED,
  'ReportPool.report onProgress': ['undefined', 'function'],
  'ReportPool.report threads': OMITTED,
  'ReportPool.report chunkBits': OMITTED,
  'ReportPool.report faultInjection': OMITTED,
  'DeviceSimulator.create options': OPTIONS_BAG,
  'DeviceSimulator.create workerOptions': OPTIONS_BAG, // plain objects: Worker ignores unknown keys
  'DeviceSimulator.attach pageTable': OMITTED,
  'DeviceSimulator.attach tracker': OMITTED,
  'DeviceSimulator.start rate': ['fraction 0.5', '2^53 + 1 (unsafe)'], // 0.5 page/s; a huge finite rate is a rate
  'DeviceSimulator.start seed': ['-0'],
  'DeviceSimulator.start region': OMITTED,
  'DeviceSimulator.start batchPages': OMITTED,
  'DeviceSimulator.start sequentialRunPages': OMITTED,
  'DeviceSimulator.start burstPages': OMITTED,
  'DeviceSimulator.ping delayMs': ['undefined', '-0', 'fraction 0.5'],
  'migrate rounds': ['-0'],
  'migrate onRound': ['undefined', 'function'],
  'migrate iova': OMITTED,
  'migrate length': OMITTED,
  'migrate roundIntervalMs': ['undefined', '-0', 'fraction 0.5'],
  'migrate verifyEachRound': ['undefined', 'boolean true'],
  'migrate units': OMITTED,
  'migrate chunkBits': OMITTED,
  'migrate signal': OMITTED,
  'migrate bandwidth': ['undefined', 'Infinity', 'fraction 0.5', '2^53 + 1 (unsafe)'], // bytes/s: any positive number; Infinity is no link
  'migrate downtimeLimit': ['undefined', '-0', 'fraction 0.5', '2^53 + 1 (unsafe)'], // ms: any number >= 0
  'migrate stream': ['undefined', 'boolean true'],
  'migrate bulkStage': ['undefined', 'boolean true'],
  'mappingUnitMap name': NAME,
  'trackerUnitMap name': NAME,
  'mappingUnitMap mappings[0].iova value': ['-0'], // IOVA 0
  'UnitMap.unitOf page': ['-0'],
  'createPattern seed': ['-0'],
  'createPattern options': OPTIONS_BAG,
  'createPattern region firstPage': ['-0'],
  'createPattern options options': OPTIONS_BAG,
  'createPattern options sequentialRunPages': OMITTED,
  'createPattern options burstPages': OMITTED,
  'createRng seed': ['-0'],
  'seedFromEnv name': NAME, // no such variable: a fresh random seed
};

describe('workers: hostile values in every public call', () => {
  let pool: ReportPool;
  let device: DeviceSimulator;
  const closing: Promise<void>[] = [];
  const pt = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  pt.map(BASE, LEN, { leaf: 4096n });
  pt.setDirtyTracking(true);
  const vf = new VfTracker({ name: 'vf0' });
  const started = vf.start({ ranges: [{ iova: BASE, length: LEN }], pageSize: 4096 });
  const gt = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
  const bitmap = new IovaBitmap({ iova: BASE, length: LEN, pageSize: 4096 });
  const mappings = [{ iova: BASE, length: LEN, leaf: 4096n }];
  const units = [mappingUnitMap('iommu', mappings), trackerUnitMap({ name: 'vf0', ...started })];

  beforeAll(async () => {
    pool = new ReportPool({ threads: 2, warmUp: false });
    device = await DeviceSimulator.create();
    await device.attach({ pageTable: pt.share(), tracker: vf.share(), groundTruth: gt.share() });
  });
  afterAll(async () => {
    await Promise.all(closing);
    await device?.close();
    await pool?.close();
  });

  it('ReportPool: constructor and report', async () => {
    // The constructor's successes build pools on a stand-in for piscina: a success only has to
    // show the arguments were accepted, and the ten pools of real workers (with warm-up) it would
    // otherwise start cost seconds of CPU. The shared pool above is a real one.
    const Pool = await withStandInPiscina();
    const make = (o: unknown): void => {
      closing.push(new Pool(o as never).close());
    };
    make({ threads: 1, warmUp: false });
    await sweepFields('new ReportPool', { threads: 1, warmUp: false, chunkBits: 1024, progressIntervalMs: 100, inlineBelow: 1000 }, make);
    const valid = { bitmap, sources: [pt, vf], noClear: true, signal: new AbortController().signal, onProgress: () => {}, threads: 1, chunkBits: 256, faultInjection: undefined };
    await pool.report(valid);
    await sweepFields('ReportPool.report', valid, (o) => pool.report(o as never));
    await pool.ready();
    expect(pool.status).toMatchObject({ workers: 2, activeReports: 0, closed: false });
  });

  it('DeviceSimulator: create, attach, start and the control calls', async () => {
    // As for the pool: create()'s successes run on a stand-in thread; the shared device is real.
    const Device = await withStandInDeviceWorker();
    const create = async (o: unknown): Promise<void> => {
      const d = await Device.create(o as never);
      closing.push(d.close());
    };
    await create({ workerOptions: {} });
    await sweepFields('DeviceSimulator.create', { workerOptions: {} }, create);
    const attach = { pageTable: pt.share(), tracker: vf.share(), groundTruth: gt.share() };
    await device.attach(attach);
    await sweepFields('DeviceSimulator.attach', attach, (o) => device.attach(o as never));
    await device.attach(attach);
    const start = { pattern: 'uniform', rate: 1000, seed: 1, region: { iova: BASE, length: LEN }, batchPages: 16, sequentialRunPages: 4, burstPages: 8 };
    await device.start(start as never);
    await device.pause();
    await device.resume();
    await device.stats();
    await device.stop();
    await sweepFields('DeviceSimulator.start', start, (o) => device.start(o as never), () => device.stop());
    for (const [field, v] of [['iova', BASE], ['length', LEN]] as const) {
      await sweepArgs(`DeviceSimulator.start region.${field}`, [v], ['value'], (x) => device.start({ ...start, region: { iova: BASE, length: LEN, [field]: x } } as never), () => device.stop());
    }
    await device.ping(1);
    await sweepArgs('DeviceSimulator.ping', [1], ['delayMs'], (x) => device.ping(x as never));
    await sweepArgs('DeviceSimulator.injectFault', ['exit'], ['kind'], (x) => device.injectFault(x as never)); // never a valid call: it would kill the shared device
    expect(device.alive).toBe(true);
    expect([device.pendingCalls, typeof device.threadId, typeof device.listeners, device.groundTruth?.buffer === gt.buffer]).toEqual([0, 'number', 'number', true]);
    expect(device.pagesWritten).toBeGreaterThanOrEqual(0);
  });

  it('migrate and verifyMigration', async () => {
    await device.attach({ pageTable: pt.share(), tracker: vf.share(), groundTruth: gt.share() }); // ready: stop() is a no-op
    const valid = {
      bitmapPageSize: 4096,
      rounds: 0,
      sources: [pt, vf],
      device,
      pool,
      onRound: () => {},
      iova: BASE,
      length: LEN,
      roundIntervalMs: 0,
      verifyEachRound: false,
      units,
      chunkBits: 512,
      signal: new AbortController().signal,
      bandwidth: 1e9,
      downtimeLimit: 300,
      stream: true,
      bulkStage: false,
    };
    // A migration needs fresh write epochs (WriteEpochs): attach again before each.
    const fresh = async (o: unknown): Promise<unknown> => {
      await device.attach({ pageTable: pt.share(), tracker: vf.share(), groundTruth: gt.share() });
      return migrate(o as never);
    };
    await fresh(valid);
    await sweepFields('migrate', valid, fresh);
    const v = { groundTruth: gt, reported: bitmap, units };
    verifyMigration(v);
    await sweepFields('verifyMigration', v, (o) => verifyMigration(o as never));
  });

  it('unit maps', async () => {
    await sweepArgs('mappingUnitMap', ['iommu', mappings], ['name', 'mappings'], (n, m) => mappingUnitMap(n as never, m as never));
    for (const field of ['iova', 'length', 'leaf'] as const) {
      await sweepArgs(`mappingUnitMap mappings[0].${field}`, [mappings[0]![field]], ['value'], (x) => mappingUnitMap('iommu', [{ ...mappings[0]!, [field]: x } as never]));
    }
    await sweepFields('trackerUnitMap', { name: 'vf0', pageSize: started.pageSize, ranges: started.ranges }, (o) => trackerUnitMap(o as never));
    await sweepArgs('unitMapOf', [pt], ['source'], (s) => unitMapOf(s as never));
    await sweepArgs('UnitMap.unitOf', [Number(BASE >> 12n)], ['page'], (p) => units[0]!.unitOf(p as never));
  });

  it('patterns and the generator', async () => {
    const region = { firstPage: 16, pageCount: 4096 };
    const options = { sequentialRunPages: 4, burstPages: 8 };
    createPattern('burst', region, 1, options).next();
    await sweepArgs('createPattern', ['burst', region, 1, options], ['pattern', 'region', 'seed', 'options'], (n, r, s, o) => createPattern(n as never, r as never, s as never, o as never).next());
    await sweepFields('createPattern region', region, (r) => createPattern('uniform', r as never, 1).next());
    await sweepFields('createPattern options', options, (o) => createPattern('sequential', region, 1, o as never).next());
    const rng = createRng(7);
    expect([typeof rng.u32(), typeof rng.float(), rng.int(1)]).toEqual(['number', 'number', 0]);
    await sweepArgs('createRng', [7], ['seed'], (s) => createRng(s as never).u32());
    await sweepArgs('Rng.int', [10], ['n'], (n) => rng.int(n as never));
    await sweepArgs('seedFromEnv', ['IOVABITMAP_NO_SUCH_VARIABLE'], ['name'], (n) => seedFromEnv(n as never));
  });

  it('succeeds only where success is right', () => {
    const got: Record<string, string[]> = {};
    for (const s of succeeded) {
      const [key, label] = s.split(': ') as [string, string];
      (got[key] ??= []).push(label);
    }
    const want: Record<string, string[]> = {};
    for (const [key, labels] of Object.entries(EXPECTED)) want[key] = [...labels];
    expect(got).toEqual(want);
  });
});
