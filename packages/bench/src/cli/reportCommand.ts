/**
 * `iovabitmap report`: one report over a synthetic workload, with its statistics.
 *
 * Theory of operation
 * -------------------
 * Checks the options that depend on each other (a leaf size the PTE format has, a space that is a
 * multiple of it), quoting values as typed, then refuses a workload the machine cannot hold
 * (../harness/memoryBudget.ts), before building anything. Builds the workload of the options
 * (../harness/workload.ts: map, place dirty units, snapshot), then runs one report with the
 * parallel engine (or the sequential reporter with `--sequential`), shows a progress bar on a TTY
 * while the engine works, and makes the report document (../output/reportDocument.ts: walk and
 * call time, rates, bits set against the workload's expectation, per-source and per-worker
 * counters). The human text goes to stdout, or to stderr when `--json` or `--markdown` sends the
 * document to stdout (./documentOutputs.ts). A report that sets another number of bits than the
 * workload placed is an error (exit status 1): the tool never prints a speed for a wrong result.
 *
 * Ctrl-C (./interrupts.ts) aborts the engine's report within a chunk; the document is written with
 * `complete: false` and no result, and the pool is closed.
 */
import cliProgress from 'cli-progress';
import { IovaBitmapError, reportDirty, type ReportStats } from '@iovabitmap/core';
import { codecOf } from '@iovabitmap/core/internal';
import { usageError } from './cliOptions.js';
import { checkDocumentOptions, humanStream, processIo, writeDocuments, type CommandIo, type DocumentOptions } from './documentOutputs.js';
import { openEngine, type EngineStats } from '../harness/impls.js';
import { documentHeader, toJsonText } from '../output/document.js';
import { REPORT_SCHEMA_VERSION, renderReportMarkdown, renderReportText, type ReportDocument, type ReportResult } from '../output/reportDocument.js';
import { type DirtyPattern, type SourceKind } from '../output/schema.js';
import { formatBytes, formatRate } from '../units.js';
import { checkMemory, combinePlans } from '../harness/memoryBudget.js';
import { buildWorkload, workloadPlan, type Workload } from '../harness/workload.js';

/** Parsed options of `iovabitmap report`. */
export interface ReportCommandOptions extends DocumentOptions {
  /** IOVA space, bytes. */
  readonly iovaSize: bigint;
  /** Leaf size, bytes. */
  readonly leaf: bigint;
  /** Dirty density, fraction. */
  readonly density: number;
  /** Placement. */
  readonly pattern: DirtyPattern;
  /** PTE format. */
  readonly format: string;
  /** Sources. */
  readonly sources: SourceKind;
  /** Engine threads. */
  readonly threads: number;
  /** Workload seed. */
  readonly seed: number;
  /** Use the sequential reporter instead of the engine. */
  readonly sequential: boolean;
  /** The options as typed, by long name (./cliOptions.ts typedValues), for messages. */
  readonly typed?: Readonly<Record<string, string>>;
}

/** The leaf sizes of a PTE format, in words: `4 KiB, 2 MiB or 1 GiB`, `every power of two from 4 KiB to 1 GiB`. */
export function leafSizesText(format: string): string {
  const shifts = codecOf(format)?.leafShifts ?? [];
  const sizes = shifts.map((s) => formatBytes(2n ** BigInt(s)));
  if (sizes.length > 4 && shifts.every((s, i) => i === 0 || s === shifts[i - 1]! + 1)) return `every power of two from ${sizes[0]} to ${sizes.at(-1)}`;
  return sizes.length <= 1 ? (sizes[0] ?? 'none') : `${sizes.slice(0, -1).join(', ')} or ${sizes.at(-1)}`;
}

/**
 * Checks the combinations commander cannot check option by option; messages quote the values as
 * typed (`typed`, by long option name) when known.
 * @param format - the PTE format whose leaf sizes `leaf` must be one of; `undefined` for the VF
 *   tracker alone (any power of two of at least 4 KiB)
 * @throws IovaBitmapError `EINVAL` naming the option.
 */
export function checkReportGeometry(iovaSize: bigint, leaf: bigint, format: string | undefined, typed: Readonly<Record<string, string>> = {}): void {
  const leafText = typed['--leaf'] ?? formatBytes(leaf);
  const sizeText = typed['--iova-size'] ?? formatBytes(iovaSize);
  if (format !== undefined && !(codecOf(format)?.leafShifts ?? []).some((s) => 2n ** BigInt(s) === leaf)) {
    throw usageError('--leaf', leafText, `must be a leaf size of the ${format} format: ${leafSizesText(format)}`);
  }
  if (leaf < 4096n || (leaf & (leaf - 1n)) !== 0n) throw usageError('--leaf', leafText, 'must be a power of two of at least 4 KiB');
  if (iovaSize === 0n || iovaSize % leaf !== 0n) {
    throw usageError('--iova-size', sizeText, `must be a non-zero multiple of the leaf size ${formatBytes(leaf)}`);
  }
  if (iovaSize / 4096n > 2n ** 40n) throw usageError('--iova-size', sizeText, 'must be at most 4 PiB (2^40 bitmap bits at 4 KiB)');
}

/** Runs the report on `w` with the options' implementation; `undefined` when aborted. */
async function runOneReport(o: ReportCommandOptions, w: Workload, io: CommandIo, human: NodeJS.WriteStream): Promise<{ stats: ReportStats | EngineStats; callMs: number } | undefined> {
  if (o.sequential) {
    const t = performance.now();
    const stats = reportDirty({ bitmap: w.bitmap, sources: w.sources });
    return { stats, callMs: performance.now() - t };
  }
  if (io.signal?.aborted) return undefined;
  const engine = await openEngine(o.threads);
  const bar = human.isTTY ? new cliProgress.SingleBar({ stream: human, clearOnComplete: true, hideCursor: true, format: '{bar} {value}/{total} chunks' }, cliProgress.Presets.shades_classic) : undefined;
  try {
    const t = performance.now();
    bar?.start(1, 0);
    const stats = await engine.report({
      bitmap: w.bitmap,
      sources: w.sources,
      ...(io.signal === undefined ? {} : { signal: io.signal }),
      onProgress: (p) => {
        bar?.setTotal(p.chunksTotal);
        bar?.update(p.chunksDone);
      },
    });
    return { stats, callMs: performance.now() - t };
  } catch (e) {
    if (io.signal?.aborted && IovaBitmapError.hasCode(e, 'ECANCELED')) return undefined;
    throw e;
  } finally {
    bar?.stop();
    await engine.close();
  }
}

/** The result block of the document from the report's stats. */
function reportResult(w: Workload, stats: ReportStats | EngineStats, callMs: number, hasRates: boolean): ReportResult {
  const one = w.sourceEntries.length === 1;
  return {
    walkMs: stats.elapsedMs,
    callMs,
    gibPerSec: hasRates ? Number(w.spec.iovaBytes) / 2 ** 30 / (stats.elapsedMs / 1000) : null,
    nsPerEntry: hasRates && one ? (stats.elapsedMs * 1e6) / w.leafEntries : null,
    bitsSet: stats.bitsSet,
    chunks: stats.chunks,
    sources: w.sourceEntries.map((e) => {
      const s = stats.sources[e.name]!;
      const busyMs = 'busyMs' in s && typeof s.busyMs === 'number' ? s.busyMs : null;
      return {
        name: e.name,
        kind: e.kind,
        entries: e.entries,
        entriesVisited: s.entriesVisited,
        dirtyUnits: s.dirtyLeaves,
        bitsMarked: s.bitsMarked,
        busyMs,
        nsPerEntry: hasRates && busyMs !== null ? (busyMs * 1e6) / e.entries : null,
      };
    }),
    workers: 'workers' in stats ? stats.workers.map((wk) => ({ slot: wk.slot, threadId: wk.threadId, chunks: wk.chunks, busyMs: wk.busyMs })) : [],
  };
}

/**
 * Runs the command.
 * @throws IovaBitmapError on any failure.
 */
export async function runReportCommand(o: ReportCommandOptions, io: CommandIo = processIo()): Promise<void> {
  checkReportGeometry(o.iovaSize, o.leaf, o.sources === 'vf' ? undefined : o.format, o.typed);
  await checkDocumentOptions(o);
  const spec = { iovaBytes: o.iovaSize, leafBytes: o.leaf, density: o.density, pattern: o.pattern, source: o.sources, format: o.format, seed: o.seed };
  checkMemory('iovabitmap report', combinePlans([workloadPlan(spec), { workers: o.sequential ? 0 : o.threads }]), 'use a smaller --iova-size or a larger --leaf');
  const started = new Date();
  const human = humanStream(o, io);
  const w = buildWorkload(spec);
  const notes: string[] = [];
  const hasRates = !(o.density > 0 && w.dirtyUnits === 0);
  if (!hasRates) {
    notes.push(
      `${formatRate(o.density)} of ${w.sourceEntries[0]!.entries} units placed no dirty unit: the report has nothing to find, so no rate is given ` +
        '(a larger --density or --iova-size, or a smaller --leaf, gives dirty units)',
    );
  }
  const ran = await runOneReport(o, w, io, human);
  if (ran !== undefined && ran.stats.bitsSet !== w.bitsExpected) {
    throw new IovaBitmapError('EIO', `iovabitmap report: the report set ${ran.stats.bitsSet} bits, the workload placed ${w.bitsExpected}`);
  }
  if (ran === undefined) notes.push('interrupted: the report was aborted before it ended; nothing was measured');
  if (o.sources === 'both' && ran !== undefined && o.sequential) notes.push('per-source times: the sequential reporter does not time sources apart; run the engine for them');
  const doc: ReportDocument = {
    ...documentHeader('report', REPORT_SCHEMA_VERSION, ran !== undefined, started),
    workload: {
      ...{ iovaBytes: o.iovaSize, leafBytes: o.leaf, density: o.density, pattern: o.pattern, sources: o.sources, format: o.sources === 'vf' ? null : o.format, seed: o.seed },
      entries: w.sourceEntries,
      dirtyUnits: w.dirtyUnits,
      bitsExpected: w.bitsExpected,
      setupMs: w.setupMs,
    },
    impl: o.sequential ? 'sequential' : 'engine',
    threads: o.sequential ? 1 : o.threads,
    result: ran === undefined ? null : reportResult(w, ran.stats, ran.callMs, hasRates),
    notes,
  };
  human.write(renderReportText(doc));
  await writeDocuments('iovabitmap report', o, { json: () => toJsonText(doc), markdown: () => renderReportMarkdown(doc) }, io);
}
