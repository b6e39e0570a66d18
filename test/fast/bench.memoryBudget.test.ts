/**
 * The memory check of the CLI (packages/bench/src/memoryBudget.ts): the estimate covers what a
 * workload really allocates, the fit rule is "at most 75% of the free memory", the refusal is one
 * line naming every part, and the bench plan follows the runner's build-and-drop order.
 */
import { describe, expect, it } from 'vitest';
import { buildMatrix, type WorkloadSpec } from '@iovabitmap/bench';
import { FIT_FRACTION, WORKER_BYTES, benchBitmap, benchPlan, buildWorkload, checkMemory, estimateMemory, layoutMappings, migratePlan, planBytes, sourceMemory, workloadPlan, type MigrateCommandOptions } from '@iovabitmap/bench/internal';
import { rejection } from '../helpers/rejection.js';
import { GiB, MiB } from '../helpers/sizes.js';


describe('memory estimate of the commands', () => {
  it('covers what a built workload really holds (sources, their snapshot, the bitmap)', () => {
    const spec: WorkloadSpec = { iovaBytes: 256n * MiB, leafBytes: 4096n, density: 0.01, pattern: 'uniform', source: 'both', format: 'vtd-ss', seed: 1 };
    const w = buildWorkload(spec);
    const sources = w.sources.flatMap((s) => sourceMemory(s)).reduce((n, b) => n + b.byteLength, 0);
    const parts = Object.fromEntries(estimateMemory(workloadPlan(spec)).map((p) => [p.what, p.bytes]));
    expect(parts['page table']! + parts['tracker records']!).toBeGreaterThanOrEqual(sources - 4096); // the tracker's header and tables: < 4 KiB
    expect(parts['snapshot of the sources']).toBe(parts['page table']! + parts['tracker records']!);
    expect(parts.bitmap).toBe(benchBitmap(w.bitmap.iova, w.bitmap.length, 4096n).buffer.byteLength);
    expect(parts['page table']).toBeLessThan(Number(sources) + 64 * 2 ** 20 + 1); // exact tables plus at most one segment of slack
  });

  it('refuses a plan above 75% of the free memory in one line naming each part, and lets one below pass', () => {
    const plan = { tables: [{ format: 'vtd-ss' as const, mappings: [{ iova: 0n, length: 64n * GiB, leaf: 4096n }] }], workers: 2 };
    const needed = planBytes(plan);
    expect(needed).toBe((32768 + 64 + 1 + 1) * 4096 + 64 * 2 ** 20 + 2 * WORKER_BYTES); // leaf tables, level 2, level 3, root; slack; workers
    const just = { totalBytes: 64 * 2 ** 30, freeBytes: Math.ceil(needed / FIT_FRACTION) };
    expect(checkMemory('iovabitmap test', plan, 'try less', just).map((p) => p.what)).toEqual(['page table', '2 workers']);
    const e = rejection(() => checkMemory('iovabitmap test', plan, 'try less', { ...just, freeBytes: just.freeBytes - 8 }));
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toBe(`iovabitmap test: needs about 252 MiB (page table 192 MiB, 2 workers 60 MiB), more than 75% of the 336 MiB free of 64 GiB on this machine; try less`);
    expect(e.message).not.toContain('\n');
  });

  it('prices migrate: the mixed layout, the ground truth, two bitmaps at the bitmap page size, a byte per page twice, pool and device', () => {
    const o: MigrateCommandOptions = {
      iovaSize: 1n << 40n,
      leaf: 'mixed',
      format: 'vtd-ss',
      sources: 'both',
      bitmapPageSize: 4096n,
      rounds: 5,
      maxRounds: 30,
      bandwidth: 1_250_000_000n,
      downtimeLimit: 300,
      threads: 2,
      pattern: 'uniform',
      rate: 'max',
      roundInterval: 0,
      seed: 1,
      verifyEachRound: false,
    };
    const parts = Object.fromEntries(estimateMemory(migratePlan(o, layoutMappings(4n * GiB, o.iovaSize, 'mixed'))).map((p) => [p.what, p.bytes]));
    expect(parts.bitmaps).toBe(3 * 32 * 2 ** 20); // the ground truth, the round bitmap, the union
    expect(parts['write epochs']).toBe(256 * 2 ** 20); // a byte per 4 KiB page
    expect(parts['last-report bytes']).toBe(256 * 2 ** 20); // a byte per bitmap page
    expect(parts['tracker records']).toBe(32 * 2 ** 20);
    expect(parts['3 workers']).toBe(3 * WORKER_BYTES);
    expect(parts['page table']! - 64 * 2 ** 20).toBeGreaterThan(128 * 2 ** 20); // the README's "page table 132 MiB"
    expect(parts['page table']! - 64 * 2 ** 20).toBeLessThan(136 * 2 ** 20);
  });

  it('prices bench at the peak of the runner: workloads alive together, one pool per thread count', () => {
    const scenarios = buildMatrix({ cores: 2, threads: [1, 2, 4], formats: ['vtd-ss', 'amd-v1', 'smmu-v3'] });
    const plan = benchPlan(scenarios);
    expect(plan.workers).toBe(1 + 2 + 4);
    const single = planBytes(workloadPlan(scenarios[0]!.workload));
    // The 64 GiB baseline (128 MiB of tables, snapshot, bitmap) stays alive while the other groups
    // build theirs, up to the scale group's 1% cell; so does the leaf group's 16 TiB @ 1 GiB 1%
    // workload, which is the scale group's too. The peak: both next to the scale group's 0.01% one,
    // each 16 TiB workload with two 512 MiB bitmaps (with and without the summary, for engine-flat).
    const scale16 = planBytes(workloadPlan(scenarios.find((s) => s.id.startsWith('scale/16TiB'))!.workload, true));
    expect(scale16).toBeGreaterThan(2 * 512 * 2 ** 20);
    expect(planBytes(plan)).toBeGreaterThan(2 * scale16 + 7 * WORKER_BYTES);
    expect(planBytes(plan)).toBeLessThan(2 * scale16 + single + 7 * WORKER_BYTES);
  });
});
