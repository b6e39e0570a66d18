/**
 * The `scale` benchmark group: the matrix lists it, a tiny real run of it has both pool
 * implementations (`engine` on the bitmap with its summary, `engine-flat` on one without) and both
 * yardsticks (`bitmap-pass`, `dirty-fill`), its JSON validates against the shipped schema, its
 * charts render; and the two pool implementations write identical bitmaps, which the fill's bytes
 * reproduce when the dirty units are whole bytes. No timing is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { bitmapViews } from '@iovabitmap/core/internal';
import { ReportPool } from '@iovabitmap/workers';
import { buildMatrix, parseBenchFile, runBench, type BenchFile, type Scenario, type WorkloadSpec } from '@iovabitmap/bench';
import { buildWorkload, chartsOf, fillBitRuns, renderMarkdown, renderSvg, significant, toJson, workloadKey } from '@iovabitmap/bench/internal';
import { schemaErrors } from '../helpers/schemas.js';
import { GiB, MiB } from '../helpers/sizes.js';

const formats = ['vtd-ss', 'amd-v1'];
const spec = (iovaBytes: bigint, leafBytes: bigint, density: number): WorkloadSpec => ({ iovaBytes, leafBytes, density, pattern: 'uniform', source: 'iommu', format: 'vtd-ss', seed: 5 });
const runs: Scenario['runs'] = [
  { impl: 'engine', threads: 2 },
  { impl: 'engine-flat', threads: 2 },
  { impl: 'bitmap-pass', threads: 1 },
  { impl: 'dirty-fill', threads: 1 },
];
const workloads = [spec(256n * MiB, 4096n, 0.01), spec(4n * GiB, 2n * MiB, 0.05), spec(4n * GiB, 2n * MiB, 1)];
const scenarios: Scenario[] = workloads.map((w) => ({ id: `scale/${workloadKey(w)}`, group: 'scale', workload: w, workloadKey: workloadKey(w), runs }));

let file: BenchFile;

beforeAll(async () => {
  file = await runBench({ scenarios, timeMs: 1, minIterations: 2, warmupMs: 1, warmupIterations: 1, threads: [2], seed: 5 });
}, 60_000);

function bytesOf(b: IovaBitmap): Uint8Array {
  const { words } = bitmapViews(b).views;
  return new Uint8Array(words.buffer, words.byteOffset, b.byteLength);
}

describe('the scale matrix', () => {
  it('lists 3 sizes x 0.01 %, 1 %, 100 % with engine and engine-flat at 2 workers and both yardsticks; --full adds 64 TiB @ 1 GiB', () => {
    const quick = buildMatrix({ cores: 2, formats }).filter((s) => s.group === 'scale');
    expect(quick.map((s) => s.id.split('/').slice(1, 3).join(' '))).toEqual([
      '64GiB@4KiB 0.01%', '64GiB@4KiB 1%', '64GiB@4KiB 100%',
      '1TiB@2MiB 0.01%', '1TiB@2MiB 1%', '1TiB@2MiB 100%',
      '16TiB@1GiB 0.01%', '16TiB@1GiB 1%', '16TiB@1GiB 100%',
    ]);
    for (const s of quick) expect(s.runs).toEqual(runs);
    const full = buildMatrix({ cores: 2, formats, full: true }).filter((s) => s.group === 'scale');
    expect(full.map((s) => s.id.split('/')[1])).toContain('64TiB@1GiB');
    expect(buildMatrix({ cores: 2, formats, filter: 'scale' }).every((s) => s.group === 'scale')).toBe(true);
  });
});

describe('a tiny real run of the scale group', () => {
  it('has one record per scenario and implementation: both pool implementations and both yardsticks', () => {
    expect(file.results.map((r) => `${r.impl}×${r.threads}`)).toEqual(workloads.flatMap(() => ['engine×2', 'engine-flat×2', 'bitmap-pass×1', 'dirty-fill×1']));
    for (const r of file.results) {
      expect(r.group).toBe('scale');
      expect(r.medianMs).toBeGreaterThan(0);
      expect(r.medianCallMs).toBeGreaterThanOrEqual(r.impl.startsWith('engine') ? r.medianMs : 0);
    }
  });

  it('writes JSON that validates against schemas/bench.schema.json and reads back the same', () => {
    const text = toJson(file);
    expect(schemaErrors(JSON.parse(text))).toEqual([]);
    expect(parseBenchFile(text)).toEqual(file);
  });

  it('renders the Markdown table and the cost charts (against guest size per density, against the dirty set per size)', async () => {
    const md = renderMarkdown(file);
    expect(md).toContain('## scale');
    for (const impl of ['engine-flat', 'bitmap-pass', 'dirty-fill']) expect(md).toContain(`| ${impl} |`);
    // the summary table: one row per size and density, engine ÷ pass from the same run's costs
    expect(md).toContain('| size | dirty | engine call | engine-flat call | bitmap-pass | dirty-fill | engine ÷ pass | engine ÷ flat | flat ÷ engine |');
    const [e, , p] = file.results;
    const row = md.split('\n').find((l) => l.startsWith('| 256MiB@4KiB | 1% |'))!;
    expect(row.split(' | ')[6]).toBe(`${significant(e!.medianCallMs / p!.medianMs)}×`);
    const charts = chartsOf(file);
    expect(charts.map((c) => c.file)).toEqual(['scale-size-1pct.svg', 'scale-size-5pct.svg', 'scale-size-100pct.svg', 'scale-dirty-256MiB@4KiB.svg', 'scale-dirty-4GiB@2MiB.svg']);
    const svg = await renderSvg(charts.at(-1)!.spec);
    expect(svg).toContain('ms per report call or yardstick (log scale)');
    for (const impl of ['engine', 'engine-flat', 'bitmap-pass', 'dirty-fill']) expect(svg).toContain(`>${impl}<`);
  });
});

describe('engine and engine-flat', () => {
  let pool: ReportPool;
  beforeAll(async () => {
    pool = new ReportPool({ threads: 2 });
    await pool.ready();
  });
  afterAll(() => pool.close());

  it.each(workloads.map((w) => [`${workloadKey(w)}`, w] as const))('write the same bitmap, %s; the dirty fill writes exactly its dirty bytes', async (_, w) => {
    const wl = buildWorkload(w);
    const flat = wl.flatBitmap();
    expect(bitmapViews(flat).summary).toBeUndefined();
    expect(bitmapViews(wl.bitmap).summary).toBeDefined();
    wl.restore();
    const a = await pool.report({ bitmap: wl.bitmap, sources: wl.sources });
    wl.restore(flat);
    const b = await pool.report({ bitmap: flat, sources: wl.sources });
    expect(a.bitsSet).toBe(wl.bitsExpected);
    expect(b.bitsSet).toBe(wl.bitsExpected);
    expect(Buffer.from(bytesOf(flat)).equals(Buffer.from(bytesOf(wl.bitmap)))).toBe(true);
    const filled = new Uint8Array(wl.bitmap.byteLength);
    const n = fillBitRuns(filled, wl.dirtyRuns);
    // the fill writes exactly the bytes that hold a dirty bit; whole bytes, so equal bytes at 2 MiB leaves
    const dirtyBytes = (b: Uint8Array): number[] => [...b.keys()].filter((i) => b[i] !== 0);
    expect(dirtyBytes(filled)).toEqual(dirtyBytes(bytesOf(wl.bitmap)));
    expect(n).toBeGreaterThanOrEqual(dirtyBytes(filled).length); // a byte shared by two runs is written twice
    if (w.leafBytes >= 32768n) expect(Buffer.from(filled).equals(Buffer.from(bytesOf(wl.bitmap)))).toBe(true);
  });
});
