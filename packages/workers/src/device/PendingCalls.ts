/**
 * PendingCalls: makes RPC calls to a worker fail instead of hanging when the worker dies.
 * Runs on the main thread.
 *
 * Theory of operation
 * -------------------
 * comlink matches replies to requests by id and has no notion of the peer dying: a call whose
 * worker exits or is terminated never settles (comlink#601, docs/design/toolchain.md §6). This
 * tracker wraps every call: it remembers the call's reject function until the call settles, and
 * {@link PendingCalls.fail} (wired to the worker's `error` and `exit` events) rejects every call
 * still waiting with an `EIO` IovaBitmapError and makes all later calls reject at once. A call
 * that settled before the failure is untouched; a late reply after the failure is ignored.
 */
import { IovaBitmapError } from '@iovabitmap/core';

interface Pending {
  readonly method: string;
  readonly reject: (e: unknown) => void;
}

/** Tracks calls in flight to one worker; see the module comment. */
export class PendingCalls {
  readonly #where: string;
  readonly #pending = new Set<Pending>();
  #failure: string | undefined;

  /** @param where - the API name used in error messages, e.g. `"DeviceSimulator"` */
  constructor(where: string) {
    this.#where = where;
  }

  /** Number of calls in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /** True once {@link fail} was called. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Runs `call` and settles with it, unless the worker fails first.
   * @param method - the method name, for the error message
   * @param call - starts the RPC and returns its promise
   */
  track<T>(method: string, call: () => Promise<T>): Promise<T> {
    if (this.#failure !== undefined) return Promise.reject(this.#error(method));
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { method, reject };
      this.#pending.add(entry);
      let p: Promise<T>;
      try {
        p = call();
      } catch (e) {
        this.#pending.delete(entry);
        reject(e);
        return;
      }
      p.then(
        (v) => {
          if (this.#pending.delete(entry)) resolve(v);
        },
        (e: unknown) => {
          if (this.#pending.delete(entry)) reject(e);
        },
      );
    });
  }

  /**
   * Marks the worker dead: every pending call rejects with `EIO` naming `reason`, and so does
   * every later call. Only the first reason is kept.
   */
  fail(reason: string): void {
    this.#failure ??= reason;
    const all = [...this.#pending];
    this.#pending.clear();
    for (const p of all) p.reject(this.#error(p.method));
  }

  #error(method: string): IovaBitmapError {
    return new IovaBitmapError('EIO', `${this.#where}.${method}: ${this.#failure}`, { details: { method } });
  }
}
