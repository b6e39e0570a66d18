/**
 * The progress bar's time-left estimate for a benchmark run.
 *
 * Theory of operation
 * -------------------
 * cli-progress estimates the time left from the cells done (elapsed ÷ done × left, over a short
 * buffer), which jumps whenever cells differ: a run whose first cells build a workload and whose
 * later ones reuse a measurement showed 1m25s and, a few cells later, 6s. The run knows better:
 * each cell has a *budget* (tinybench's warm-up plus timed budget, ../harness/runner.ts
 * `cellBudgets`; 0 for a cell that reuses an earlier measurement), and tinybench spends at least
 * that on it. So
 *
 *   left = (budget of the cells not started + what is left of the current cell's budget) × f
 *   f    = (time spent on the finished budgeted cells) ÷ (their budgets), 1 before any finished
 *
 * f absorbs what the budgets leave out (workload builds, engines starting, a minimum sample count
 * that outlasts the time budget) at the rate seen so far; a cell's time is counted from the end
 * of the previous one, so a workload build belongs to the cell it was built for. The estimate only
 * moves by what f learns, never by the shape of the matrix. A pure function of the events and the
 * clock the caller passes, so it is tested without waiting.
 */

/** Time left of a run, from its cells' budgets (see the module comment). All times in ms. */
export class EtaEstimator {
  readonly #budgets: readonly number[];
  /** Index of the cell in progress (= cells finished). */
  #next = 0;
  /** When the previous cell ended (or the run started). */
  #since: number;
  #spentBudgeted = 0;
  #budgetDone = 0;

  /**
   * @param budgetsMs - each planned cell's budget, in run order
   * @param now - the clock at the start of the run
   */
  constructor(budgetsMs: readonly number[], now: number) {
    this.#budgets = budgetsMs;
    this.#since = now;
  }

  /** A cell ended (measured or skipped) at `now`. */
  cellDone(now: number): void {
    const budget = this.#budgets[this.#next] ?? 0;
    if (budget > 0) {
      this.#spentBudgeted += now - this.#since;
      this.#budgetDone += budget;
    }
    this.#since = now;
    this.#next++;
  }

  /** The factor of actual time over budget learnt so far (1 before any budgeted cell ended). */
  get factor(): number {
    return this.#budgetDone > 0 ? this.#spentBudgeted / this.#budgetDone : 1;
  }

  /** Estimated time left at `now`, ms (0 when every cell ended). */
  remainingMs(now: number): number {
    if (this.#next >= this.#budgets.length) return 0;
    const f = this.factor;
    let later = 0;
    for (let i = this.#next + 1; i < this.#budgets.length; i++) later += this.#budgets[i]!;
    const current = Math.max(0, (this.#budgets[this.#next] ?? 0) * f - (now - this.#since));
    return later * f + current;
  }
}

/** `1h02m`, `4m05s`, `12s`: a duration for a progress bar (rounded to the second). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
