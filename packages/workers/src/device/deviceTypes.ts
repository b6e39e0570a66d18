/**
 * Plain data types of the device simulator, shared by the worker side (./DeviceEngine.ts,
 * ./deviceWorkerEntry.ts) and the main-thread handle (./DeviceSimulator.ts). Everything here is
 * structured-cloneable: it crosses the comlink control plane as is.
 * Types only (no code runs), shared by the main thread and the device worker.
 */
import type { IovaBitmapErrorData, SharedIovaBitmap, U64Like } from '@iovabitmap/core';
import type { DevicePatternName, PatternOptions } from './patterns.js';
import type { SharedWriteEpochs } from './WriteEpochs.js';

/**
 * Life cycle of the device: `detached` (nothing attached yet) → `ready` (attached, not writing)
 * → `running` ⇄ `paused` → `stopped` (quiesced; may be started again or re-attached).
 */
export type DeviceState = 'detached' | 'ready' | 'running' | 'paused' | 'stopped';

/** A range of IOVA the device may write, bytes. Both aligned to 4 KiB. */
export interface DeviceRegion {
  /** First IOVA, bytes. */
  readonly iova: U64Like;
  /** Length, bytes, > 0. */
  readonly length: U64Like;
}

/** Options of `DeviceSimulator.start`. */
export interface DeviceStartOptions extends PatternOptions {
  /** Which write pattern (see ./patterns.ts). */
  readonly pattern: DevicePatternName;
  /**
   * Target rate: 4 KiB pages per second, a positive finite number (fractions allowed: 1/4096 is a
   * byte per second), or `'max'` for as fast as the write loop can go. 0 is refused (`EINVAL`):
   * say `'max'`.
   */
  readonly rate: number | 'max';
  /** Seed of the pattern's random stream, an integer in [0, 2^32); the same seed replays the same writes. */
  readonly seed: number;
  /**
   * Where the device writes: `{ iova, length }`. Must lie inside the ground-truth bitmap and inside
   * what every attached source maps writable (page table) or tracks (tracker).
   * @defaultValue the ground truth's range
   */
  readonly region?: DeviceRegion;
  /**
   * Max pages written per batch, an integer in [1, 2^24]; the device yields to its event loop
   * between batches so that control calls are served. @defaultValue 1024
   */
  readonly batchPages?: number;
}

/** Counters of one pattern. */
export interface DevicePatternStats {
  /** DMA writes (runs) issued. */
  writes: number;
  /** 4 KiB pages written (a page written twice counts twice). */
  pages: number;
}

/** What the device has done since it was attached. */
export interface DeviceStats {
  /** The state when the stats were taken. */
  readonly state: DeviceState;
  /** DMA writes (runs) issued, all patterns. */
  readonly writes: number;
  /** 4 KiB pages written, all patterns (repeats counted). */
  readonly pages: number;
  /** Batches run (event-loop turns spent writing). */
  readonly batches: number;
  /** Per pattern; every pattern is present (zeros for the unused ones). */
  readonly perPattern: Readonly<Record<DevicePatternName, DevicePatternStats>>;
  /**
   * Per source name: pages of writes the source took nothing of (its `dmaWritePages` returned
   * 0). Always 0 when the region is mapped and tracked; anything else means the ground truth holds
   * pages no report can find.
   */
  readonly unmarkedPages: Readonly<Record<string, number>>;
  /** Incremented by every pause() and stop(): the quiesce fence (see ./DeviceEngine.ts). */
  readonly quiesceSeq: number;
  /** Milliseconds spent in the running state. */
  readonly runningMs: number;
  /** Modelled milliseconds written by `advance()` (not in runningMs). */
  readonly modelledMs: number;
}

/** What `attach` takes across the control plane (descriptors, no copies of memory). */
export interface DeviceAttachShared {
  /** `IoPageTable.share()` output; optional. */
  readonly pageTable?: { readonly kind: string; readonly name: string };
  /** `VfTracker.share()` output; optional. */
  readonly tracker?: { readonly kind: string; readonly name: string };
  /** The ground truth: a 4 KiB-page `IovaBitmap.share()`, required. */
  readonly groundTruth: SharedIovaBitmap;
  /** The write epochs over the ground truth's pages (./WriteEpochs.ts), made by the main thread; absent: the engine makes its own. */
  readonly epochs?: SharedWriteEpochs;
}

/** A control-plane reply: errors travel as data so that their code survives (core's IovaBitmapError.ts). */
export type DeviceReply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: IovaBitmapErrorData };

/** The worker-side API exposed through comlink (every method replies with a {@link DeviceReply}). */
export interface DeviceRemote {
  /** Rebuilds views of the descriptors and attaches them (DeviceEngine.attach). */
  attach(a: DeviceAttachShared): DeviceReply<void>;
  /** Starts writing (DeviceEngine.start). */
  start(o: DeviceStartOptions): DeviceReply<void>;
  /** Pauses, quiesced on reply (DeviceEngine.pause). */
  pause(): DeviceReply<DeviceStats>;
  /** Writes `ms` modelled milliseconds while paused, quiesced on reply (DeviceEngine.advance). */
  advance(ms: number): DeviceReply<DeviceStats>;
  /** Resumes after pause (DeviceEngine.resume). */
  resume(): DeviceReply<void>;
  /** Stops, quiesced on reply (DeviceEngine.stop). */
  stop(): DeviceReply<DeviceStats>;
  /** The counters so far (DeviceEngine.stats). */
  stats(): DeviceReply<DeviceStats>;
  /** Replies after `delayMs` with the worker's clock (ms); a liveness probe. */
  ping(delayMs: number): Promise<DeviceReply<number>>;
  /** The shared control words (see ./DeviceEngine.ts); read once at creation. */
  control(): DeviceReply<SharedArrayBuffer>;
  /** Test-only fault injection: the worker exits (`exit`) or throws from a timer (`throw`). */
  injectFault(kind: 'exit' | 'throw'): DeviceReply<void>;
}
