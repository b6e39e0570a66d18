/**
 * The bitmap-setting operations of the thread tests, and the one switch that applies them to an
 * IovaBitmap (in a worker, ../workers/bitmapSetter.ts) or to the tests' model (./bitModel.ts).
 * No side effects, so both threads can import it.
 */

/** One operation of a round. `stride` is setBits(first + j * step, 1) for j in [0, count). */
export type SetterOp =
  | { kind: 'stride'; first: number; step: number; count: number }
  | { kind: 'set'; iova: bigint; length: bigint }
  | { kind: 'setBits'; first: number; count: number }
  | { kind: 'setUnits'; unit: number; count: number; shift: number }
  | { kind: 'orMask'; first: number; mask: number };

/** What the operations call: an IovaBitmap, or the tests' model of one (./bitModel.ts). */
export interface SetterTarget {
  set(iova: bigint, length: bigint): void;
  setBits(first: number, count: number): void;
  setUnits(unit: number, count: number, shift: number): void;
  orMask(first: number, mask: number): void;
}

/** Applies one operation to a bitmap or the model; returns the number of calls made. */
export function applySetterOp(b: SetterTarget, op: SetterOp): number {
  switch (op.kind) {
    case 'stride':
      for (let j = 0; j < op.count; j++) b.setBits(op.first + j * op.step, 1);
      return op.count;
    case 'set':
      b.set(op.iova, op.length);
      return 1;
    case 'setBits':
      b.setBits(op.first, op.count);
      return 1;
    case 'setUnits':
      b.setUnits(op.unit, op.count, op.shift);
      return 1;
    case 'orMask':
      b.orMask(op.first, op.mask);
      return 1;
  }
}
