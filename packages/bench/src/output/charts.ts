/**
 * SVG charts of a run, drawn by vega-lite → vega, headless.
 *
 * Theory of operation
 * -------------------
 * Two kinds of chart, one series per implementation, throughput in GiB of IOVA per second on a log
 * axis (the implementations differ by orders of magnitude; the axis title says "log scale"):
 * - *against threads*, one chart per scenario of the `threads` group: the engine's line over its
 *   thread counts; the single-threaded implementations (sequential, per-bit-atomic, read-limit)
 *   as dashed horizontal rules at their throughput, since they have no thread axis; the legend
 *   says so (a second legend, by line style). Thread counts above the machine's cores are on a
 *   shaded band labelled "oversubscribed".
 * - *against density*, one chart per (space, pattern, sources, format) of the `density` group:
 *   density on a quantitative symlog axis (0, 1%, 50%, 100% at their distances: 0 → 1% is short,
 *   1% → 50% long), one line per implementation (the engine once per thread count; a count above
 *   the cores is labelled oversubscribed). Cells flagged `no-dirty-units` are left out (they did
 *   not measure their density).
 * - *scale* (the `scale` group), cost in milliseconds on a log axis, one series per implementation
 *   (`engine`, `engine-flat` solid, the yardsticks `bitmap-pass`, `dirty-fill` dashed; ./schema.ts costMs:
 *   the whole call for the pool implementations): one chart *against guest size* per density
 *   (IOVA bytes, log axis) and one *against the dirty set* per size (density, log axis). No error
 *   bars: the call's samples are not kept, only its median (the records' spread is the walk's).
 * - *prediction sweep* (the migrate bench's sweep, ../benches/migrate.bench.ts): per cell (size,
 *   pattern, rate) the median over processes of the downtime prediction's relative error as a
 *   bar, each process's error as a tick (the spread the median hides), the ±target band shaded.
 * Every point of the throughput charts has an error bar: the 95% interval of its median (./schema.ts medianIntervalMs: from
 * the samples, or ± rme for a v1 file) turned into throughput. Every chart's subtitle says the
 * workload in words and, on a second line, the machine: CPU, cores, Node version, date.
 *
 * A vega-lite spec is compiled to vega and rendered by `vega.View(...).toSVG()` with the `none`
 * renderer, which needs no canvas (text widths are estimated). File names are slugs of the
 * scenario, so reruns overwrite the same files.
 *
 * vega and vega-lite (42 MB with their dependencies, as npm installs them) are optional peer
 * dependencies of this package, imported only when a chart is rendered: a consumer who never
 * writes charts does not install them, and `--charts` without them is refused before the run
 * ({@link checkChartRenderer}) with the command that installs them. Only the type of a spec is
 * imported statically (erased from the JavaScript).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { IovaBitmapError } from '@iovabitmap/core';
import { costMs, medianIntervalMs, onPool, type BenchFile, type ResultRecord } from './schema.js';
import type { MachineInfo } from './document.js';
import { spaceLabel } from '../harness/scenarios.js';
import { formatBytes, formatRate } from '../units.js';
import { makeDirs } from './outputPaths.js';
import { packageInfo } from '../packageInfo.js';

/** One chart to write. */
export interface ChartSpec {
  /** File name, `*.svg`. */
  readonly file: string;
  /** The vega-lite specification. */
  readonly spec: TopLevelSpec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** Line style legend: what solid and dashed mean. */
const ENGINE_KIND = 'engine: over worker threads (solid)';
const SINGLE_KIND = 'single thread, no thread axis (dashed)';

const slug = (s: string): string => s.replace(/[^A-Za-z0-9.@]+/g, '-').replace(/^-|-$/g, '');
const Y = { field: 'gibPerSec', type: 'quantitative', title: 'GiB of IOVA per second (log scale)', scale: { type: 'log' } } as const;
const LEGEND = { symbolType: 'stroke', symbolStrokeWidth: 2, labelLimit: 320 } as const;
const COLOR = { field: 'series', type: 'nominal', title: 'implementation', legend: LEGEND } as const;
const DASH = {
  field: 'kind',
  type: 'nominal',
  title: 'line style',
  scale: { domain: [ENGINE_KIND, SINGLE_KIND], range: [[1, 0], [6, 4]] },
  legend: { ...LEGEND, symbolSize: 400, encode: { symbols: { update: { stroke: { value: '#444444' } } } } },
} as const;

/** The error bars layer (named, so that its marks are recognisable in the SVG: `errorbars_*`). */
const ERRORBARS = (x: object): object => ({
  name: 'errorbars',
  mark: { type: 'errorbar', ticks: true },
  encoding: { x, y: { ...Y, field: 'gibLo' }, y2: { field: 'gibHi' }, color: COLOR },
});

const SOURCE_WORDS: Readonly<Record<string, string>> = { iommu: 'IOMMU walk', vf: 'VF tracker', both: 'IOMMU walk + VF tracker' };

/** The workload of a record in words: `64 GiB at 4 KiB leaves, uniform, IOMMU walk (vtd-ss)`; `density` adds the density. */
export function workloadWords(r: ResultRecord, density = true): string {
  const dirty = density ? `, ${formatRate(r.density)} dirty` : '';
  return `${formatBytes(r.iovaBytes)} of IOVA at ${formatBytes(r.leafBytes)} leaves${dirty} (${r.pattern}), ${SOURCE_WORDS[r.source] ?? r.source}${r.format === null ? '' : ` (${r.format})`}`;
}

/** The machine line of a chart. */
function machineWords(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} logical CPUs, Node ${m.node}, ${m.date.slice(0, 10)}`;
}

/**
 * A record as a chart point: throughput at the median and its interval, and what the legend
 * needs. `byThreads`: the engine is one series over its thread counts (threads chart), else one
 * series per thread count.
 */
function point(r: ResultRecord, cores: number, byThreads = false): Record<string, unknown> {
  const { loMs, hiMs } = medianIntervalMs(r);
  const gib = r.gibPerSec * r.medianMs; // GiB/s × ms: throughput = gib / ms
  const over = r.impl === 'engine' && r.threads > cores;
  return {
    series: r.impl !== 'engine' ? r.impl : byThreads ? 'engine' : `engine ×${r.threads}${over ? ' (oversubscribed)' : ''}`,
    kind: r.impl === 'engine' ? ENGINE_KIND : SINGLE_KIND,
    threads: r.threads,
    densityPct: r.density * 100,
    gibPerSec: r.gibPerSec,
    gibLo: hiMs > 0 ? gib / hiMs : r.gibPerSec,
    gibHi: loMs > 0 ? gib / loMs : r.gibPerSec,
  };
}

/** The chart renderer, loaded on first use. */
interface Renderer {
  readonly vega: typeof import('vega');
  readonly compile: typeof import('vega-lite').compile;
}

const RENDERER_PACKAGES = ['vega', 'vega-lite'] as const;
let renderer: Promise<Renderer> | undefined;

/** The error for a renderer that cannot be imported: EOPNOTSUPP naming the install command when a package is missing. */
function rendererError(e: unknown): unknown {
  const missing = (e as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND' && RENDERER_PACKAGES.some((p) => String((e as Error).message).includes(`'${p}'`));
  if (!missing) return e;
  const { name, peerDependencies } = packageInfo();
  const install = RENDERER_PACKAGES.map((p) => `"${p}@${peerDependencies[p] ?? 'latest'}"`).join(' ');
  return new IovaBitmapError('EOPNOTSUPP', `charts need vega and vega-lite, optional peer dependencies of ${name} that are not installed: npm install ${install}`);
}

function loadRenderer(): Promise<Renderer> {
  renderer ??= Promise.all([import('vega'), import('vega-lite')]).then(
    ([vega, vegaLite]) => ({ vega, compile: vegaLite.compile }),
    (e: unknown) => {
      renderer = undefined;
      throw rendererError(e);
    },
  );
  return renderer;
}

/**
 * Checks that charts can be rendered (vega and vega-lite import).
 * @throws IovaBitmapError `EOPNOTSUPP` when one of them is not installed, with the npm command that installs both.
 */
export async function checkChartRenderer(): Promise<void> {
  await loadRenderer();
}

/**
 * Renders a vega-lite spec to an SVG document.
 * @throws IovaBitmapError `EOPNOTSUPP` when vega or vega-lite is not installed (see {@link checkChartRenderer}).
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, compile } = await loadRenderer();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The throughput-against-threads chart of one scenario, measured on `machine`. */
export function threadsChart(records: readonly ResultRecord[], machine: MachineInfo): TopLevelSpec {
  const cores = machine.cores;
  const multi = records.filter((r) => r.impl === 'engine').map((r) => point(r, cores, true));
  const single = records.filter((r) => r.impl !== 'engine').map((r) => point(r, cores));
  const threads = [...new Set(multi.map((m) => m.threads as number))].sort((a, b) => a - b);
  const maxThreads = threads.at(-1) ?? 1;
  const x = { field: 'threads', type: 'quantitative', title: 'worker threads', scale: { domain: [0.5, maxThreads + 0.5] }, axis: { values: threads, format: 'd' } } as const;
  const layers: unknown[] = [];
  if (maxThreads > cores) {
    layers.push(
      { data: { values: [{ from: cores + 0.5, to: maxThreads + 0.5 }] }, mark: { type: 'rect', color: '#eeeeee' }, encoding: { x: { field: 'from', type: 'quantitative', scale: x.scale }, x2: { field: 'to' } } },
      {
        data: { values: [{ at: (cores + 0.5 + maxThreads + 0.5) / 2, text: `oversubscribed (> ${cores} cores)` }] },
        mark: { type: 'text', baseline: 'top', y: 4, color: '#666666' },
        encoding: { x: { field: 'at', type: 'quantitative', scale: x.scale }, text: { field: 'text' } },
      },
    );
  }
  layers.push(
    {
      data: { values: multi },
      layer: [
        { mark: { type: 'line', point: true }, encoding: { x, y: Y, color: COLOR, strokeDash: DASH } },
        ERRORBARS(x),
      ],
    },
    { data: { values: single }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { y: Y, color: COLOR, strokeDash: DASH } },
    // The baselines' intervals: a thin band around each dashed rule.
    { data: { values: single }, mark: { type: 'rect', opacity: 0.15 }, encoding: { y: { ...Y, field: 'gibLo' }, y2: { field: 'gibHi' }, color: COLOR } },
  );
  return {
    $schema: SCHEMA,
    title: { text: 'Throughput against worker threads', subtitle: [workloadWords(records[0]!), machineWords(machine)] },
    width: 480,
    height: 300,
    layer: layers,
  } as TopLevelSpec;
}

/** The throughput-against-density chart of records that differ only in density, measured on `machine`. */
export function densityChart(records: readonly ResultRecord[], machine: MachineInfo): TopLevelSpec {
  const values = records.filter((r) => !r.flags.includes('no-dirty-units')).map((r) => point(r, machine.cores));
  const densities = [...new Set(values.map((v) => v.densityPct as number))].sort((a, b) => a - b);
  const x = {
    field: 'densityPct',
    type: 'quantitative',
    title: 'dirty density, % (symlog scale)',
    scale: { type: 'symlog', constant: 1 },
    axis: { values: densities, labelExpr: "datum.value + '%'" },
  } as const;
  return {
    $schema: SCHEMA,
    title: { text: 'Throughput against dirty density', subtitle: [workloadWords(records[0]!, false), machineWords(machine)] },
    width: 480,
    height: 300,
    data: { values },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x, y: Y, color: COLOR, strokeDash: DASH, order: { field: 'densityPct', type: 'quantitative' } } },
      ERRORBARS(x),
    ],
  } as TopLevelSpec;
}

/** A `scale` record as a chart point: its cost (./schema.ts costMs), size and density. */
function costPoint(r: ResultRecord): Record<string, unknown> {
  return { series: r.impl, kind: onPool(r.impl) ? CALL_KIND : YARDSTICK_KIND, costMs: costMs(r), gib: Number(r.iovaBytes) / 2 ** 30, size: spaceLabel(r), densityPct: r.density * 100 };
}

const CALL_KIND = 'report call (solid)';
const YARDSTICK_KIND = 'yardstick, one thread (dashed)';
const COST_DASH = { ...DASH, scale: { domain: [CALL_KIND, YARDSTICK_KIND], range: [[1, 0], [6, 4]] } } as const;

const COST_Y = { field: 'costMs', type: 'quantitative', title: 'ms per report call or yardstick (log scale)', scale: { type: 'log' } } as const;

/** A log-log cost chart of `scale` records over `x`. */
function costChart(records: readonly ResultRecord[], machine: MachineInfo, title: string, subtitle: string, x: object): TopLevelSpec {
  const values = records.filter((r) => !r.flags.includes('no-dirty-units')).map(costPoint);
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: [subtitle, machineWords(machine)] },
    width: 480,
    height: 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: { x, y: COST_Y, color: { ...COLOR, sort: [...new Set(values.map((v) => v.series as string))] }, strokeDash: COST_DASH },
  } as TopLevelSpec;
}

/** Cost against guest size, `scale` records at one density. */
export function scaleSizeChart(records: readonly ResultRecord[], machine: MachineInfo): TopLevelSpec {
  const r0 = records[0]!;
  const sizes = [...new Set(records.map((r) => Number(r.iovaBytes) / 2 ** 30))].sort((a, b) => a - b);
  const x = { field: 'gib', type: 'quantitative', title: 'guest IOVA size, GiB (log scale)', scale: { type: 'log' }, axis: { values: sizes, labelExpr: "datum.value >= 1024 ? datum.value / 1024 + ' TiB' : datum.value + ' GiB'" } };
  const leaves = [...new Set(records.map((r) => spaceLabel(r)))].join(', ');
  return costChart(records, machine, 'Report cost against guest size', `${formatRate(r0.density)} dirty (${r0.pattern}), ${leaves}, pool at ${Math.max(...records.map((r) => r.threads))} workers`, x);
}

/** Cost against the dirty set, `scale` records of one space. */
export function scaleDensityChart(records: readonly ResultRecord[], machine: MachineInfo): TopLevelSpec {
  const densities = [...new Set(records.map((r) => r.density * 100))].sort((a, b) => a - b);
  const x = { field: 'densityPct', type: 'quantitative', title: 'dirty, % of leaves (log scale)', scale: { type: 'log' }, axis: { values: densities, labelExpr: "datum.value + '%'" } };
  return costChart(records, machine, 'Report cost against the dirty set', `${workloadWords(records[0]!, false)}, pool at ${Math.max(...records.map((r) => r.threads))} workers`, x);
}

/** One cell of the migrate bench's prediction sweep. */
export interface SweepCell {
  /** `64GiB`, `1TiB`, ... */
  readonly size: string;
  readonly pattern: string;
  /** The device's rate, e.g. `1M/s`. */
  readonly rate: string;
  /** Median over the processes of (expected − actual) / actual. */
  readonly error: number;
  /** Each process's error. */
  readonly errors: readonly number[];
}

/**
 * The prediction sweep's chart: error per cell, bars the medians, ticks each process, the band
 * ±`targetPct` %. `subtitle`: the workload in words.
 */
export function sweepChart(cells: readonly SweepCell[], machine: MachineInfo, subtitle: string, targetPct: number): TopLevelSpec {
  const label = (c: SweepCell): string => `${c.size} ${c.pattern} ${c.rate}`;
  const x = { field: 'cell', type: 'nominal', title: null, sort: cells.map(label), axis: { labelAngle: -50, labelLimit: 200 } } as const;
  const y = { field: 'pct', type: 'quantitative', title: '(expected − actual) / actual downtime, %' } as const;
  const color = { field: 'size', type: 'nominal', title: 'guest size', scale: { domain: [...new Set(cells.map((c) => c.size))] }, legend: { orient: 'top-right' } } as const;
  return {
    $schema: SCHEMA,
    title: { text: 'Downtime prediction error per sweep cell', subtitle: [subtitle, `bars: median of the processes, ticks: each process; band: ±${targetPct} % (the target, at p90 of the cells)`, machineWords(machine)] },
    width: 640,
    height: 300,
    layer: [
      { data: { values: [{ lo: -targetPct, hi: targetPct }] }, mark: { type: 'rect', color: '#e6f2e6' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#888888' }, encoding: { y: { field: 'zero', type: 'quantitative' } } },
      { data: { values: cells.map((c) => ({ cell: label(c), size: c.size, pct: c.error * 100 })) }, mark: { type: 'bar', opacity: 0.8 }, encoding: { x, y, color } },
      {
        data: { values: cells.flatMap((c) => c.errors.map((e) => ({ cell: label(c), size: c.size, pct: e * 100 }))) },
        mark: { type: 'tick', color: '#222222', thickness: 1.5 },
        encoding: { x, y },
      },
    ],
  } as TopLevelSpec;
}

/** Records grouped by a key, in first-seen order. */
function groupBy(rs: readonly ResultRecord[], key: (r: ResultRecord) => string): Map<string, ResultRecord[]> {
  const m = new Map<string, ResultRecord[]>();
  for (const r of rs) {
    const k = key(r);
    m.set(k, [...(m.get(k) ?? []), r]);
  }
  return m;
}

/** The charts a run supports (none when it has no `threads`, `density` or `scale` results). */
export function chartsOf(file: Pick<BenchFile, 'results' | 'machine'>): ChartSpec[] {
  const out: ChartSpec[] = [];
  for (const [scenario, rs] of groupBy(file.results.filter((r) => r.group === 'threads'), (r) => r.scenario)) {
    out.push({ file: `threads-${slug(scenario.slice('threads/'.length))}.svg`, spec: threadsChart(rs, file.machine) });
  }
  const densityKey = (r: ResultRecord): string => `${spaceLabel(r)}/${r.pattern}/${r.source}${r.format === null ? '' : `/${r.format}`}`;
  for (const [key, rs] of groupBy(file.results.filter((r) => r.group === 'density'), densityKey)) {
    out.push({ file: `density-${slug(key)}.svg`, spec: densityChart(rs, file.machine) });
  }
  const scale = file.results.filter((r) => r.group === 'scale');
  for (const [density, rs] of groupBy(scale, (r) => formatRate(r.density))) {
    out.push({ file: `scale-size-${slug(density.replace('%', 'pct'))}.svg`, spec: scaleSizeChart(rs, file.machine) });
  }
  for (const [space, rs] of groupBy(scale, (r) => spaceLabel(r))) {
    out.push({ file: `scale-dirty-${slug(space)}.svg`, spec: scaleDensityChart(rs, file.machine) });
  }
  return out;
}

/**
 * Writes every chart of the run into `dir` (created if needed).
 * @returns the paths written
 */
export async function writeCharts(file: Pick<BenchFile, 'results' | 'machine'>, dir: string): Promise<string[]> {
  await makeDirs(dir);
  const paths: string[] = [];
  for (const c of chartsOf(file)) {
    const path = join(dir, c.file);
    await writeFile(path, await renderSvg(c.spec));
    paths.push(path);
  }
  return paths;
}
