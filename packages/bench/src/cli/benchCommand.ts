/**
 * `iovabitmap bench`: the scenario matrix, measured, printed, written out and compared.
 *
 * Theory of operation
 * -------------------
 * Builds the matrix (../harness/scenarios.ts; quick by default, `--full` for everything),
 * optionally lists it (`--list`: the cells, nothing measured), runs it (../harness/runner.ts) with
 * a progress bar on a TTY and plain lines elsewhere (../output/progress.ts), prints the terminal
 * table (../output/table.ts), then writes the requested outputs: `--json [file]` (the bench
 * document, ../output/schema.ts), `--markdown [file]` (../output/markdown.ts), as every command
 * does (./documentOutputs.ts: no file = stdout, the human text then on stderr), and `--charts DIR`
 * (../output/charts.ts, SVG). Every output path (and, for `--charts`, the optional chart renderer)
 * is checked before anything runs, and so is the memory the matrix needs (../harness/memoryBudget.ts).
 *
 * Ctrl-C (the `signal` of ./interrupts.ts) stops the run within a chunk: the table, the documents
 * (`complete: false`) and the charts are written from the cells measured so far.
 *
 * `--compare BASE [NEW]` (../output/compare.ts): with two files, compares them and runs nothing;
 * with one, runs the matrix now (as the other options say) and compares BASE with this run. Either
 * way the comparison is printed with the human text; the exit status is 4 when a cell regressed
 * significantly beyond `--threshold` (10% by default), else 0. With two files there is no run, so
 * `--json`, `--markdown` and `--charts` are refused.
 */
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { IovaBitmapError } from '@iovabitmap/core';
import { usageError } from './cliOptions.js';
import { checkDocumentOptions, humanStream, processIo, writeDocuments, type CommandIo, type DocumentOptions } from './documentOutputs.js';
import { checkChartRenderer, writeCharts } from '../output/charts.js';
import { compareRuns, renderComparison, REGRESSION_EXIT_STATUS } from '../output/compare.js';
import { pteFormats } from '../harness/impls.js';
import { renderMarkdown } from '../output/markdown.js';
import { terminalObserver } from '../output/progress.js';
import { checkMemory } from '../harness/memoryBudget.js';
import { checkOutputDir } from '../output/outputPaths.js';
import { benchPlan, cellLabel, runBench } from '../harness/runner.js';
import { buildMatrix, defaultThreadCounts, type Scenario } from '../harness/scenarios.js';
import { parseBenchFile, toJson, type BenchFile } from '../output/schema.js';
import { renderTable } from '../output/table.js';

/** Parsed options of `iovabitmap bench`. */
export interface BenchCommandOptions extends DocumentOptions {
  /** The full matrix. */
  readonly full: boolean;
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
  /** `--compare BASE [NEW]`: one or two bench files. */
  readonly compare?: readonly string[];
  /** Regression threshold of `--compare`, a fraction. @defaultValue 0.1 */
  readonly threshold?: number;
}

/**
 * Checks every output path before anything runs (../output/outputPaths.ts), and for `--charts`
 * that the chart renderer is installed (../output/charts.ts).
 * @throws IovaBitmapError `EINVAL` naming the first bad option and its path; `EOPNOTSUPP` for
 * `--charts` without vega and vega-lite.
 */
export async function checkBenchOutputs(o: Pick<BenchCommandOptions, 'json' | 'markdown' | 'charts'>): Promise<void> {
  await checkDocumentOptions(o);
  if (o.charts !== undefined) {
    await checkOutputDir('--charts', o.charts);
    await checkChartRenderer();
  }
}

/** Reads a bench file for `--compare`. @throws IovaBitmapError `EINVAL` naming the option and the path. */
async function readBenchFile(path: string): Promise<BenchFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw usageError('--compare', path, `must be a readable file (${(e as NodeJS.ErrnoException).code ?? 'EIO'})`);
  }
  try {
    return parseBenchFile(text);
  } catch (e) {
    throw usageError('--compare', path, `must be a bench file (${IovaBitmapError.dataOf(e).message})`);
  }
}

/** The compare files, read and checked before anything runs (`undefined` without `--compare`). */
async function compareInputs(o: BenchCommandOptions): Promise<{ base: BenchFile; next?: BenchFile } | undefined> {
  if (o.compare === undefined) return undefined;
  if (o.compare.length < 1 || o.compare.length > 2) throw usageError('--compare', o.compare.join(' '), 'takes BASE.json and, optionally, NEW.json');
  const base = await readBenchFile(o.compare[0]!);
  if (o.compare.length === 1) return { base };
  for (const [option, value] of [['--json', o.json], ['--markdown', o.markdown], ['--charts', o.charts]] as const) {
    if (value !== undefined) throw usageError(option, value === true ? '(stdout)' : value, 'cannot be used with two --compare files: nothing is run');
  }
  return { base, next: await readBenchFile(o.compare[1]!) };
}

/** Prints the comparison; returns the exit status (4 when a cell regressed). */
function printComparison(base: BenchFile, next: BenchFile, o: BenchCommandOptions, human: NodeJS.WritableStream): number {
  const c = compareRuns(base, next, o.threshold ?? 0.1);
  human.write(renderComparison(c));
  return c.regressions > 0 ? REGRESSION_EXIT_STATUS : 0;
}

/** The matrix of the options. @throws IovaBitmapError `EINVAL` for a filter that matches nothing. */
function matrixOf(o: BenchCommandOptions): { scenarios: Scenario[]; threads: number[] } {
  const cores = availableParallelism();
  const threads = o.threads ?? defaultThreadCounts(cores);
  const scenarios = buildMatrix({ full: o.full, cores, threads, formats: pteFormats(), filter: o.filter, seed: o.seed });
  if (scenarios.length === 0) throw usageError('--filter', o.filter, 'matches no benchmark cell (see --list)');
  return { scenarios, threads };
}

/**
 * Runs the command.
 * @returns the exit status: 0, or 4 when `--compare` found a regression
 * @throws IovaBitmapError on any failure.
 */
export async function runBenchCommand(o: BenchCommandOptions, io: CommandIo = processIo()): Promise<number> {
  const human = humanStream(o, io);
  const compare = await compareInputs(o);
  if (compare?.next !== undefined) return printComparison(compare.base, compare.next, o, human);
  const { scenarios, threads } = matrixOf(o);
  if (o.list) {
    for (const s of scenarios) for (const r of s.runs) human.write(`${cellLabel(s, r)}\n`);
    return 0;
  }
  await checkBenchOutputs(o);
  checkMemory('iovabitmap bench', benchPlan(scenarios), 'narrow the matrix with --filter or --threads');
  const file = await runBench({
    scenarios,
    timeMs: o.time ?? (o.full ? 1000 : 300),
    minIterations: o.minSamples ?? (o.full ? 10 : 5),
    observer: terminalObserver(human),
    full: o.full,
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    threads,
    seed: o.seed,
  });
  human.write('\n' + renderTable(file, human.isTTY === true && !process.env.NO_COLOR));
  const charts = o.charts;
  await writeDocuments('iovabitmap bench', o, { json: () => toJson(file), markdown: () => renderMarkdown(file) }, io, [
    ...(charts === undefined
      ? []
      : [
          {
            option: '--charts',
            path: charts,
            write: async () => {
              const paths = await writeCharts(file, charts);
              return paths.length === 0 ? `no charts: the run has no threads or density results\n` : `wrote ${paths.length} charts in ${charts}\n`;
            },
          },
        ]),
  ]);
  return compare === undefined || !file.complete ? 0 : printComparison(compare.base, file, o, human);
}
