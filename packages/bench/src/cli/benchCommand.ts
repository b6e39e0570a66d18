/**
 * `iovabitmap bench`: the scenario matrix, measured, printed and written out.
 *
 * Theory of operation
 * -------------------
 * Builds the matrix (../harness/scenarios.ts; quick by default, `--full` for everything),
 * optionally lists it (`--list`: the cells, nothing measured), runs it (../harness/runner.ts) with
 * a progress bar on a TTY and plain lines elsewhere (../output/progress.ts), prints the terminal
 * table (../output/table.ts), then writes the requested files: `--json` (../output/schema.ts,
 * versioned), `--markdown` (../output/markdown.ts) and `--charts DIR` (../output/charts.ts, SVG).
 * Output files are written only after a complete run, but their paths (and, for `--charts`, the
 * optional chart renderer) are checked before anything runs (../output/outputPaths.ts), and so
 * is the memory the matrix needs (../harness/memoryBudget.ts). A write that still fails is reported on stderr (exit 1) and the
 * results are printed on stdout as JSON instead of being lost.
 */
import { availableParallelism } from 'node:os';
import { IovaBitmapError } from '@iovabitmap/core';
import { usageError } from './cliOptions.js';
import { checkChartRenderer, writeCharts } from '../output/charts.js';
import { pteFormats } from '../harness/impls.js';
import { renderMarkdown } from '../output/markdown.js';
import { terminalObserver } from '../output/progress.js';
import { checkMemory } from '../harness/memoryBudget.js';
import { checkOutputDir, checkOutputFile, writeOutputFile } from '../output/outputPaths.js';
import { benchPlan, cellLabel, runBench } from '../harness/runner.js';
import { buildMatrix, defaultThreadCounts } from '../harness/scenarios.js';
import { toJson } from '../output/schema.js';
import { renderTable } from '../output/table.js';

/** Parsed options of `iovabitmap bench`. */
export interface BenchCommandOptions {
  /** The full matrix. */
  readonly full: boolean;
  /** JSON output file. */
  readonly json?: string;
  /** Markdown output file. */
  readonly markdown?: string;
  /** Chart directory. */
  readonly charts?: string;
  /** Engine thread counts. */
  readonly threads?: number[];
  /** Cell filter (substring or /regex/). */
  readonly filter?: string;
  /** Per-cell time budget, ms. */
  readonly time?: number;
  /** Minimum samples per cell. */
  readonly minSamples?: number;
  /** Workload seed. */
  readonly seed: number;
  /** List the cells and stop. */
  readonly list: boolean;
}

/**
 * Checks every output path before anything runs (../output/outputPaths.ts), and for `--charts`
 * that the chart renderer is installed (../output/charts.ts).
 * @throws IovaBitmapError `EINVAL` naming the first bad option and its path; `EOPNOTSUPP` for
 * `--charts` without vega and vega-lite.
 */
export async function checkBenchOutputs(o: Pick<BenchCommandOptions, 'json' | 'markdown' | 'charts'>): Promise<void> {
  if (o.json !== undefined) await checkOutputFile('--json', o.json);
  if (o.markdown !== undefined) await checkOutputFile('--markdown', o.markdown);
  if (o.charts !== undefined) {
    await checkOutputDir('--charts', o.charts);
    await checkChartRenderer();
  }
}

/** Runs the command; writes to `out`. @throws IovaBitmapError on any failure. */
export async function runBenchCommand(o: BenchCommandOptions, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const cores = availableParallelism();
  const threads = o.threads ?? defaultThreadCounts(cores);
  const scenarios = buildMatrix({ full: o.full, cores, threads, formats: pteFormats(), filter: o.filter, seed: o.seed });
  if (scenarios.length === 0) throw usageError('--filter', o.filter, 'matches no benchmark cell (see --list)');
  if (o.list) {
    for (const s of scenarios) for (const r of s.runs) out.write(`${cellLabel(s, r)}\n`);
    return;
  }
  await checkBenchOutputs(o);
  checkMemory('iovabitmap bench', benchPlan(scenarios), 'narrow the matrix with --filter or --threads');
  const file = await runBench({
    scenarios,
    timeMs: o.time ?? (o.full ? 1000 : 300),
    minIterations: o.minSamples ?? (o.full ? 10 : 5),
    observer: terminalObserver(out),
    full: o.full,
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    threads,
    seed: o.seed,
  });
  out.write('\n' + renderTable(file, out.isTTY === true && !process.env.NO_COLOR));
  // A write can still fail (disk full, a path changed during the run): keep the results then.
  const failed: string[] = [];
  const attempt = async (option: string, path: string, write: () => Promise<string>): Promise<void> => {
    try {
      out.write(await write());
    } catch (e) {
      failed.push(`${option} ${path} (${(e as NodeJS.ErrnoException).code ?? IovaBitmapError.dataOf(e).message})`);
    }
  };
  if (o.json !== undefined) {
    const path = o.json;
    await attempt('--json', path, async () => (await writeOutputFile(path, toJson(file)), `wrote ${path}\n`));
  }
  if (o.markdown !== undefined) {
    const path = o.markdown;
    await attempt('--markdown', path, async () => (await writeOutputFile(path, renderMarkdown(file)), `wrote ${path}\n`));
  }
  if (o.charts !== undefined) {
    const dir = o.charts;
    await attempt('--charts', dir, async () => {
      const paths = await writeCharts(file.results, dir);
      return paths.length === 0 ? `no charts: the run has no threads or density results\n` : `wrote ${paths.length} charts in ${dir}\n`;
    });
  }
  if (failed.length > 0) {
    out.write(toJson(file));
    throw new IovaBitmapError('EIO', `iovabitmap bench: could not write ${failed.join(', ')}; the results are above on stdout, as JSON`);
  }
}
