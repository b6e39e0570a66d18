/**
 * SetterCrew: the bitmap set-race harness, main side.
 *
 * Theory of operation
 * -------------------
 * A crew of long-lived plain workers (./setterWorker.ts). Each round builds two bitmaps packed
 * into one SharedArrayBuffer at seeded, unaligned byte offsets: bitmap B starts on the byte right
 * after bitmap A, so the two share a 32-bit word, and guard bytes surround both. Every worker gets
 * a job (./setterOps.ts), says it is ready, and all start together on a shared word. Afterwards
 * the main thread replays every job into an independent model (./bitModel.ts) and compares:
 * - `lost`: bits the model sets that the bitmap lacks (lost updates: the race the suite hunts);
 * - `extra`: bits the bitmap has that the model does not (stray writes);
 * - `guard`: bytes outside both bitmaps, or unused bits of their last bytes, that changed;
 * - `uncovered`: set bits in a block the bitmap's summary does not mark (a lost mark; the summary
 *   starts exact: both bitmaps are rescanned before the round, see core's bitmap/bitSummary.ts).
 * The same harness runs the real bitmap (`atomic`) and the deliberately broken ones (`racy` on the
 * data words, `racy-marks` on the summary's), so the negative controls measure the harness itself.
 */
import type { Worker } from 'node:worker_threads';
import { IovaBitmap } from '@iovabitmap/core';
import { startWorker, createRng } from '@iovabitmap/workers/internal';
import { uncoveredBits } from '../../helpers/bitmaps.js';
import { BitModel, diffBits } from './bitModel.js';
import { forEachOp, type SetterJob } from './setterOps.js';
import type { SetterMessage } from './setterWorker.js';
import { subSeed } from './stressEnv.js';

/** One round of the crew. */
export interface CrewRoundOptions {
  /** `atomic`: the real IovaBitmap; `racy` / `racy-marks`: the twin whose data / summary words race. */
  readonly mode: 'atomic' | 'racy' | 'racy-marks';
  /** `ranges` (overlapping random operations) or `stride` (each bit once, every word shared). */
  readonly kind: 'ranges' | 'stride';
  /** Seed of the geometry and of every worker's job. */
  readonly seed: number;
  /** Operations per worker for `ranges`. @defaultValue 4000 */
  readonly ops?: number;
  /** Max bits per operation for `ranges`. @defaultValue 200 */
  readonly maxBits?: number;
  /** Bits per bitmap, roughly. @defaultValue 8192 */
  readonly bits?: number;
  /** Bits per unit for `stride` (./setterOps.ts). @defaultValue 1 */
  readonly unit?: number;
}

/** What a round found. */
export interface CrewRoundResult {
  readonly lost: number;
  readonly extra: number;
  readonly guard: number;
  readonly uncovered: number;
  /** Up to 8 lost bits per bitmap, as "A:bit" / "B:bit". */
  readonly lostSample: readonly string[];
  readonly ops: number;
  /** Longest worker's time, ms. */
  readonly ms: number;
}

interface Done {
  readonly ops: number;
  readonly ms: number;
}

/** See the module comment. */
export class SetterCrew {
  readonly #workers: Worker[];
  #round = 0;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /** Starts `size` setter workers. */
  static create(size: number): SetterCrew {
    const workers: Worker[] = [];
    for (let i = 0; i < size; i++) workers.push(startWorker(new URL('./setterWorker.ts', import.meta.url)));
    return new SetterCrew(workers);
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  #next(w: Worker, type: string, round: number): Promise<Done> {
    return new Promise((resolve, reject) => {
      const onMsg = (m: { type: string; round: number } & Done): void => {
        if (m.type !== type || m.round !== round) return;
        cleanup();
        resolve(m);
      };
      const onErr = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`setter worker exited with code ${code}`));
      };
      const cleanup = (): void => {
        w.off('message', onMsg);
        w.off('error', onErr);
        w.off('exit', onExit);
      };
      w.on('message', onMsg);
      w.on('error', onErr);
      w.on('exit', onExit);
    });
  }

  /** Runs one round; see the module comment. */
  async round(o: CrewRoundOptions): Promise<CrewRoundResult> {
    const round = ++this.#round;
    const rng = createRng(subSeed(o.seed, 1000));
    const target = o.bits ?? 8192;
    const nA = target / 2 + rng.int(target) + 1;
    const nB = target / 2 + rng.int(target) + 1;
    const offA = 8 + rng.int(8);
    const offB = offA + Math.ceil(nA / 8);
    const endB = offB + Math.ceil(nB / 8);
    const buffer = new SharedArrayBuffer(Math.ceil((endB + 16) / 4) * 4);
    const iovaA = BigInt(rng.int(2 ** 20)) << 12n;
    const iovaB = BigInt(rng.int(2 ** 20)) << 12n;
    const a = new IovaBitmap({ buffer, byteOffset: offA, iova: iovaA, length: BigInt(nA) << 12n, pageSize: 4096 });
    const b = new IovaBitmap({ buffer, byteOffset: offB, iova: iovaB, length: BigInt(nB) << 12n, pageSize: 4096 });
    const bitmaps = [a, b];
    for (const x of bitmaps) x.rescan(); // over a caller's buffer the summary starts all-set: make it exact
    const start = new SharedArrayBuffer(4);
    const k = this.#workers.length;
    const jobs: SetterJob[] = this.#workers.map((_, i) =>
      o.kind === 'stride'
        ? { kind: 'stride', seed: subSeed(o.seed, i), stride: k, offset: i, unit: o.unit }
        : { kind: 'ranges', seed: subSeed(o.seed, i), ops: o.ops ?? 4000, maxBits: o.maxBits ?? 200 },
    );
    const ready = this.#workers.map((w) => this.#next(w, 'ready', round));
    const done = this.#workers.map((w) => this.#next(w, 'done', round));
    this.#workers.forEach((w, i) => {
      const msg: SetterMessage = { round, start, bitmaps: bitmaps.map((x) => x.share()), mode: o.mode, job: jobs[i]! };
      w.postMessage(msg);
    });
    await Promise.all(ready);
    const go = new Int32Array(start);
    Atomics.store(go, 0, round);
    Atomics.notify(go, 0);
    const results = await Promise.all(done);

    const models = bitmaps.map((x) => new BitModel(x.nbits));
    for (const job of jobs) {
      forEachOp(job, bitmaps, {
        setBits: (t, first, count) => models[t]!.set(first, count),
        set: (t, _iova, _len, first, last) => models[t]!.set(first, last - first + 1),
        orMask: (t, first, mask) => {
          for (let j = 0; j < 32; j++) if ((mask >>> j) & 1) models[t]!.set(first + j, 1);
        },
        setUnits: (t, _unit, count, first) => models[t]!.set(first, count),
      });
    }
    const da = diffBits(models[0]!, a);
    const db = diffBits(models[1]!, b);
    return {
      lost: da.lost + db.lost,
      extra: da.extra + db.extra,
      guard: guardViolations(buffer, [a, b]),
      uncovered: uncoveredBits(a) + uncoveredBits(b),
      lostSample: [...da.lostSample.map((x) => `A:${x}`), ...db.lostSample.map((x) => `B:${x}`)],
      ops: results.reduce((s, r) => s + r.ops, 0),
      ms: Math.max(...results.map((r) => r.ms)),
    };
  }

  /** Ends every worker. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Bytes or bits outside the bitmaps that are not zero. */
export function guardViolations(buffer: SharedArrayBuffer, bitmaps: readonly IovaBitmap[]): number {
  const bytes = new Uint8Array(buffer);
  const owned = new Uint8Array(bytes.length); // per byte: mask of bits owned by a bitmap
  for (const bm of bitmaps) {
    for (let i = 0; i < bm.byteLength; i++) owned[bm.byteOffset + i] = 0xff;
    const tail = bm.nbits % 8;
    if (tail !== 0) owned[bm.byteOffset + bm.byteLength - 1] = (1 << tail) - 1;
  }
  let bad = 0;
  for (let i = 0; i < bytes.length; i++) if ((bytes[i]! & ~owned[i]!) !== 0) bad++;
  return bad;
}
