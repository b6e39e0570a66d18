/**
 * `iovabitmap report`: one report over a synthetic workload, with its statistics.
 *
 * Theory of operation
 * -------------------
 * Refuses a workload the machine cannot hold (../harness/memoryBudget.ts), before building
 * anything. Builds the workload of the options (../harness/workload.ts: map, place dirty units,
 * snapshot), then runs one report with the parallel engine (or the sequential reporter with
 * `--sequential`), shows a progress bar on a TTY while the engine works, and prints what the report
 * did: walk and call time, throughput, bits set against the workload's expectation, per-source and
 * per-worker counters. A report that sets another number of bits than the workload placed is an
 * error (exit status 1): the tool never prints a speed for a wrong result. `--json` prints the same
 * as JSON.
 */
import cliProgress from 'cli-progress';
import { IovaBitmapError, reportDirty, type ReportStats } from '@iovabitmap/core';
import { usageError } from './cliOptions.js';
import { openEngine, type EngineStats } from '../harness/impls.js';
import { type DirtyPattern, type SourceKind } from '../output/schema.js';
import { spaceLabel } from '../harness/scenarios.js';
import { formatBytes, formatGiBps, formatMs, formatNsPerPte, formatRate } from '../units.js';
import { checkMemory, combinePlans } from '../harness/memoryBudget.js';
import { buildWorkload, workloadPlan } from '../harness/workload.js';

/** Parsed options of `iovabitmap report`. */
export interface ReportCommandOptions {
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
  /** Print JSON instead of text. */
  readonly json: boolean;
}

/** Checks the combinations commander cannot check option by option. */
export function checkReportGeometry(iovaSize: bigint, leaf: bigint): void {
  if (leaf < 4096n || (leaf & (leaf - 1n)) !== 0n) throw usageError('--leaf', formatBytes(leaf), 'must be a power of two of at least 4 KiB');
  if (iovaSize === 0n || iovaSize % leaf !== 0n) {
    throw usageError('--iova-size', formatBytes(iovaSize), `must be a non-zero multiple of the leaf size ${formatBytes(leaf)}`);
  }
  if (iovaSize / 4096n > 2n ** 40n) throw usageError('--iova-size', formatBytes(iovaSize), 'must be at most 4 PiB (2^40 bitmap bits at 4 KiB)');
}

/** Runs the command; writes to `out`. @throws IovaBitmapError on any failure. */
export async function runReportCommand(o: ReportCommandOptions, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  checkReportGeometry(o.iovaSize, o.leaf);
  const spec = { iovaBytes: o.iovaSize, leafBytes: o.leaf, density: o.density, pattern: o.pattern, source: o.sources, format: o.format, seed: o.seed };
  checkMemory('iovabitmap report', combinePlans([workloadPlan(spec), { workers: o.sequential ? 0 : o.threads }]), 'use a smaller --iova-size or a larger --leaf');
  const w = buildWorkload(spec);
  const label = `${spaceLabel(spec)} ${o.sources}${o.sources === 'vf' ? '' : ` (${o.format})`}, ${formatRate(o.density)} ${o.pattern}, seed ${o.seed}`;
  if (!o.json) {
    out.write(
      `workload: ${label}: ${w.leafEntries} leaf entries, ${w.dirtyUnits} dirty units, ${w.bitsExpected} bits expected; built in ${formatMs(w.setupMs)}\n`,
    );
  }
  let stats: ReportStats | EngineStats;
  let callMs: number;
  if (o.sequential) {
    const t = performance.now();
    stats = reportDirty({ bitmap: w.bitmap, sources: w.sources });
    callMs = performance.now() - t;
  } else {
    const engine = await openEngine(o.threads);
    const bar = out.isTTY && !o.json ? new cliProgress.SingleBar({ stream: out, clearOnComplete: true, format: '{bar} {value}/{total} chunks' }, cliProgress.Presets.shades_classic) : undefined;
    try {
      const t = performance.now();
      bar?.start(1, 0);
      stats = await engine.report({
        bitmap: w.bitmap,
        sources: w.sources,
        onProgress: (p) => {
          bar?.setTotal(p.chunksTotal);
          bar?.update(p.chunksDone);
        },
      });
      callMs = performance.now() - t;
    } finally {
      bar?.stop();
      await engine.close();
    }
  }
  if (stats.bitsSet !== w.bitsExpected) {
    throw new IovaBitmapError('EIO', `iovabitmap report: the report set ${stats.bitsSet} bits, the workload placed ${w.bitsExpected}`);
  }
  const gibPerSec = Number(o.iovaSize) / 2 ** 30 / (stats.elapsedMs / 1000);
  const nsPerPte = (stats.elapsedMs * 1e6) / w.leafEntries;
  const impl = o.sequential ? 'sequential' : `engine ×${o.threads}`;
  if (o.json) {
    const doc = { workload: { ...spec, leafEntries: w.leafEntries, dirtyUnits: w.dirtyUnits, bitsExpected: w.bitsExpected, setupMs: w.setupMs }, impl, callMs, gibPerSec, nsPerPte, stats };
    out.write(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    return;
  }
  out.write(
    `report: ${impl}, ${stats.chunks} chunks: walk ${formatMs(stats.elapsedMs)}, call ${formatMs(callMs)}; ` +
      `${formatGiBps(gibPerSec)}, ${formatNsPerPte(nsPerPte)}; ${stats.bitsSet} bits set (as expected)\n`,
  );
  for (const [name, s] of Object.entries(stats.sources)) {
    out.write(`  source ${name}: ${s.entriesVisited} entries visited, ${s.dirtyLeaves} dirty units, ${s.bitsMarked} bits marked\n`);
  }
  if ('workers' in stats) {
    for (const wk of stats.workers) {
      out.write(`  worker ${wk.slot} (thread ${wk.threadId}): ${wk.chunks} chunks, busy ${formatMs(wk.busyMs)}\n`);
    }
  }
}
