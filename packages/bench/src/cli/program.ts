/**
 * The `iovabitmap` command line: commander 14 program with three subcommands.
 *
 * Theory of operation
 * -------------------
 *   iovabitmap report   one parallel report over a synthetic workload (./reportCommand.ts)
 *   iovabitmap migrate  a live migration with the simulated device (./migrateCommand.ts)
 *   iovabitmap bench    the benchmark matrix (./benchCommand.ts)
 * Sizes and rates are in human units (./cliOptions.ts, ../units.ts). Commander rejects a bad
 * option with a message naming the option and the value and exit status 1; errors found later
 * (a combination of options, a failed report) are thrown as IovaBitmapError and printed by
 * ./runCli.ts with their code, also with status 1. `migrate` exits with 2 when its no-loss
 * check fails, `bench --compare` with 4 when a cell regressed, and every command with 130 / 143
 * after Ctrl-C / SIGTERM (./interrupts.ts) once it has written what it did.
 * Every command takes `--json [file]` and `--markdown [file]` (./documentOutputs.ts).
 *
 * The program is built by a function (no global state), so tests can parse without spawning.
 */
import { availableParallelism } from 'node:os';
import { Command, type OutputConfiguration } from 'commander';
import { DEVICE_PATTERNS, MAX_POOL_THREADS, MAX_PRECOPY_ROUNDS } from '@iovabitmap/workers';
import { runBenchCommand, type BenchCommandOptions } from './benchCommand.js';
import { addDocumentOptions, byteRateOption, choiceOption, countListOption, countOption, durationOption, rateOption, sizeOption, leafLayoutOption, typedValues } from './cliOptions.js';
import { processIo, type CommandIo } from './documentOutputs.js';
import { toolVersion } from '../output/document.js';
import { pteFormats } from '../harness/impls.js';
import { runMigrateCommand, type MigrateCommandOptions } from './migrateCommand.js';
import { runReportCommand, type ReportCommandOptions } from './reportCommand.js';
import { BENCH_PATTERNS, BENCH_SOURCES } from '../harness/scenarios.js';

/** What oversubscribing costs, for the help of every `--threads`. */
const THREADS_COST = `at most ${MAX_POOL_THREADS} (4 × cores); each worker costs ~30 MiB and ~0.3 s to start from source, and threads above the core count time-share the cores`;

/** Defaults of the workload options of one command. */
interface WorkloadDefaults {
  readonly iovaSize: bigint;
  readonly sources: string;
  /** Leaf size, or 'mixed' (which also makes `mixed` an accepted value). */
  readonly leaf: bigint | 'mixed';
}

/** Options every workload-building command shares. */
function addWorkloadOptions(cmd: Command, d: WorkloadDefaults): Command {
  const formats = pteFormats();
  const leafHelp = 'IOMMU leaf (page) size: 4K, 2M or 1G';
  return cmd
    .addOption(sizeOption('--iova-size <size>', 'IOVA space to map and report', d.iovaSize))
    .addOption(
      d.leaf === 'mixed'
        ? leafLayoutOption('--leaf <size>', `${leafHelp}; "mixed" maps 1 GiB of 4K leaves in every 16 GiB and 2M leaves elsewhere`, d.leaf)
        : sizeOption('--leaf <size>', leafHelp, d.leaf),
    )
    .addOption(choiceOption('--format <name>', 'IOMMU PTE format', formats, formats[0]))
    .addOption(choiceOption('--sources <kind>', 'dirty sources to report: the IOMMU walk, the VF tracker, or both', BENCH_SOURCES, d.sources))
    .addOption(countOption('--threads <n>', `worker threads of the parallel engine, ${THREADS_COST}`, { min: 1, max: MAX_POOL_THREADS }, availableParallelism()));
}

/** Options of {@link buildProgram}, for embedding and tests. */
export interface ProgramOptions {
  /** Where help and errors go. @defaultValue process.stdout / process.stderr */
  readonly output?: OutputConfiguration;
  /** Throw a `CommanderError` instead of exiting the process on a usage error or `--help`. @defaultValue false */
  readonly exitOverride?: boolean;
  /** Where the commands write, and the signal that aborts them (./interrupts.ts). @defaultValue the process's streams, no signal */
  readonly io?: CommandIo;
}

/** Builds the `iovabitmap` program (settings are inherited by the subcommands). */
export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command('iovabitmap');
  if (options.output) program.configureOutput(options.output);
  if (options.exitOverride) program.exitOverride();
  program
    .description('Parallel IOVA dirty-page reporting (the Linux iova_bitmap on worker threads): reports, live migration, benchmarks.')
    .version(toolVersion())
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nSizes take binary units (4K = 4KiB = 4096 bytes, 2M, 1G, 1TiB); densities take percentages (1%, 0.5%, 100%) or fractions below 1 (0.01); ' +
        'data rates take binary bytes (1GiB/s, 512K/s) or SI bits and bytes (10Gbit/s, 25Gb/s, 1.25GB/s).\n' +
        'Every command writes its document with --json [file] or --markdown [file] (stdout without a file; the human text then goes to stderr).\n' +
        'Exit status: 0 done, 1 error, 2 migrate verification failed, 3 migrate did not converge, 4 bench --compare found a regression, 130 / 143 interrupted (Ctrl-C / SIGTERM).',
    );
  const io = options.io ?? processIo();

  const report = program.command('report').description('run one report over a synthetic dirty workload and print its statistics');
  addWorkloadOptions(report, { iovaSize: 64n << 30n, leaf: 4096n, sources: 'iommu' })
    .addOption(rateOption('--density <rate>', 'fraction of leaf entries dirty', 0.01))
    .addOption(choiceOption('--pattern <name>', 'placement of the dirty entries', BENCH_PATTERNS, 'uniform'))
    .addOption(countOption('--seed <n>', 'seed of the placement', { min: 0, max: 2 ** 32 - 1 }, 1))
    .option('--sequential', 'use the sequential reporter (reportDirty) instead of the parallel engine', false);
  addDocumentOptions(report, 'report')
    .addHelpText('after', '\nExample:\n  iovabitmap report --iova-size 1TiB --leaf 2M --density 50% --threads 2 --json report.json')
    .action(async (opts: ReportCommandOptions, cmd: Command) => {
      await runReportCommand({ ...opts, typed: typedValues(cmd) }, io);
    });

  const migrate = program
    .command('migrate')
    .description('run a live migration: pre-copy rounds while a simulated device writes, then stop-and-copy and the no-loss check');
  addWorkloadOptions(migrate, { iovaSize: 1n << 40n, leaf: 'mixed', sources: 'both' })
    .addOption(sizeOption('--bitmap-page-size <size>', 'IOVA bytes per bitmap bit', 4096n))
    .addOption(byteRateOption('--bandwidth <rate|max>', 'link bandwidth the rounds are sent over (modelled, not slept); "max": no link, transfers take no time', 1_250_000_000n))
    .addOption(durationOption('--downtime-limit <time>', 'pre-copy ends when the expected downtime (final harvest + final transfer) fits this', 300))
    .addOption(countOption('--max-rounds <n>', 'pre-copy rounds at most (epochs are bytes: 254 at most)', { min: 0, max: MAX_PRECOPY_ROUNDS }, 30))
    .addOption(countOption('--rounds <n>', 'exactly this many pre-copy rounds, whatever the prediction (instead of --max-rounds)', { min: 0, max: MAX_PRECOPY_ROUNDS }))
    .option('--no-stream', 'harvest, then send (default: each chunk is sent as soon as the report records it)')
    .option('--bulk-stage', 'round 0 sends the whole range, as the first pass of a real pre-copy does (QEMU\'s bulk stage); the device writes for that long before round 1', false)
    .addOption(countListOption('--compare-threads <list>', `run the same seeded migration with each thread count (comma-separated, each ${THREADS_COST}) and compare the downtimes`, { min: 1, max: MAX_POOL_THREADS }))
    .addOption(choiceOption('--pattern <name>', 'device write pattern', DEVICE_PATTERNS, 'uniform'))
    .addOption(byteRateOption('--rate <rate|max>', 'device write rate (4 KiB writes; a write into a 2 MiB leaf dirties all of it); below 4K/s the device writes less than a page per second', 1n << 20n))
    .addOption(countOption('--round-interval <ms>', 'pause between pre-copy rounds, ms (real time; the device keeps writing)', { min: 0, max: 3_600_000 }, 0))
    .addOption(countOption('--seed <n>', 'seed of the device pattern', { min: 0, max: 2 ** 32 - 1 }, 1))
    .option('--verify-each-round', 'check every round for pages no device wrote', false);
  addDocumentOptions(migrate, 'migrate')
    .addHelpText(
      'after',
      '\nExit status: 0 converged and verified (no page lost, stale or invented), 3 verified but did not converge, 2 the check failed, 1 on errors, 130 / 143 when interrupted.',
    )
    .action(async (opts: MigrateCommandOptions, cmd: Command) => {
      process.exitCode = await runMigrateCommand({ ...opts, typed: typedValues(cmd) }, io);
    });

  const bench = program
    .command('bench')
    .description('measure the scenario matrix (quick by default) and print a table; optionally write JSON, Markdown and SVG charts, or compare two runs')
    .option('--full', 'the full matrix (every space, both patterns, every thread count); takes long', false);
  addDocumentOptions(bench, 'bench')
    .option('--charts <dir>', 'write SVG charts (throughput against threads and against density; for the scale group, cost against guest size and against the dirty set)')
    .addOption(countListOption('--threads <list>', `engine thread counts, comma-separated (default: 1..cores and 2 × cores), each ${THREADS_COST}`, { min: 1, max: MAX_POOL_THREADS }))
    .option('--filter <text>', 'only cells whose "scenario impl" contains the text, or matches /regex/')
    .addOption(countOption('--time <ms>', 'time budget per cell, ms (default 300 quick, 1000 full)', { min: 1, max: 600_000 }))
    .addOption(countOption('--min-samples <n>', 'minimum timed samples per cell (default 5 quick, 10 full)', { min: 1, max: 100_000 }))
    .addOption(countOption('--seed <n>', 'seed of the workloads', { min: 0, max: 2 ** 32 - 1 }, 1))
    .option('--list', 'list the cells that would run, and stop', false)
    .option('--compare <files...>', 'BASE.json [NEW.json]: compare two bench files (nothing runs), or BASE with a run made now; exit 4 when a cell regressed')
    .addOption(rateOption('--threshold <rate>', 'a --compare regression is a cell significantly slower by more than this', 0.1))
    .addHelpText(
      'after',
      '\nExamples:\n  iovabitmap bench --json bench.json --markdown bench.md --charts charts/\n  iovabitmap bench --filter density --threads 1,2\n' +
        '  iovabitmap bench --compare before.json after.json\n  iovabitmap bench --filter sources --compare before.json --json after.json',
    )
    .action(async (opts: BenchCommandOptions) => {
      process.exitCode = await runBenchCommand(opts, io);
    });

  return program;
}
