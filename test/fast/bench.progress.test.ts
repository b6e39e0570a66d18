/**
 * The progress bar's time-left estimate (packages/bench/src/output/eta.ts): from each cell's
 * budget and the cells left, corrected by the rate of the cells done, so that it does not jump
 * when cells differ (the old estimate, cells done ÷ elapsed, went from 1m25s to 6s).
 */
import { describe, expect, it } from 'vitest';
import { EtaEstimator, cellBudgets, formatDuration } from '@iovabitmap/bench/internal';
import { buildMatrix, type Scenario } from '@iovabitmap/bench';

describe('EtaEstimator', () => {
  it('starts from the budgets, learns the factor from finished cells, and counts the cell in progress', () => {
    const eta = new EtaEstimator([400, 400, 0, 400], 0);
    expect(eta.remainingMs(0)).toBe(1200); // nothing learnt: the budgets
    expect(eta.remainingMs(300)).toBe(900); // 300 ms into the first cell
    expect(eta.remainingMs(500)).toBe(800); // past its budget: the current cell counts 0, not less
    eta.cellDone(800); // took 2× its budget
    expect(eta.factor).toBe(2);
    expect(eta.remainingMs(800)).toBe(1600); // (400 + 0 + 400) × 2
    eta.cellDone(1600);
    eta.cellDone(1601); // a reused measurement: no budget, says nothing about the factor
    expect(eta.factor).toBe(2);
    expect(eta.remainingMs(1601)).toBe(800);
    eta.cellDone(2401);
    expect(eta.remainingMs(2401)).toBe(0);
  });

  it('does not jump when the cells done were quick reuses and the cells left are long', () => {
    // The old ETA: elapsed / done × left. After 10 reused cells in 1 s with 10 long cells left, it
    // said 1 s; this one says what the 10 long cells' budgets (× the factor seen) will take.
    const budgets = [1000, ...new Array<number>(10).fill(0), ...new Array<number>(10).fill(1000)];
    const eta = new EtaEstimator(budgets, 0);
    eta.cellDone(1200);
    for (let i = 1; i <= 10; i++) eta.cellDone(1200 + i);
    const old = ((1210 / 11) * 10) / 1000;
    expect(old).toBeLessThan(1.2);
    expect(eta.remainingMs(1210)).toBeCloseTo(10 * 1000 * 1.2, 6);
  });

  it('the runner gives a budget per planned cell, 0 for a cell measured in an earlier scenario', () => {
    const scenarios: Scenario[] = buildMatrix({ cores: 2, threads: [1, 2], formats: ['vtd-ss', 'amd-v1', 'smmu-v3'] });
    const budgets = cellBudgets(scenarios, { timeMs: 300, warmupMs: 100 });
    expect(budgets).toHaveLength(scenarios.reduce((n, s) => n + s.runs.length, 0));
    expect(budgets.every((b) => b === 0 || b === 400)).toBe(true);
    expect(budgets.filter((b) => b === 0).length).toBeGreaterThan(0); // the leaf group reuses the density group's 1% cells
  });

  it('formats durations for the bar', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(6400)).toBe('6s');
    expect(formatDuration(85_000)).toBe('1m25s');
    expect(formatDuration(3_725_000)).toBe('1h02m');
  });
});
