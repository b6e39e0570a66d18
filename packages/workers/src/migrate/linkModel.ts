/**
 * The link model of a migration: modelled time, the transfer of each round over the link, the
 * downtime prediction and the convergence rule. Pure arithmetic, no I/O.
 * Runs on the main thread (./migrate.ts).
 *
 * Theory of operation
 * -------------------
 * What is modelled and what is real.
 * - Real (measured): each round's harvest, the parallel report, with the device writing in real
 *   time meanwhile, so reports race with writes as on a real host.
 * - Modelled: the link. A round's transfer sends its distinct dirty bytes at `bandwidth`
 *   (bytes/s; Infinity: no link, transfers take no time). Nothing sleeps for it: after the
 *   harvest, migrate() pauses the device and asks it to write, as fast as it can, what its rate
 *   writes in the part of the round the harvest did not cover (DeviceSimulator.advance), then
 *   resumes it for the next harvest.
 * - {@link ModelClock}: modelled time = real ms while the device runs + the ms advanced. The
 *   dirty set a round harvests accumulated over the modelled interval since the previous round's
 *   harvest began (`dirtiedOverMs`), which gives the dirty rate.
 *
 * A round's modelled time: harvest-then-send is harvest + transfer. Streaming (the report hands
 * each chunk's ranges over as it is recorded, ReportPool's onChunk) is {@link LinkQueue}: chunk i
 * arriving at t_i with b_i new bytes leaves the link busy until max(free, t_i) + b_i / bandwidth;
 * the round ends when both the harvest and the link are done, so max(harvest, send) <= round <=
 * harvest + send.
 *
 * Prediction (after each pre-copy round r, {@link predictDowntime}): if pre-copy stopped now, the
 * device would be stopped and the final round would harvest what was dirtied since round r's
 * harvest began: over round r's modelled time (the final harvest starts right after it). So
 * expected downtime = predicted harvest + predicted bytes / bandwidth, the two parts kept apart.
 * Unlike Cloud Hypervisor's bytes / bandwidth, the harvest is in it: the final report runs while
 * the guest is stopped.
 * - Harvest: round r's. The walk reads the same tables every round (a round's entries visited are
 *   the same in every round; nothing of the dirty set changes its cost at these densities), so a
 *   rate per entry gives the same figure. Measured on the sweep (docs/migrate.md, "Measured"): at
 *   64 GiB a harvest (3–5 ms) is mostly waking the workers and scheduling, and varies by ±1–2 ms
 *   from one report to the next; the fastest warm round was 19 % low at 1 TiB and the median of
 *   the warm rounds no better than the last one, so the last one it is (the error that remains is
 *   that spread, not a bias this could remove).
 * - Bytes: the dirty rate times round r's modelled time. The rate is pooled over the last
 *   {@link RATE_ROUNDS} rounds whose interval is known (their distinct dirty bytes over the
 *   modelled ms they accumulated in; round 0's interval is not known), not round r's alone and not
 *   every round's. Not r's alone: a round's bytes are a count of dirtied leaves (one 4 KiB write
 *   dirties a 2 MiB leaf in the IOMMU's report), and two rounds' counts halve that count's
 *   variance. Not every round's: the rounds shrink, and an early round's long interval re-dirties
 *   the same leaves (a leaf written twice is sent once), so its rate per ms is lower than that of
 *   the short final interval: pooled over every round, the prediction fell 13-18 % short with the
 *   bulk stage (docs/migrate.md, "Measured"). After round 0 alone the bytes are round 0's,
 *   unscaled, and the prediction never stops pre-copy.
 *
 * The bulk stage (migrate's `bulkStage`): round 0 sends the whole range, as the first pass of a
 * real pre-copy does (the destination has nothing yet), so its modelled time is that transfer and
 * the device writes for that long before round 1; its report still runs (it opens the dirty log's
 * first epoch) and its dirty pages are among the bytes sent. Without it, round 0 sends only what
 * was dirtied since tracking began, and the rounds after it hold the few leaves written during a
 * few ms of harvest and transfer.
 *
 * Convergence ({@link convergenceStop}): pre-copy ends when the expected downtime fits
 * `downtimeLimit` (converged; from round 1 on: round 0 has no dirty rate to predict with), or when the dirty set stopped shrinking (not converging: round r's
 * dirty bytes >= round r-1's >= round r-2's, so a guest that dirties faster than the link is
 * stopped after 3 rounds), or after `maxRounds` (not converged). With a fixed number of rounds
 * none of these stops it; the result still says whether the last prediction fit.
 */

/** Why pre-copy ended. */
export type ConvergenceReason = 'downtime-limit' | 'not-converging' | 'max-rounds' | 'fixed-rounds';

/** A downtime and its two parts, ms. */
export interface DowntimeParts {
  /** The final round's harvest (the report while the guest is stopped). */
  readonly harvestMs: number;
  /** The final round's dirty bytes over the link. */
  readonly transferMs: number;
  /** harvestMs + transferMs. */
  readonly totalMs: number;
}

/** ms to send `bytes` at `bandwidth` bytes/s (0 for an infinite link). */
export function transferMs(bytes: number, bandwidth: number): number {
  return bandwidth === Number.POSITIVE_INFINITY ? 0 : (bytes / bandwidth) * 1000;
}

/** A downtime from its parts. */
export function downtime(harvestMs: number, transfer: number): DowntimeParts {
  return { harvestMs, transferMs: transfer, totalMs: harvestMs + transfer };
}

/** The link of one streaming round; see the module comment. */
export class LinkQueue {
  readonly #bandwidth: number;
  #free = 0;
  #sent = 0;

  /** @param bandwidth - bytes/s (Infinity: sending takes no time) */
  constructor(bandwidth: number) {
    this.#bandwidth = bandwidth;
  }

  /** `bytes` are ready to send at `atMs` (ms since the round began). */
  send(atMs: number, bytes: number): void {
    if (bytes <= 0) return;
    this.#free = Math.max(this.#free, atMs) + transferMs(bytes, this.#bandwidth);
    this.#sent += bytes;
  }

  /** When the link is done with everything sent so far, ms since the round began. */
  get doneMs(): number {
    return this.#free;
  }

  /** Bytes sent. */
  get sentBytes(): number {
    return this.#sent;
  }
}

/** Modelled time; see the module comment. Starts running at construction. */
export class ModelClock {
  #banked = 0;
  #runningSince: number | undefined;

  constructor(now = performance.now()) {
    this.#runningSince = now;
  }

  /** Modelled ms since construction. */
  now(real = performance.now()): number {
    return this.#banked + (this.#runningSince === undefined ? 0 : real - this.#runningSince);
  }

  /** The device was paused (its real time stops counting). */
  paused(real = performance.now()): void {
    if (this.#runningSince === undefined) return;
    this.#banked += real - this.#runningSince;
    this.#runningSince = undefined;
  }

  /** The device wrote `ms` modelled ms while paused. */
  advanced(ms: number): void {
    this.#banked += ms;
  }

  /** The device was resumed. */
  resumed(real = performance.now()): void {
    this.#runningSince ??= real;
  }

  /** True while the device runs in real time. */
  get running(): boolean {
    return this.#runningSince !== undefined;
  }
}

/** What the prediction reads of a pre-copy round. */
export interface RoundForPrediction {
  readonly harvestMs: number;
  readonly bytesDirtied: number;
  /** The round's modelled time (harvest and transfer). */
  readonly roundMs: number;
  /** The modelled ms its dirty set accumulated over, or null (round 0). */
  readonly dirtiedOverMs: number | null;
}

/** Rounds the dirty rate is pooled over: the most recent ones with a known interval (module comment). */
export const RATE_ROUNDS = 2;

/**
 * The dirty rate pooled over the last {@link RATE_ROUNDS} of `rounds` whose interval is known
 * (round 0's is not), bytes per modelled ms: their bytes over their intervals; null when no round
 * has one.
 */
function pooledDirtyRate(rounds: readonly RoundForPrediction[]): number | null {
  let bytes = 0;
  let ms = 0;
  let n = 0;
  for (let i = rounds.length - 1; i >= 0 && n < RATE_ROUNDS; i--) {
    const r = rounds[i]!;
    if (r.dirtiedOverMs === null || r.dirtiedOverMs <= 0) continue;
    bytes += r.bytesDirtied;
    ms += r.dirtiedOverMs;
    n++;
  }
  return ms > 0 ? bytes / ms : null;
}

/**
 * The expected downtime if pre-copy stopped after the last of `rounds` (the pre-copy rounds so
 * far, in order, at least one); see the module comment.
 */
export function predictDowntime(rounds: readonly RoundForPrediction[], bandwidth: number): DowntimeParts {
  const last = rounds[rounds.length - 1]!;
  const rate = pooledDirtyRate(rounds);
  return downtime(last.harvestMs, transferMs(rate === null ? last.bytesDirtied : rate * last.roundMs, bandwidth));
}

/** What the convergence rule reads. */
export interface ConvergenceInput {
  /** Dirty bytes of every pre-copy round so far, in order. */
  readonly dirtyBytes: readonly number[];
  /** The expected downtime after the last of them. */
  readonly expected: DowntimeParts;
  readonly downtimeLimitMs: number;
  /** Pre-copy rounds at most (`maxRounds`), or the fixed number (`rounds`). */
  readonly limitRounds: number;
  /** True with a fixed number of rounds (`rounds`): only that number stops pre-copy. */
  readonly fixed: boolean;
}

/** Whether pre-copy ends after the last round, and why; undefined: go on. See the module comment. */
export function convergenceStop(c: ConvergenceInput): ConvergenceReason | undefined {
  const n = c.dirtyBytes.length;
  if (c.fixed) return n >= c.limitRounds ? 'fixed-rounds' : undefined;
  // Round 0's dirty set accumulated over an interval migrate() does not know (since tracking
  // began), so no dirty rate: its prediction is shown but never trusted to stop pre-copy.
  if (n >= 2 && c.expected.totalMs <= c.downtimeLimitMs) return 'downtime-limit';
  if (n >= 3 && c.dirtyBytes[n - 1]! >= c.dirtyBytes[n - 2]! && c.dirtyBytes[n - 2]! >= c.dirtyBytes[n - 3]!) return 'not-converging';
  return n >= c.limitRounds ? 'max-rounds' : undefined;
}
