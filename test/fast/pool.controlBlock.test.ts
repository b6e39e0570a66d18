/**
 * The control block of a parallel report (packages/workers/src/pool/ControlBlock.ts), in-process:
 * claims per phase, the start/cancel race of a slot, the stop reason, progress, the phase barrier.
 */
import { describe, expect, it } from 'vitest';
import { ControlBlock, Phase, SlotState, StopReason } from '@iovabitmap/workers/internal';

describe('ControlBlock', () => {
  it('hands out every item of a phase once, then indices past the end, per phase', () => {
    const cb = ControlBlock.create(2, 3, 2);
    const other = ControlBlock.attach(cb.buffer);
    expect([cb.claim(Phase.Walk), other.claim(Phase.Walk), cb.claim(Phase.Walk), other.claim(Phase.Walk)]).toEqual([0, 1, 2, 3]);
    expect([other.claim(Phase.CountBefore), cb.claim(Phase.CountAfter), cb.claim(Phase.CountBefore)]).toEqual([0, 0, 1]);
    expect([other.chunks, other.total(Phase.CountBefore), other.total(Phase.CountAfter), other.slots]).toEqual([3, 2, 2, 2]);
  });

  it('lets exactly one of start and cancel win for a slot', () => {
    const cb = ControlBlock.create(2, 1, 1);
    expect(cb.cancel(0)).toBe(true);
    expect(cb.tryStart(0)).toBe(false);
    expect(cb.state(0)).toBe(SlotState.Cancelled);
    expect(cb.tryStart(1)).toBe(true);
    expect(cb.cancel(1)).toBe(false);
    cb.finish(1);
    expect(cb.state(1)).toBe(SlotState.Done);
  });

  it('keeps the first stop reason', () => {
    const cb = ControlBlock.create(1, 1, 1);
    expect(cb.stopReason()).toBe(StopReason.None);
    expect(cb.requestStop(StopReason.Abort)).toBe(true);
    expect(cb.requestStop(StopReason.Fault)).toBe(false);
    expect(ControlBlock.attach(cb.buffer).stopReason()).toBe(StopReason.Abort);
  });

  it('counts progress per slot and in total, and publishes the current chunk', () => {
    const cb = ControlBlock.create(2, 10, 4);
    expect(cb.current(1)).toBe(-1);
    cb.setCurrent(1, 7);
    expect(cb.current(1)).toBe(7);
    cb.chunkDone(1, 100);
    cb.chunkDone(0, 5);
    expect(cb.current(1)).toBe(-1);
    expect(cb.doneBy(1)).toBe(1);
    expect(cb.progress()).toEqual({ chunksDone: 2, bitsDone: 105n });
  });

  it('passes a phase barrier once every item is done, or when STOP is set; bitsSet is after minus before', () => {
    const cb = ControlBlock.create(1, 2, 2);
    cb.pieceCounted(Phase.CountBefore, 0, 30);
    cb.pieceCounted(Phase.CountBefore, 1, 12);
    expect(cb.waitPhase(Phase.CountBefore)).toBe(true);
    cb.chunkDone(0, 1);
    cb.pieceCounted(Phase.CountAfter, 0, 50);
    cb.pieceCounted(Phase.CountAfter, 1, 40);
    expect(cb.bitsSet()).toBe(48);
    cb.requestStop(StopReason.Fault);
    // One chunk of two is done: without STOP this would wait forever.
    expect(cb.waitPhase(Phase.Walk)).toBe(false);
  });

  it('starts with the count before done, at 0, when the caller knows it (a clean summary)', () => {
    const cb = ControlBlock.create(2, 3, 4, { before: true, after: false });
    const other = ControlBlock.attach(cb.buffer);
    expect(other.claim(Phase.CountBefore)).toBeGreaterThanOrEqual(4);
    expect(other.waitPhase(Phase.CountBefore)).toBe(true); // at once: nothing to wait for
    expect([0, 1, 2, 3].map((i) => other.claimPiece(i) || !other.pieceCountedBefore(i))).toEqual([false, false, false, false]);
    expect(other.claim(Phase.Walk)).toBe(0);
    for (let i = 0; i < 4; i++) other.pieceCounted(Phase.CountAfter, i, 5);
    expect(cb.bitsSet()).toBe(20);
    expect(ControlBlock.create(1, 1, 2).claimPiece(0)).toBe(true); // the default: the workers count
  });

  it('starts with the count after done too when the caller sums the records instead', () => {
    const cb = ControlBlock.create(1, 2, 3, { before: true, after: true });
    expect(cb.claim(Phase.CountAfter)).toBeGreaterThanOrEqual(3);
    expect(cb.done(Phase.CountAfter)).toBe(3);
    expect(cb.claim(Phase.Walk)).toBe(0);
    expect(cb.done(Phase.Walk)).toBe(0); // the walk is still to do
    expect(cb.bitsSet()).toBe(0);
  });

  it('hands each count piece to one before-counter; the others see it counted, or give up on a fault', () => {
    const cb = ControlBlock.create(2, 4, 3);
    const other = ControlBlock.attach(cb.buffer);
    expect(cb.claimPiece(1)).toBe(true);
    expect(other.claimPiece(1)).toBe(false);
    expect(other.pieceCountedBefore(1)).toBe(false);
    other.pieceCounted(Phase.CountBefore, 1, 7);
    expect(cb.pieceCountedBefore(1)).toBe(true);
    expect(cb.waitPieceCounted(1)).toBe(true);
    expect(cb.done(Phase.CountBefore)).toBe(1);
    // Piece 2 claimed by a worker that then dies: only STOP (Fault) releases its waiters.
    expect(other.claimPiece(2)).toBe(true);
    cb.requestStop(StopReason.Fault);
    expect(cb.waitPieceCounted(2)).toBe(false);
    // The slots' lines are untouched by the piece states.
    expect(cb.slots).toBe(2);
    expect(cb.current(1)).toBe(-1);
  });
});
