/**
 * A tiny real benchmark run (64 MiB of IOVA, both sources, every implementation, the engine on one
 * and two workers) and everything made from it: the result records, the versioned JSON, the
 * terminal table, the Markdown report and the SVG charts. No timing is asserted, only the
 * arithmetic that ties the fields together and the shape of the outputs.
 */
import { getEventListeners } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, parseBenchFile, runBench, type BenchFile, type Scenario, type WorkloadSpec } from '@iovabitmap/bench';
import { chartsOf, renderMarkdown, renderSvg, renderTable, sweepChart, toJson, toolVersion, workloadKey } from '@iovabitmap/bench/internal';
import { schemaErrors } from '../helpers/schemas.js';
import { MiB } from '../helpers/sizes.js';
import { rejection } from '../helpers/rejection.js';

const workload: WorkloadSpec = { iovaBytes: 64n * MiB, leafBytes: 4096n, density: 0.05, pattern: 'clustered', source: 'both', format: 'amd-v1', seed: 9 };
const scenarios: Scenario[] = [
  {
    id: 'threads/tiny',
    group: 'threads',
    workload,
    workloadKey: workloadKey(workload),
    runs: [
      { impl: 'engine', threads: 1 },
      { impl: 'engine', threads: 2 },
      { impl: 'sequential', threads: 1 },
      { impl: 'per-bit-atomic', threads: 1 },
      { impl: 'read-limit', threads: 1 },
    ],
  },
  {
    id: 'density/tiny',
    group: 'density',
    workload,
    workloadKey: workloadKey(workload),
    runs: [
      { impl: 'engine', threads: 2 },
      { impl: 'sequential', threads: 1 },
    ],
  },
];

let file: BenchFile;
const seen: string[] = [];

beforeAll(async () => {
  file = await runBench({
    scenarios,
    timeMs: 1,
    minIterations: 2,
    warmupMs: 1,
    warmupIterations: 1,
    threads: [1, 2],
    seed: 9,
    observer: { start: () => {}, measuring: () => {}, measured: (label) => seen.push(label), skipped: () => {}, note: () => {}, stop: () => {} },
  });
}, 60_000);

describe('a run with a signal', () => {
  it('leaves no abort listener behind on the caller’s signal (tinybench never removes its own: one per cell piled up)', async () => {
    const ac = new AbortController();
    const quiet = { start: () => {}, measuring: () => {}, measured: () => {}, skipped: () => {}, note: () => {}, stop: () => {} };
    await runBench({ scenarios, timeMs: 1, minIterations: 1, warmupMs: 0, warmupIterations: 0, threads: [1, 2], seed: 9, signal: ac.signal, observer: quiet });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  }, 60_000);
});

describe('a tiny real run', () => {
  it('gives one record per measurement, reusing a cell that two scenarios list', () => {
    expect(file.results.map((r) => `${r.group} ${r.impl} ${r.threads}`)).toEqual([
      'threads engine 1',
      'threads engine 2',
      'threads sequential 1',
      'threads per-bit-atomic 1',
      'threads read-limit 1',
      'density engine 2',
      'density sequential 1',
      ]);
    const [, e2] = file.results;
    const d2 = file.results[5]!;
    expect(d2.medianMs).toBe(e2!.medianMs); // measured once, reported in both groups
    expect(seen).toHaveLength(7);
  });

  it('fills every field with its unit and the workload facts', () => {
    const pages = Number(64n * MiB) / 4096;
    for (const r of file.results) {
      expect(r.source).toBe('both');
      expect(r.format).toBe('amd-v1');
      expect(r.leafBytes).toBe(4096n);
      expect(r.trackerPageBytes).toBe(4096n);
      expect(r.bitmapPageBytes).toBe(4096n);
      expect(r.iovaBytes).toBe(64n * MiB);
      expect(r.density).toBe(0.05);
      expect(r.pattern).toBe('clustered');
      expect(r.leafEntries).toBe(2 * pages); // page-table leaves + tracker pages
      expect(r.bitsExpected).toBe(r.dirtyUnits);
      expect(r.dirtyUnits).toBeGreaterThan(pages * 0.02);
      expect(r.dirtyUnits).toBeLessThan(pages * 0.1);
      expect(r.medianMs).toBeGreaterThan(0);
      expect(r.medianCallMs).toBeGreaterThan(0);
      expect(r.samples).toBeGreaterThanOrEqual(2);
      expect(Number.isFinite(r.rme)).toBe(true);
      expect(r.nsPerPte).toBeCloseTo((r.medianMs * 1e6) / r.leafEntries, 9);
      expect(r.gibPerSec).toBeCloseTo(1 / 16 / (r.medianMs / 1000), 6);
    }
  });

  it('derives the ratios from medians of the same scenario, null where they do not apply', () => {
    const by = (impl: string, threads = 1) => file.results.find((r) => r.group === 'threads' && r.impl === impl && r.threads === threads)!;
    const seq = by('sequential');
    const e1 = by('engine');
    const e2 = by('engine', 2);
    const rl = by('read-limit');
    expect(e1.speedupVs1Thread).toBe(1);
    expect(e2.speedupVs1Thread).toBeCloseTo(e1.medianMs / e2.medianMs, 12);
    expect(seq.speedupVs1Thread).toBeNull();
    expect(seq.speedupVsSequential).toBe(1);
    expect(e2.speedupVsSequential).toBeCloseTo(seq.medianMs / e2.medianMs, 12);
    expect(e2.pctOfReadLimit).toBeCloseTo((rl.medianMs / e2.medianMs) * 100, 12);
    expect(rl.pctOfReadLimit).toBeNull();
    expect(e1.poolOverheadPct).toBeCloseTo(((e1.medianMs - seq.medianMs) / seq.medianMs) * 100, 12);
    expect(e2.poolOverheadPct).toBeNull();
    expect(by('per-bit-atomic').poolOverheadPct).toBeNull();
  });

  it('describes the machine and the run', () => {
    expect(file.schemaVersion).toBe(SCHEMA_VERSION);
    expect(file.machine.cores).toBeGreaterThan(0);
    expect(file.machine.node).toBe(process.version);
    expect(file.machine.v8).toBe(process.versions.v8);
    expect(new Date(file.machine.date).toISOString()).toBe(file.machine.date);
    expect(file.run.threads).toEqual([1, 2]);
    expect(file.run.wallMs).toBeGreaterThan(0);
  });
});

describe('the JSON format', () => {
  it('validates against the shipped schema (schemas/bench.schema.json), which refuses a field it does not know', () => {
    const raw = JSON.parse(toJson(file));
    expect(schemaErrors(raw)).toEqual([]);
    expect(schemaErrors({ ...raw, extra: 1 }).join('\n')).toMatch(/unevaluated/);
    expect(schemaErrors({ ...raw, results: [{ ...raw.results[0], samplesMs: 'x' }] }).join('\n')).toMatch(/samplesMs/);
  });

  it('reads a schema v1 file (no samples, no header) as v2, with its flags derived', () => {
    const raw = JSON.parse(toJson(file));
    const v1 = {
      schemaVersion: 1,
      tool: 'iovabitmap bench',
      machine: raw.machine,
      run: { ...raw.run, warmupMs: undefined },
      results: raw.results.map((r: Record<string, unknown>) => ({ ...r, samplesMs: undefined, flags: undefined, rme: 45 })),
    };
    const read = parseBenchFile(JSON.stringify(v1));
    expect(read.schemaVersion).toBe(2);
    expect(read.tool.version).toBeNull();
    expect(read.complete).toBe(true);
    expect(read.run.warmupMs).toBeNull();
    expect(read.results.map((r) => r.samplesMs)).toEqual(read.results.map(() => []));
    expect(read.results.every((r) => r.flags.includes('noisy'))).toBe(true);
  });

  it('writes bigints as decimal strings and reads back the same file', () => {
    const text = toJson(file);
    const raw = JSON.parse(text);
    expect(raw.schemaVersion).toBe(2);
    expect(raw.document).toBe('bench');
    expect(raw.complete).toBe(true);
    expect(raw.tool).toEqual({ name: 'iovabitmap', command: 'bench', version: toolVersion() });
    expect(raw.results[0].samplesMs.length).toBe(raw.results[0].samples);
    expect(raw.results[0].iovaBytes).toBe(String(64n * MiB));
    expect(raw.results[0].leafBytes).toBe('4096');
    expect(typeof raw.machine.totalMemoryBytes).toBe('string');
    expect(parseBenchFile(text)).toEqual(file);
  });

  it('refuses another schema version and names a missing field', () => {
    const raw = JSON.parse(toJson(file));
    expect(() => parseBenchFile(JSON.stringify({ ...raw, schemaVersion: 3 }))).toThrow(/schemaVersion/);
    delete raw.results[1].nsPerPte;
    const e = rejection(() => parseBenchFile(JSON.stringify(raw)));
    expect(e.code).toBe('EINVAL');
    expect(e.message).toContain('results[1]');
    expect(e.message).toContain('nsPerPte');
  });
});

describe('the outputs', () => {
  it('the terminal table and the Markdown report show one row per record, a section per group and the machine', () => {
    const table = renderTable(file);
    const md = renderMarkdown(file);
    for (const text of [table, md]) {
      expect(text).toContain(file.machine.cpuModel);
      expect(text).toContain('per-bit-atomic');
      expect(text).toContain('read-limit');
    }
    expect(md).toContain('## threads');
    expect(md).toContain('## density');
    expect(md.split('\n').filter((l) => l.startsWith('| tiny |'))).toHaveLength(file.results.length);
  });

  it('renders one chart against threads and one against density, as SVG, with what a reader needs to trust it', async () => {
    const charts = chartsOf({ ...file, machine: { ...file.machine, cores: 1 } }); // 2 threads on "1 core": oversubscribed
    expect(charts.map((c) => c.file)).toEqual(['threads-tiny.svg', 'density-64MiB@4KiB-clustered-both-amd-v1.svg']);
    const [threads, density] = await Promise.all(charts.map((c) => renderSvg(c.spec)));
    const machine = `${file.machine.cpuModel}, 1 logical CPUs, Node ${file.machine.node}, ${file.machine.date.slice(0, 10)}`;
    for (const svg of [threads!, density!]) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain(machine); // machine, cores, Node version and date on each chart
      expect(svg).toContain('GiB of IOVA per second (log scale)');
      expect(svg).toContain('64 MiB of IOVA at 4 KiB leaves'); // a human subtitle, not the scenario id
      expect(svg).not.toContain('threads/tiny');
      // error bars: vega-lite's errorbar draws rule marks with ticks, one per point
      expect((svg.match(/class="mark-rule role-mark [^"]*errorbar/g) ?? []).length).toBeGreaterThan(0);
      expect(svg).toContain('single thread, no thread axis (dashed)'); // the dashed lines explained in the legend
    }
    expect(threads).toContain('Throughput against worker threads');
    expect(threads).toContain('oversubscribed (&gt; 1 cores)');
    expect(density).toContain('Throughput against dirty density');
    expect(density).toContain('dirty density, % (symlog scale)');
    expect(density).toContain('engine ×2 (oversubscribed)');
    // the density axis is quantitative on a symlog scale, not ordinal
    const x = (charts[1]!.spec as { layer: { encoding: { x: { type: string; scale: { type: string } } } }[] }).layer[0]!.encoding.x;
    expect([x.type, x.scale.type]).toEqual(['quantitative', 'symlog']);
  });

  it("renders the migrate sweep's chart: a bar per cell, a tick per process, the target band, the machine", async () => {
    const cells = [
      { size: '64GiB', pattern: 'uniform', rate: '1M/s', error: 0.25, errors: [0.25, 0.1, 0.6] },
      { size: '1TiB', pattern: 'hotset', rate: '2M/s', error: -0.05, errors: [-0.05, 0.02, -0.1] },
    ];
    const spec = sweepChart(cells, file.machine, '10 Gbit/s link', 20);
    const svg = await renderSvg(spec);
    expect(svg).toContain('Downtime prediction error per sweep cell');
    expect(svg).toContain(`${file.machine.cpuModel}, ${file.machine.cores} logical CPUs`);
    expect(svg).toContain('band: ±20 %');
    expect(svg).toContain('64GiB uniform 1M/s');
    expect((svg.match(/class="mark-rect role-mark/g) ?? []).length).toBeGreaterThan(0);
    const layers = (spec as { layer: { mark: { type: string }; data: { values: { pct: number }[] } }[] }).layer;
    expect(layers.find((l) => l.mark.type === 'bar')!.data.values.map((v) => v.pct)).toEqual([25, -5]);
    expect(layers.find((l) => l.mark.type === 'tick')!.data.values).toHaveLength(6);
  });
});
