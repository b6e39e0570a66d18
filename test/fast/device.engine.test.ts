/**
 * DeviceEngine in-process (the code that runs in the device worker), with fake timers and fake
 * DMA targets: the ground-truth-first rule, quiesce on pause/stop, the rate, the stats, and every
 * rejected call. No wall-clock assertions: time is simulated.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { DeviceEngine, type DmaTarget, type PageRun } from '@iovabitmap/workers/internal';
import { rejection } from '../helpers/rejection.js';

const BASE_PAGE = 0x40000; // IOVA 1 GiB
const PAGES = 4096; // 16 MiB

/** A target that checks, at each write, that the ground truth already holds the pages. */
class RecordingTarget implements DmaTarget {
  readonly calls: PageRun[] = [];
  notInGroundTruthYet = 0;
  constructor(
    readonly name: string,
    readonly gt: IovaBitmap,
    readonly take: (page: number, count: number) => number = (_p, c) => c,
  ) {}
  dmaWritePages(page: number, count: number): number {
    for (let p = page; p < page + count; p++) if (!this.gt.testBit(p - BASE_PAGE)) this.notInGroundTruthYet++;
    this.calls.push({ page, count });
    return this.take(page, count);
  }
}

function setup(takeB?: (page: number, count: number) => number) {
  const gt = new IovaBitmap({ iova: BigInt(BASE_PAGE) << 12n, length: BigInt(PAGES) << 12n, pageSize: 4096 });
  const a = new RecordingTarget('iommu', gt);
  const b = new RecordingTarget('vf0', gt, takeB);
  const engine = new DeviceEngine();
  engine.attach(gt, [a, b]);
  return { gt, a, b, engine };
}

function codeOf(f: () => unknown): string {
  return rejection(f).code;
}

describe('DeviceEngine', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('records every page in the ground truth before any source sees it, and only pages it wrote', () => {
    const { gt, a, b, engine } = setup();
    engine.start({ pattern: 'uniform', rate: 'max', seed: 3, batchPages: 64 });
    vi.advanceTimersByTime(20);
    const stats = engine.stop();
    expect(a.calls.length).toBeGreaterThan(64);
    expect(a.notInGroundTruthYet).toBe(0);
    expect(b.notInGroundTruthYet).toBe(0);
    expect(b.calls).toEqual(a.calls);
    const written = new Set(a.calls.map((r) => r.page));
    expect(gt.count()).toBe(written.size);
    expect(stats.pages).toBe(a.calls.length);
    expect(stats.writes).toBe(a.calls.length);
    expect(stats.perPattern.uniform).toEqual({ writes: a.calls.length, pages: a.calls.length });
    expect(stats.unmarkedPages).toEqual({ iommu: 0, vf0: 0 });
  });

  it('makes no write after stop() or pause() returns, and resumes after resume()', () => {
    const { a, engine } = setup();
    engine.start({ pattern: 'sequential', rate: 'max', seed: 1, batchPages: 32 });
    vi.advanceTimersByTime(5);
    const paused = engine.pause();
    const n = a.calls.length;
    expect(paused.state).toBe('paused');
    expect(paused.quiesceSeq).toBe(1);
    vi.advanceTimersByTime(50);
    expect(a.calls.length).toBe(n);
    expect(engine.pause().quiesceSeq).toBe(1); // pausing again is a no-op
    engine.resume();
    vi.advanceTimersByTime(5);
    expect(a.calls.length).toBeGreaterThan(n);
    const stopped = engine.stop();
    const m = a.calls.length;
    vi.advanceTimersByTime(50);
    expect(a.calls.length).toBe(m);
    expect(stopped).toMatchObject({ state: 'stopped', quiesceSeq: 2, writes: m, pages: a.calls.reduce((x, r) => x + r.count, 0) });
    expect(engine.stop().quiesceSeq).toBe(2); // stop is idempotent and does not bump the fence again
  });

  it('writes at the requested rate in simulated time, without catching up after a pause', () => {
    const { engine } = setup();
    engine.start({ pattern: 'uniform', rate: 1000, seed: 2 });
    vi.advanceTimersByTime(2000);
    const s1 = engine.pause();
    expect(s1.pages).toBeGreaterThanOrEqual(1990);
    expect(s1.pages).toBeLessThanOrEqual(2001);
    vi.advanceTimersByTime(5000); // paused: no debt accrues
    engine.resume();
    vi.advanceTimersByTime(1000);
    const s2 = engine.stop();
    expect(s2.pages - s1.pages).toBeGreaterThanOrEqual(990);
    expect(s2.pages - s1.pages).toBeLessThanOrEqual(1001);
  });

  it('writes at fractions of a page per second, and sleeps in bounded steps at very slow rates', () => {
    const { engine } = setup();
    engine.start({ pattern: 'uniform', rate: 0.5, seed: 2 });
    vi.advanceTimersByTime(10_000);
    const half = engine.stop().pages;
    expect(half).toBeGreaterThanOrEqual(4);
    expect(half).toBeLessThanOrEqual(5);
    engine.start({ pattern: 'uniform', rate: 1e-12, seed: 2 }); // a wait of ~31,000 years, beyond any timer
    vi.advanceTimersByTime(3_600_000);
    expect(engine.stop().pages).toBe(half);
    expect(vi.getTimerCount()).toBe(0); // stop() left no timer behind
  });

  it('keeps batches to batchPages, never splitting a 512-page burst', () => {
    const { a, engine } = setup();
    engine.start({ pattern: 'burst', rate: 'max', seed: 4, batchPages: 100 });
    vi.advanceTimersByTime(3);
    const s = engine.stop();
    expect(a.calls.every((r) => r.count === 512 && r.page % 512 === 0)).toBe(true);
    expect(s.writes).toBe(s.batches); // one whole burst per batch: 512 >= 100
  });

  it('counts per pattern across starts, and resets on attach', () => {
    const { gt, a, engine } = setup();
    engine.start({ pattern: 'hotset', rate: 'max', seed: 1, batchPages: 10 });
    vi.advanceTimersByTime(1);
    engine.stop();
    engine.start({ pattern: 'burst', rate: 'max', seed: 1, batchPages: 10 });
    vi.advanceTimersByTime(1);
    const s = engine.stop();
    expect(s.perPattern.hotset.pages + s.perPattern.burst.pages).toBe(s.pages);
    expect(s.perPattern.hotset.writes).toBeGreaterThan(0);
    expect(s.perPattern.burst.pages % 512).toBe(0);
    expect(s.perPattern.uniform).toEqual({ writes: 0, pages: 0 });
    expect(a.calls.reduce((x, r) => x + r.count, 0)).toBe(s.pages);
    engine.attach(gt, [a]);
    expect(engine.stats()).toMatchObject({ state: 'ready', pages: 0, writes: 0, unmarkedPages: { iommu: 0 } });
  });

  it('counts the pages of writes a source took nothing of', () => {
    const { engine } = setup((page) => (page % 2 === 0 ? 1 : 0));
    engine.start({ pattern: 'uniform', rate: 'max', seed: 8, batchPages: 200 });
    vi.advanceTimersByTime(1);
    const s = engine.stop();
    expect(s.unmarkedPages.iommu).toBe(0);
    expect(s.unmarkedPages.vf0).toBeGreaterThan(0);
    expect(s.unmarkedPages.vf0).toBeLessThan(s.pages);
  });

  it('writes only inside the region it was given', () => {
    const { a, engine } = setup();
    const region = { iova: BigInt(BASE_PAGE + 1000) << 12n, length: 300n << 12n };
    engine.start({ pattern: 'sequential', rate: 'max', seed: 5, region, batchPages: 50 });
    vi.advanceTimersByTime(10);
    engine.stop();
    expect(a.calls.length).toBeGreaterThan(20); // > 300 pages: the stream wrapped
    for (const r of a.calls) {
      expect(r.page).toBeGreaterThanOrEqual(BASE_PAGE + 1000);
      expect(r.page + r.count).toBeLessThanOrEqual(BASE_PAGE + 1300);
    }
  });

  it('rejects bad calls with the right code and without changing state', () => {
    const engine = new DeviceEngine();
    expect(codeOf(() => engine.start({ pattern: 'uniform', rate: 'max', seed: 1 }))).toBe('EINVAL'); // nothing attached
    const big = new IovaBitmap({ iova: 0, length: 1n << 24n, pageSize: 8192 });
    expect(codeOf(() => engine.attach(big, []))).toBe('EINVAL');
    const { gt, a, engine: e } = setup();
    expect(codeOf(() => e.attach(gt, [a, a]))).toBe('EINVAL');
    expect(codeOf(() => e.pause())).toBe('EINVAL');
    expect(codeOf(() => e.resume())).toBe('EINVAL');
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: -1, seed: 1 }))).toBe('EINVAL');
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 0, seed: 1 }))).toBe('EINVAL'); // 'max' means full speed, 0 is a mistake
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 'max', seed: 1.5 }))).toBe('EINVAL');
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 'max', seed: 1, batchPages: 0 }))).toBe('EINVAL');
    expect(codeOf(() => e.start({ pattern: 'nope' as 'uniform', rate: 'max', seed: 1 }))).toBe('EINVAL');
    const outside = { iova: BigInt(BASE_PAGE + PAGES - 1) << 12n, length: 2n << 12n };
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 'max', seed: 1, region: outside }))).toBe('EINVAL');
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 'max', seed: 1, region: { iova: 4097, length: 4096 } }))).toBe('EINVAL');
    expect(e.state).toBe('ready');
    vi.advanceTimersByTime(10);
    expect(a.calls.length).toBe(0);
    e.start({ pattern: 'uniform', rate: 'max', seed: 1 });
    expect(codeOf(() => e.start({ pattern: 'uniform', rate: 'max', seed: 1 }))).toBe('EBUSY');
    expect(codeOf(() => e.attach(gt, [a]))).toBe('EBUSY');
    e.stop();
  });
});
