/**
 * SVG charts of a run, drawn by vega-lite → vega, headless.
 *
 * Theory of operation
 * -------------------
 * Two kinds of chart, one line (series) per implementation, throughput in GiB of IOVA per second
 * on a log axis (the implementations differ by orders of magnitude):
 * - *against threads*, one chart per scenario of the `threads` group: the engine's line over its
 *   thread counts; the single-threaded implementations (sequential, per-bit-atomic, read-limit)
 *   as dashed horizontal rules at their throughput, since they have no thread axis.
 * - *against density*, one chart per (space, pattern, sources, format) of the `density` group:
 *   density on an ordinal axis (0%, 1%, 50%, 100%), one line per implementation (the engine once
 *   per thread count measured).
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
import type { ResultRecord } from './schema.js';
import { spaceLabel } from '../harness/scenarios.js';
import { formatRate } from '../units.js';
import { makeDirs } from './outputPaths.js';
import { packageInfo } from '../packageInfo.js';

/** One chart to write. */
export interface ChartSpec {
  /** File name, `*.svg`. */
  readonly file: string;
  /** The vega-lite specification. */
  readonly spec: TopLevelSpec;
}

const slug = (s: string): string => s.replace(/[^A-Za-z0-9.@]+/g, '-').replace(/^-|-$/g, '');
const series = (r: ResultRecord): string => (r.impl === 'engine' ? `engine ×${r.threads}` : r.impl);
const Y = { field: 'gibPerSec', type: 'quantitative', title: 'GiB of IOVA per second', scale: { type: 'log' } } as const;

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

/** The throughput-against-threads chart of one scenario. */
export function threadsChart(records: readonly ResultRecord[]): TopLevelSpec {
  const multi = records.filter((r) => r.impl === 'engine').map((r) => ({ series: r.impl, threads: r.threads, gibPerSec: r.gibPerSec }));
  const single = records.filter((r) => r.impl !== 'engine').map((r) => ({ series: r.impl, gibPerSec: r.gibPerSec }));
  const color = { field: 'series', type: 'nominal', title: 'implementation' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Throughput against threads', subtitle: records[0]!.scenario },
    width: 480,
    height: 300,
    layer: [
      {
        data: { values: multi },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'threads', type: 'quantitative', title: 'worker threads', axis: { values: [...new Set(multi.map((m) => m.threads))], format: 'd' } },
          y: Y,
          color,
        },
      },
      {
        data: { values: single },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y: Y, color },
      },
    ],
  };
}

/** The throughput-against-density chart of records that differ only in density. */
export function densityChart(records: readonly ResultRecord[], subtitle: string): TopLevelSpec {
  const values = records.map((r) => ({ series: series(r), density: formatRate(r.density), order: r.density, gibPerSec: r.gibPerSec }));
  const densities = [...new Set([...records].sort((a, b) => a.density - b.density).map((r) => formatRate(r.density)))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Throughput against dirty density', subtitle },
    width: 480,
    height: 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'density', type: 'ordinal', sort: densities, title: 'dirty density', axis: { labelAngle: 0 } },
      y: Y,
      color: { field: 'series', type: 'nominal', title: 'implementation' },
      order: { field: 'order', type: 'quantitative' },
    },
  };
}

/** The charts a run supports (none when it has no `threads` or `density` results). */
export function chartsOf(records: readonly ResultRecord[]): ChartSpec[] {
  const out: ChartSpec[] = [];
  const byKey = (rs: readonly ResultRecord[], key: (r: ResultRecord) => string): Map<string, ResultRecord[]> => {
    const m = new Map<string, ResultRecord[]>();
    for (const r of rs) {
      const k = key(r);
      m.set(k, [...(m.get(k) ?? []), r]);
    }
    return m;
  };
  for (const [scenario, rs] of byKey(records.filter((r) => r.group === 'threads'), (r) => r.scenario)) {
    out.push({ file: `threads-${slug(scenario.slice('threads/'.length))}.svg`, spec: threadsChart(rs) });
  }
  const densityKey = (r: ResultRecord): string => `${spaceLabel(r)}/${r.pattern}/${r.source}${r.format === null ? '' : `/${r.format}`}`;
  for (const [key, rs] of byKey(records.filter((r) => r.group === 'density'), densityKey)) {
    out.push({ file: `density-${slug(key)}.svg`, spec: densityChart(rs, key) });
  }
  return out;
}

/**
 * Writes every chart of the run into `dir` (created if needed).
 * @returns the paths written
 */
export async function writeCharts(records: readonly ResultRecord[], dir: string): Promise<string[]> {
  await makeDirs(dir);
  const paths: string[] = [];
  for (const c of chartsOf(records)) {
    const path = join(dir, c.file);
    await writeFile(path, await renderSvg(c.spec));
    paths.push(path);
  }
  return paths;
}
