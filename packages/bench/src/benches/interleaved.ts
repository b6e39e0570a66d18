/**
 * Interleaved measurement for the benchmark scripts of this folder (not a benchmark itself).
 *
 * Theory of operation
 * -------------------
 * The host is shared, so absolute times drift between runs, and a burst of load from elsewhere
 * can take a core for a while; ratios of tasks measured side by side drift much less. So a
 * comparison runs several *rounds* of tinybench, each with all its tasks back to back; a task's
 * figure is the median of its round medians, and a ratio of two tasks is the median of their
 * per-round ratios: a burst skews a round or two, not the figure.
 */
import { Bench } from 'tinybench';

/** One task of a comparison: a function, or a function and what to run before each call (untimed). */
export type RoundTask = (() => unknown) | { readonly fn: () => unknown; readonly beforeEach: () => void };

/** What {@link measureRounds} found for one task. */
export interface RoundRow {
  readonly name: string;
  /** Median over rounds of the round's median wall time of the call, ms. */
  readonly medianMs: number;
  /** Per round: the median wall time, ms. */
  readonly rounds: number[];
  readonly samples: number;
  /** Median of the `elapsedMs` the calls returned (a reporter's walk), ms; NaN when they return none. */
  readonly innerMs: number;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Median over rounds of a.round / b.round: how many times as long `a` takes as `b`. */
export function roundRatio(a: RoundRow, b: RoundRow): number {
  return median(a.rounds.map((x, i) => x / b.rounds[i]!));
}

/** How long each call takes (tinybench, within a round) and how many rounds. */
export interface RoundOptions {
  readonly rounds: number;
  /** Time per task and round, ms. */
  readonly timeMs: number;
  /** Print the table (default true). */
  readonly print?: boolean;
}

/**
 * Runs `rounds` tinybench runs of the given tasks (module comment) and prints a table of them.
 * @throws Error when a task fails.
 */
export async function measureRounds(title: string, tasks: Record<string, RoundTask>, o: RoundOptions): Promise<Map<string, RoundRow>> {
  const inner = new Map<string, number[]>();
  const rounds = new Map<string, number[]>();
  const samples = new Map<string, number>();
  for (const name of Object.keys(tasks)) {
    inner.set(name, []);
    rounds.set(name, []);
    samples.set(name, 0);
  }
  for (let round = 0; round < o.rounds; round++) {
    const bench = new Bench({ name: title, time: o.timeMs, warmupTime: 100, warmupIterations: 2, iterations: 5 });
    for (const [name, task] of Object.entries(tasks)) {
      const fn = typeof task === 'function' ? task : task.fn;
      const run = async (): Promise<void> => {
        const r = (await fn()) as { elapsedMs?: unknown } | undefined;
        if (typeof r?.elapsedMs === 'number') inner.get(name)!.push(r.elapsedMs);
      };
      bench.add(name, run, typeof task === 'function' ? {} : { beforeEach: task.beforeEach });
    }
    await bench.run();
    for (const t of bench.tasks) {
      const r = t.result;
      if (r.state !== 'completed') throw new Error(`${title}: task ${t.name} ${r.state}`);
      rounds.get(t.name)!.push(r.latency.p50!);
      samples.set(t.name, samples.get(t.name)! + r.latency.samplesCount);
    }
  }
  const out = new Map<string, RoundRow>();
  for (const name of Object.keys(tasks)) {
    const rs = rounds.get(name)!;
    const ins = inner.get(name)!;
    out.set(name, { name, medianMs: median(rs), rounds: rs, samples: samples.get(name)!, innerMs: ins.length > 0 ? median(ins) : Number.NaN });
  }
  if (o.print !== false) {
    console.log(`\n## ${title}`);
    console.table(
      [...out.values()].map((x) => ({
        task: x.name,
        'median ms': x.medianMs.toFixed(3),
        'round medians ms': x.rounds.map((v) => v.toFixed(3)).join(' / '),
        ...(Number.isNaN(x.innerMs) ? {} : { 'walk elapsedMs': x.innerMs.toFixed(2) }),
        samples: x.samples,
      })),
    );
  }
  return out;
}
