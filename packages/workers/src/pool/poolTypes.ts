/**
 * The public types of the report pool: its options, a report's options and progress, the pool's
 * status. Types only (no code runs).
 *
 * They live apart from ./ReportPool.ts and ./reportRun.ts because those import piscina, and a
 * public declaration file that reaches piscina's types breaks a consumer compiling with
 * `moduleResolution: node16` (piscina's own .d.ts fails to resolve there). This module imports
 * nothing from a third party; test/fast/build.test.ts checks that no public declaration file does.
 */
import type { DirtySource, IovaBitmap, IovaRange } from '@iovabitmap/core';
import type { FaultInjection } from './worker/reportTask.js';

/** Options of {@link ReportPool}'s constructor. */
export interface ReportPoolOptions {
  /**
   * Worker threads, 1..{@link MAX_POOL_THREADS}. More threads than cores is allowed (they
   * time-share the cores).
   * @defaultValue `os.availableParallelism()`
   */
  readonly threads?: number;
  /**
   * Bitmap bits per chunk, the same for every source of every report of this pool (a report may
   * override it): a multiple of 32 in [32, 2^31].
   * @defaultValue sized per source and report from the source's work profile (./ChunkPlan.ts
   *   `chunkBitsFor`: 2^16..2^20 entries of work per chunk, 32 chunks per thread where that allows);
   *   256 MiB of IOVA per chunk for a source without a profile
   */
  readonly chunkBits?: number;
  /**
   * Least time between two `onProgress` calls of a report, milliseconds, in [50, 2^31 - 1].
   * @defaultValue 100
   */
  readonly progressIntervalMs?: number;
  /**
   * Warm the walk kernels up in every worker when it starts (a synthetic report, ~0.1–0.2 s once
   * per worker; docs/design/performance.md §7), and wait for every worker to be up before the
   * first report. With `inlineBelow > 0` the caller's thread runs the same warm-up once, while
   * the workers start (0.4–0.5 s beside two workers on 2 cores; its first small reports were
   * 3–8 ms cold, ~1.5 ms warm).
   * `false` skips all of it: workers start lazily and the first reports are slower (tests use it).
   * @defaultValue true
   */
  readonly warmUp?: boolean;
  /**
   * Reports whose estimated work is below this many *entries* run on the caller's thread, with
   * core's `reportDirty`, instead of on the workers. The work is the sum of the sources'
   * work-profile entries over the bitmap's range (PTEs at the leaf level, tracker record words) plus one
   * per 32-bit word of the bitmap; a source without a work profile sends the report to the
   * workers. A safe integer ≥ 0; `0` sends every report to the workers.
   *
   * Why: a report on the workers pays ~0.3–0.4 ms to post, wake and collect them (~0.9–1.2 ms
   * after they have idled), more than a small report's whole work on one thread: a 2 MiB report
   * took 60 µs on the caller's thread against 340 µs on two workers; the two tie at ~2^22
   * entries (16 GiB of 4 KiB leaves), the workers are faster above (docs/bench/pool.md).
   * What differs on the caller's thread (the bits, the sources' state, the checks and errors are
   * the same): the work is one synchronous step, so `signal` is read once before it and
   * `onProgress` is called once at the end; the stats have `tasks: 0` and no `workers`; a
   * streamed report (`onChunk`) hands over the same chunks as on the workers, each right after it
   * is recorded, from within that step; a report with `faultInjection` always goes to the workers.
   * @defaultValue 2^22 (4,194,304 entries: about 16 GiB of 4 KiB leaves over a 4 KiB-page
   *   bitmap, some 4–5 ms on the caller's thread at 1 % dirty; a 64 GiB guest of the migration's
   *   mixed layout is 2.1 M entries, about 1.3 ms)
   */
  readonly inlineBelow?: number;
  /**
   * How long the caller's thread may walk chunks of a report on the workers, milliseconds: it
   * takes the place of the last worker while the others wake, and the last task is posted only
   * if chunks are left after that (the caller's share); at once, after one chunk, when the chunks
   * left would outlast this budget. A number in [0, 1000]; `0` never shares.
   *
   * Why: before a report's last worker walks, the caller has posted every task and that worker has
   * woken and rebuilt its views (together ~0.5–0.8 ms on 2 vCPUs), while the caller's thread sat
   * idle with the report's objects in hand. Sharing made a 1 TiB guest of 2 MiB leaves at 1 %
   * dirty 1.0–1.6 ms a call instead of 1.6–2.6, and dense reports no slower (docs/bench/scale.md).
   * When: only with two threads or more, when the bitmap's summary was clean as the report started
   * (so nothing is counted before the walk, and the caller never waits for a worker), without
   * `onChunk` and without `faultInjection`. What differs: the caller's thread is busy for up to
   * this long plus one chunk inside `report()` (an abort or a progress tick is seen after it); the
   * stats' `workers` then hold an entry for the caller's thread (its `threadId`, the slot after
   * the tasks'), and `tasks` counts only the tasks posted. The bits and the sources' state are
   * the same.
   * @defaultValue 2 (a long report then goes on with every worker after ~2 ms)
   */
  readonly callerShareMs?: number;
}

/** Arguments of {@link ReportPool.report}. */
export interface PoolReportOptions {
  /** The caller's bitmap (backed by a SharedArrayBuffer); the report covers its whole range. */
  readonly bitmap: IovaBitmap;
  /** The sources to read; names must be unique. */
  readonly sources: readonly DirtySource[];
  /** Read without clearing (iommufd NO_CLEAR). @defaultValue false */
  readonly noClear?: boolean;
  /**
   * Aborts the report: it rejects with `ECANCELED` once every worker has stopped (within one
   * chunk). The bitmap then holds every page whose dirty state was cleared: keep it.
   */
  readonly signal?: AbortSignal;
  /** Called at most every `progressIntervalMs`, and once at the end. Exceptions become warnings. */
  readonly onProgress?: (progress: ReportProgress) => void;
  /**
   * Streaming: called on the main thread with each chunk's recorded runs as soon as the chunk is
   * recorded, while the report runs; every call comes before the report settles. A chunk that
   * recorded nothing is not handed over (no call), so a sparse report costs a call per chunk
   * with dirty pages, not per chunk. A range handed
   * out is already in the bitmap (and its source cleared: record before clear). Duplicates are
   * possible: two sources report the same page, and a unit (a leaf, a tracker page) straddling a
   * chunk edge is recorded whole by its owning chunk, so its pages in the next chunk's range come
   * with the owner. When the report fails (ECANCELED, EIO) the ranges handed out are in the
   * bitmap, and the bitmap may hold more (chunks whose message did not arrive, a chunk cut short):
   * keep the bitmap. Without it, workers capture nothing and post nothing. Exceptions become
   * warnings.
   */
  readonly onChunk?: (chunk: ReportedChunk) => void;
  /**
   * Workers this report may use at most, 1..the pool's `threads` (it posts
   * min(threads, chunks) tasks). A smaller number leaves workers
   * free for concurrent reports.
   * @defaultValue the pool's `threads`
   */
  readonly threads?: number;
  /** Bits per chunk for every source of this report. @defaultValue the pool's `chunkBits` */
  readonly chunkBits?: number;
  /**
   * Test-only: make one worker die mid-chunk (see `FaultInjection` in ./worker/reportTask.ts).
   * Never in production; left out of the API reference.
   * @internal
   */
  readonly faultInjection?: FaultInjection;
}

/** One recorded chunk of a streaming report, passed to `onChunk`. */
export interface ReportedChunk {
  /** The chunk's index in the report's plan (chunks of every source, 0-based). */
  readonly chunk: number;
  /** The name of the source whose chunk it was. */
  readonly source: string;
  /**
   * The runs the chunk recorded: pairs (first bit, bit count) of the report's bitmap, bit 0 at
   * its iova, in the order recorded; they may overlap each other and other chunks' runs. A view:
   * its `buffer` may be longer (up to 4 times).
   */
  readonly runs: Float64Array;
  /** The same runs as IOVA ranges, bytes (what a sender copies). */
  ranges(): Generator<IovaRange>;
}

/** A snapshot of the pool, for diagnostics and leak tests. */
export interface ReportPoolStatus {
  /** Worker threads alive now. */
  readonly workers: number;
  /** Reports in flight. */
  readonly activeReports: number;
  /** Tasks waiting in piscina's queue. */
  readonly queuedTasks: number;
  /** Listeners registered on the underlying piscina instance (constant over the pool's life). */
  readonly listeners: number;
  /** True after {@link ReportPool.close}. */
  readonly closed: boolean;
}

/** Progress of a report, passed to `onProgress`. */
export interface ReportProgress {
  /** Chunks finished so far (all sources). */
  readonly chunksDone: number;
  /** Chunks of the report (pieces × sources). */
  readonly chunksTotal: number;
  /** IOVA bytes covered by the finished chunks, summed over sources. */
  readonly bytesScanned: bigint;
  /** IOVA bytes of the whole report: bitmap length × sources. */
  readonly bytesTotal: bigint;
}
