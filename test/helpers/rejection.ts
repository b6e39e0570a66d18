/**
 * The one place tests catch an expected error: run or await something that must fail, and get
 * back the IovaBitmapError it failed with: an instance of this copy of the library's class (errors
 * from workers are rebuilt as instances), anything else fails the test.
 */
import { IovaBitmapError } from '@iovabitmap/core';

function typed(e: unknown, what: string): IovaBitmapError {
  if (!IovaBitmapError.is(e)) {
    const shown = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new Error(`${what} failed with something that is not an IovaBitmapError: ${shown}`);
  }
  if (!(e instanceof IovaBitmapError)) throw new Error(`${what} failed with an IovaBitmapError that is not an instance of the class: ${(e as Error).message}`);
  return e;
}

/** Calls `f`, which must throw an IovaBitmapError, and returns that error. */
export function rejection(f: () => unknown): IovaBitmapError {
  try {
    f();
  } catch (e) {
    return typed(e, 'the call');
  }
  throw new Error('expected the call to throw an IovaBitmapError, it returned');
}

/** Awaits `p`, which must reject with an IovaBitmapError, and returns that error. */
export async function rejectionOf(p: Promise<unknown>): Promise<IovaBitmapError> {
  try {
    await p;
  } catch (e) {
    return typed(e, 'the promise');
  }
  throw new Error('expected the promise to reject with an IovaBitmapError, it resolved');
}
