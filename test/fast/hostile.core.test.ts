/**
 * The hostile sweep of @iovabitmap/core: every function, constructor and method of its public
 * entry and of its internal one (`@iovabitmap/core/internal`, which the other packages call), called
 * once validly and then with one argument, or one field of an options object or descriptor,
 * replaced by each value of hostileValues(). Each call must succeed or throw an IovaBitmapError
 * with a short message, in time (expectTypedOrOk). Calls that can write a bitmap write into an
 * arena (random guard bytes around the bitmap, ./helpers/bitModel.ts makeArena): no guard bit may
 * change, and a rejected call must leave the whole buffer as it was. Calls that read or clear the
 * dirty sources must leave them as they were when rejected.
 *
 * Table-driven: one row per API (a fresh world per call: a bitmap in an arena, a page table with
 * 4 KiB and 2 MiB leaves, a started tracker, some pages dirty), the valid arguments, and the
 * option fields to sweep.
 */
import { describe, expect, it } from 'vitest';
import * as core from '@iovabitmap/core';
import { IoPageTable, IovaBitmap, IovaBitmapError, VfTracker } from '@iovabitmap/core';
import * as internal from '@iovabitmap/core/internal';
import { expectTypedOrOk, hostileValues } from '../helpers/hostile.js';
import { makeArena, type Arena } from './helpers/bitModel.js';
import { MIB } from '../helpers/sizes.js';

const SPAN = 8 * MIB;
const NBITS = SPAN / 4096;
const BYTE_OFFSET = 5;
/** Longest message accepted here (the helper's own bound is looser). */
const MAX_MESSAGE = 300;

/** One fresh set of objects for a call. */
interface World {
  readonly arena: Arena;
  readonly bitmap: IovaBitmap;
  readonly table: IoPageTable;
  readonly tracker: VfTracker;
}

function world(): World {
  const arena = makeArena(NBITS, BYTE_OFFSET, 3, 99);
  const bitmap = new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096, buffer: arena.buffer, byteOffset: BYTE_OFFSET });
  const table = new IoPageTable({ format: 'amd-v1', name: 'iommu' });
  table.map(0, SPAN / 2, { leaf: 4096 });
  table.map(SPAN / 2, SPAN / 2, { leaf: 2 * MIB });
  table.setDirtyTracking(true);
  const tracker = new VfTracker({ name: 'vf' });
  tracker.start({ ranges: [{ iova: 0, length: SPAN }], pageSize: 4096 });
  for (const [iova, length] of [
    [4096 * 3, 4096 * 40],
    [SPAN / 2 + 5, 1],
    [SPAN - 1, 1],
  ] as const) {
    table.dmaWrite(iova, length);
    tracker.dmaWrite(iova, length);
  }
  return { arena, bitmap, table, tracker };
}

/** What the sources hold: the tracker's records and the table's dirty leaves (read with noClear). */
function sourceState(w: World): string {
  const scratch = new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 });
  w.table.readAndClearDirty(scratch, 0, SPAN, { noClear: true });
  return `${w.tracker.recordedPages().join(',')}|${Buffer.from(scratch.snapshot()).toString('hex')}|${w.table.dirtyTracking}`;
}

/** The bytes outside the bitmap's bits (guards, and the unused bits of its last byte) are as made. */
function expectGuardsIntact(arena: Arena, what: string): void {
  const now = new Uint8Array(arena.buffer);
  const end = BYTE_OFFSET + Math.ceil(NBITS / 8);
  for (let i = 0; i < now.length; i++) {
    if (i >= BYTE_OFFSET && i < end) continue;
    if (now[i] !== arena.initial[i]) throw new Error(`${what}: guard byte ${i} changed`);
  }
}

/** Where one hostile value goes: an argument index, then property keys into it. */
type Path = readonly (number | string)[];

interface Api {
  readonly name: string;
  /** The valid arguments, built from a fresh world. */
  readonly args: (w: World) => unknown[];
  readonly call: (w: World, args: unknown[]) => unknown;
  /** Paths into the arguments to sweep besides each whole argument. */
  readonly fields?: readonly Path[];
  /** The call may write the world's bitmap. */
  readonly writes?: boolean;
  /** The call may read or clear the world's sources. */
  readonly sources?: boolean;
}

const chunk = { chunkLo: 0n, chunkHi: BigInt(SPAN), clipLo: 0n, clipHi: BigInt(SPAN) };
const bitmapOptionFields: Path[] = ['iova', 'length', 'pageSize', 'buffer', 'byteOffset', 'windowPages'].map((f) => [0, f]);
const chunkFields: Path[] = ['chunkLo', 'chunkHi', 'clipLo', 'clipHi'].map((f) => [1, f]);
const m = <T>(f: (w: World, a: unknown[]) => T) => f;

const APIS: Api[] = [
  // IovaBitmap
  {
    name: 'new IovaBitmap',
    args: (w) => [{ iova: 0, length: SPAN, pageSize: 4096, buffer: w.arena.buffer, byteOffset: BYTE_OFFSET, windowPages: 2 }],
    call: m((_w, a) => new IovaBitmap(a[0] as never)),
    fields: bitmapOptionFields,
    writes: true,
  },
  { name: 'IovaBitmap.bytesFor', args: () => [SPAN, 4096], call: m((_w, a) => IovaBitmap.bytesFor(a[0] as never, a[1] as never)) },
  {
    name: 'IovaBitmap.fromShared',
    args: () => [new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 }).share()],
    call: m((_w, a) => IovaBitmap.fromShared(a[0] as never)),
    fields: [[0, 'kind'], [0, 'summary'], ...bitmapOptionFields],
  },
  {
    name: 'IovaBitmap.fromShared, a bitmap in WebAssembly memory',
    args: () => [new IovaBitmap({ iova: 0, length: 2n ** 31n, pageSize: 4096 }).share()],
    call: m((_w, a) => IovaBitmap.fromShared(a[0] as never)),
    fields: [[0, 'memory'], [0, 'buffer']],
  },
  { name: 'IovaBitmap.share', args: () => [], call: m((w) => w.bitmap.share()) },
  { name: 'IovaBitmap.set', args: () => [4096 * 7 + 1, 4096], call: m((w, a) => w.bitmap.set(a[0] as never, a[1] as never)), writes: true },
  { name: 'IovaBitmap.setBits', args: () => [3, 100], call: m((w, a) => w.bitmap.setBits(a[0] as never, a[1] as never)), writes: true },
  { name: 'IovaBitmap.orMask', args: () => [NBITS - 20, -1], call: m((w, a) => w.bitmap.orMask(a[0] as never, a[1] as never)), writes: true },
  { name: 'IovaBitmap.setUnits', args: () => [1, 3, 21], call: m((w, a) => w.bitmap.setUnits(a[0] as never, a[1] as never, a[2] as never)), writes: true },
  { name: 'IovaBitmap.bitOfUnit', args: () => [5, 12], call: m((w, a) => w.bitmap.bitOfUnit(a[0] as never, a[1] as never)) },
  { name: 'IovaBitmap.test', args: () => [4096], call: m((w, a) => w.bitmap.test(a[0] as never)) },
  { name: 'IovaBitmap.testBit', args: () => [1], call: m((w, a) => w.bitmap.testBit(a[0] as never)) },
  { name: 'IovaBitmap.count', args: () => [], call: m((w) => w.bitmap.count()) },
  { name: 'IovaBitmap.countBits', args: () => [0, 64], call: m((w, a) => w.bitmap.countBits(a[0] as never, a[1] as never)) },
  { name: 'IovaBitmap.clear', args: () => [], call: m((w) => w.bitmap.clear()), writes: true },
  { name: 'IovaBitmap.rescan', args: () => [], call: m((w) => w.bitmap.rescan()) },
  { name: 'IovaBitmap.orInto', args: () => [new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 })], call: m((w, a) => w.bitmap.orInto(a[0] as never)) },
  { name: 'IovaBitmap.dirtyRanges', args: () => [], call: m((w) => [...w.bitmap.dirtyRanges()]) },
  { name: 'IovaBitmap.windows', args: () => [], call: m((w) => w.bitmap.windows()) },
  { name: 'IovaBitmap.snapshot', args: () => [], call: m((w) => w.bitmap.snapshot()) },
  { name: 'IovaBitmap.equals', args: () => [new IovaBitmap({ iova: 0, length: SPAN, pageSize: 4096 })], call: m((w, a) => w.bitmap.equals(a[0] as never)) },
  { name: 'IovaBitmap.checkMemory', args: () => ['x'], call: m((w, a) => w.bitmap.checkMemory(a[0] as never)) },
  { name: 'bitmapViews', args: (w) => [w.bitmap], call: m((_w, a) => internal.bitmapViews(a[0] as never)) },
  { name: 'markWritten', args: (w) => [w.bitmap, 3, 100], call: m((_w, a) => internal.markWritten(a[0] as never, a[1] as never, a[2] as never)) },
  { name: 'deferMarks', args: (w) => [w.bitmap, true], call: m((_w, a) => internal.deferMarks(a[0] as never, a[1] as never)) },
  { name: 'sameMemoryOptions', args: (w) => [w.bitmap], call: m((_w, a) => internal.sameMemoryOptions(a[0] as never)) },
  { name: 'summaryClean', args: (w) => [w.bitmap], call: m((_w, a) => internal.summaryClean(a[0] as never)) },
  {
    name: 'computeWindows',
    args: () => [{ iova: 0n, pageSize: 4096n, nbits: 100_000, byteOffset: 3, windowPages: 2 }],
    call: m((_w, a) => internal.computeWindows(a[0] as never)),
    fields: ['iova', 'pageSize', 'nbits', 'byteOffset', 'windowPages'].map((f) => [0, f]),
  },
  // errors, u64, stats, helpers
  {
    name: 'new IovaBitmapError',
    args: () => ['EINVAL', 'x: bad', { param: 'p', value: 'v', details: { a: 1 }, cause: 1 }],
    call: m((_w, a) => new IovaBitmapError(a[0] as never, a[1] as never, a[2] as never)),
    fields: [[2, 'param'], [2, 'value'], [2, 'details'], [2, 'details', 'a'], [2, 'cause']],
  },
  {
    name: 'IovaBitmapError.bad',
    args: () => ['EINVAL', 'where', 'param', 5, 'must be'],
    call: m((_w, a) => IovaBitmapError.bad(a[0] as never, a[1] as never, a[2] as never, a[3], a[4] as never)),
  },
  { name: 'IovaBitmapError.is', args: () => [new IovaBitmapError('EIO', 'x')], call: m((_w, a) => IovaBitmapError.is(a[0])) },
  { name: 'IovaBitmapError.hasCode', args: () => [new IovaBitmapError('EIO', 'x'), 'EIO'], call: m((_w, a) => IovaBitmapError.hasCode(a[0], a[1] as never)) },
  {
    name: 'IovaBitmapError.fromData',
    args: () => [new IovaBitmapError('EIO', 'x', { param: 'p' }).toData(), { worker: 1 }],
    call: m((_w, a) => IovaBitmapError.fromData(a[0] as never, a[1] as never)),
    fields: ['code', 'message', 'param', 'value', 'details'].map((f) => [0, f]),
  },
  { name: 'IovaBitmapError.dataOf', args: () => [new Error('x'), 'EIO'], call: m((_w, a) => IovaBitmapError.dataOf(a[0], a[1] as never)) },
  { name: 'IovaBitmapError.toData', args: () => [], call: m(() => new IovaBitmapError('EIO', 'x').toData()) },
  { name: 'describeValue', args: () => [1], call: m((_w, a) => internal.describeValue(a[0])) },
  { name: 'toU64', args: () => ['where', 'param', 5n], call: m((_w, a) => internal.toU64(a[0] as never, a[1] as never, a[2])) },
  { name: 'log2Exact', args: () => [4096n], call: m((_w, a) => internal.log2Exact(a[0] as never)) },
  { name: 'checkInt', args: () => ['where', 'param', 5, 0, 10], call: m((_w, a) => internal.checkInt(a[0] as never, a[1] as never, a[2], a[3] as never, a[4] as never)) },
  {
    name: 'pageTableBytesFor',
    args: () => [[{ iova: 0n, length: 2n << 30n, leaf: 4096n }], 'vtd-ss', 4],
    call: m((_w, a) => internal.pageTableBytesFor(a[0] as never, a[1] as never, a[2] as never)),
  },
  { name: 'codecOf', args: () => ['vtd-ss'], call: m((_w, a) => internal.codecOf(a[0] as never)) },
  { name: 'emptySourceStats', args: () => [], call: m(() => internal.emptySourceStats()) },
  {
    name: 'addSourceStats',
    args: () => [internal.emptySourceStats(), { entriesVisited: 1, dirtyLeaves: 2, bitsMarked: 3 }],
    call: m((_w, a) => internal.addSourceStats(a[0] as never, a[1] as never)),
    fields: ['entriesVisited', 'dirtyLeaves', 'bitsMarked'].map((f) => [1, f]),
  },
  { name: 'lastAtOrBefore', args: () => [[1, 5, 9], 6], call: m((_w, a) => internal.lastAtOrBefore(a[0] as never, a[1] as never)) },
  // reporters
  {
    name: 'reportDirty',
    args: (w) => [{ bitmap: w.bitmap, sources: [w.table, w.tracker], noClear: false }],
    call: m((_w, a) => core.reportDirty(a[0] as never)),
    fields: [[0, 'bitmap'], [0, 'sources'], [0, 'sources', 0], [0, 'noClear']],
    writes: true,
    sources: true,
  },
  {
    name: 'checkReportRequest',
    args: (w) => ['where', w.bitmap, [w.table, w.tracker], false],
    call: m((_w, a) => internal.checkReportRequest(a[0] as never, a[1], a[2], a[3] as never)),
    fields: [[2, 0]],
    sources: true,
  },
  { name: 'dirtySourceFromShared', args: (w) => [w.tracker.share()], call: m((_w, a) => internal.dirtySourceFromShared(a[0] as never)), fields: [[0, 'kind']] },
  // IoPageTable
  {
    name: 'new IoPageTable',
    args: () => [{ format: 'smmu-v3', levels: 5, name: 't' }],
    call: m((_w, a) => new IoPageTable(a[0] as never)),
    fields: ['format', 'levels', 'name'].map((f) => [0, f]),
  },
  {
    name: 'IoPageTable.fromShared',
    args: (w) => [w.table.share()],
    call: m((_w, a) => IoPageTable.fromShared(a[0] as never)),
    fields: [[0, 'kind'], [0, 'name'], [0, 'format'], [0, 'levels'], [0, 'control'], [0, 'segments'], [0, 'segments', 0], [0, 'memories'], [0, 'memories', 0], [0, 'tableId'], [0, 'areas']],
  },
  { name: 'IoPageTable.share', args: () => [], call: m((w) => w.table.share()) },
  {
    name: 'IoPageTable.map',
    args: () => [SPAN, 2 * MIB, { leaf: 4096, writable: true }],
    call: m((w, a) => w.table.map(a[0] as never, a[1] as never, a[2] as never)),
    fields: [[2, 'leaf'], [2, 'writable']],
    sources: true,
  },
  { name: 'IoPageTable.unmap', args: () => [SPAN / 2, 2 * MIB], call: m((w, a) => w.table.unmap(a[0] as never, a[1] as never)), sources: true },
  { name: 'IoPageTable.leafAt', args: () => [4096], call: m((w, a) => w.table.leafAt(a[0] as never)) },
  { name: 'IoPageTable.workProfile', args: () => [0n, BigInt(SPAN)], call: m((w, a) => w.table.workProfile(a[0] as never, a[1] as never)) },
  { name: 'IoPageTable.dmaWrite', args: () => [4096 * 100, 10], call: m((w, a) => w.table.dmaWrite(a[0] as never, a[1] as never)), sources: true },
  { name: 'IoPageTable.dmaWritePages', args: () => [100, 2], call: m((w, a) => w.table.dmaWritePages(a[0] as never, a[1] as never)), sources: true },
  { name: 'IoPageTable.setDirtyTracking', args: () => [true], call: m((w, a) => w.table.setDirtyTracking(a[0] as never)), sources: true },
  {
    name: 'IoPageTable.readAndClearDirty',
    args: () => [0, SPAN, { noClear: false }],
    call: m((w, a) => w.table.readAndClearDirty(w.bitmap, a[0] as never, a[1] as never, a[2] as never)),
    fields: [[2, 'noClear']],
    writes: true,
    sources: true,
  },
  {
    name: 'IoPageTable.readAndClearDirty (bitmap)',
    args: (w) => [w.bitmap],
    call: m((w, a) => w.table.readAndClearDirty(a[0] as never, 0, SPAN)),
    writes: true,
    sources: true,
  },
  {
    name: 'IoPageTable.checkReport',
    args: (w) => [w.bitmap, 0n, BigInt(SPAN), { noClear: true }],
    call: m((w, a) => w.table.checkReport(a[0] as never, a[1] as never, a[2] as never, a[3] as never)),
    fields: [[3, 'noClear']],
    sources: true,
  },
  {
    name: 'IoPageTable.reportChunk',
    args: (w) => [w.bitmap, { ...chunk }, { noClear: false }],
    call: m((w, a) => w.table.reportChunk(a[0] as never, a[1] as never, a[2] as never)),
    fields: [...chunkFields, [2, 'noClear']],
    writes: true,
    sources: true,
  },
  { name: 'IoPageTable.memoryStats', args: () => [], call: m((w) => w.table.memoryStats()) },
  { name: 'readLeafTables', args: (w) => [w.table], call: m((_w, a) => internal.readLeafTables(a[0] as never)) },
  { name: 'newSegmentMemory', args: () => [65536], call: m((_w, a) => internal.newSegmentMemory(a[0] as never)) },
  { name: 'wasmSegments', args: (w) => [w.table], call: m((_w, a) => internal.wasmSegments(a[0] as never)) },
  { name: 'leafSkipFor', args: () => [internal.newSegmentMemory(65536)], call: m((_w, a) => internal.leafSkipFor(a[0] as never)) },
  // VfTracker
  {
    name: 'new VfTracker',
    args: () => [{ name: 'vf2', maxRanges: 2, minPageSize: 4096n, maxPageSize: 1n << 21n, minSpanLog2: 12, maxSpanLog2: 50 }],
    call: m((_w, a) => new VfTracker(a[0] as never)),
    fields: ['name', 'maxRanges', 'minPageSize', 'maxPageSize', 'minSpanLog2', 'maxSpanLog2'].map((f) => [0, f]),
  },
  {
    name: 'VfTracker.start',
    args: () => [{ ranges: [{ iova: 0, length: SPAN }, { iova: 2 * SPAN, length: 4096 }], pageSize: 4096 }],
    call: m((_w, a) => new VfTracker().start(a[0] as never)),
    fields: [[0, 'ranges'], [0, 'pageSize'], [0, 'ranges', 0], [0, 'ranges', 1, 'iova'], [0, 'ranges', 1, 'length']],
  },
  { name: 'VfTracker.stop', args: () => [], call: m((w) => w.tracker.stop()) },
  { name: 'VfTracker.dmaWrite', args: () => [4096 * 100, 10], call: m((w, a) => w.tracker.dmaWrite(a[0] as never, a[1] as never)), sources: true },
  { name: 'VfTracker.dmaWritePages', args: () => [100, 2], call: m((w, a) => w.tracker.dmaWritePages(a[0] as never, a[1] as never)), sources: true },
  {
    name: 'VfTracker.readAndClearDirty',
    args: (w) => [w.bitmap, 0, SPAN, { noClear: false }],
    call: m((w, a) => w.tracker.readAndClearDirty(a[0] as never, a[1] as never, a[2] as never, a[3] as never)),
    fields: [[3, 'noClear']],
    writes: true,
    sources: true,
  },
  {
    name: 'VfTracker.checkReport',
    args: (w) => [w.bitmap, 0n, BigInt(SPAN), { noClear: true }],
    call: m((w, a) => w.tracker.checkReport(a[0] as never, a[1] as never, a[2] as never, a[3] as never)),
    fields: [[3, 'noClear']],
    sources: true,
  },
  {
    name: 'VfTracker.reportChunk',
    args: (w) => [w.bitmap, { ...chunk }, { noClear: false }],
    call: m((w, a) => w.tracker.reportChunk(a[0] as never, a[1] as never, a[2] as never)),
    fields: [...chunkFields, [2, 'noClear']],
    writes: true,
    sources: true,
  },
  { name: 'VfTracker.recordedPages', args: () => [], call: m((w) => w.tracker.recordedPages()) },
  { name: 'VfTracker.workProfile', args: () => [0n, BigInt(SPAN)], call: m((w, a) => w.tracker.workProfile(a[0] as never, a[1] as never)) },
  { name: 'VfTracker.share', args: () => [], call: m((w) => w.tracker.share()) },
  {
    name: 'VfTracker.fromShared',
    args: (w) => [w.tracker.share()],
    call: m((_w, a) => VfTracker.fromShared(a[0] as never)),
    fields: [[0, 'kind'], [0, 'name'], [0, 'limits'], [0, 'limits', 'maxRanges'], [0, 'buffer']],
  },
  { name: 'VfTracker getters', args: () => [], call: m((w) => [w.tracker.started, w.tracker.pageSize, w.tracker.ranges]) },
];

/** A copy of `args` with the value at `path` replaced (copies along the path; the rest is shared). */
function replaced(args: unknown[], path: Path, value: unknown): unknown[] {
  const put = (into: unknown, at: number, v: unknown): unknown => {
    const key = path[at]!;
    const copy = (Array.isArray(into) ? [...(into as unknown[])] : { ...(into as object) }) as Record<string | number, unknown>;
    copy[key] = at === path.length - 1 ? v : put(copy[key], at + 1, v);
    return copy;
  };
  return put(args, 0, value) as unknown[];
}

/** Runs one call in a fresh world and checks the outcome (module comment). */
async function check(api: Api, what: string, args: (w: World) => unknown[]): Promise<IovaBitmapError | undefined> {
  const w = world();
  const a = args(w);
  const bufferBefore = new Uint8Array(w.arena.buffer).slice();
  const sourcesBefore = api.sources === true ? sourceState(w) : '';
  const e = await expectTypedOrOk(what, () => api.call(w, a));
  if (e !== undefined) expect(e.message.length, `${what}: ${e.message.slice(0, 120)}`).toBeLessThan(MAX_MESSAGE);
  expectGuardsIntact(w.arena, what);
  if (e !== undefined) {
    if (Buffer.compare(new Uint8Array(w.arena.buffer), bufferBefore) !== 0) throw new Error(`${what}: rejected (${e.code}) but wrote the bitmap`);
    if (api.sources === true && sourceState(w) !== sourcesBefore) throw new Error(`${what}: rejected (${e.code}) but changed the sources`);
  }
  return e;
}

/**
 * Internal exports that check nothing by design, so they are not swept: the tracker's hot kernels
 * (their callers pass checked word ranges), the merge step of a START (called after
 * checkStartRequest), both exported for their own unit tests (tracker.kernel, tracker.ranges); and
 * the bit and page arithmetic of the hot paths (`ctz32`, `recordRuns`, the 4 KiB page
 * conversions), whose callers pass values they have checked; and `wasmBitmapBytes`, the size rule
 * of a new bitmap's memory, given a byte count the constructor (or the bench's plan) computed.
 */
const UNCHECKED = ['orBitRun', 'readMasks', 'readRuns', 'combineIovaRanges', 'ctz32', 'recordRuns', 'pageOf', 'pageIova', 'wasmBitmapBytes'];

describe('hostile sweep of every API of @iovabitmap/core (public and internal entries)', () => {
  it('covers every runtime export of both entries', () => {
    const named = APIS.map((a) => a.name.split(/[ .]/).find((p) => p !== 'new')!);
    const constants = ['MAX_BITMAP_BITS', 'BITMAP_PAGE_BYTES', 'DEFAULT_WINDOW_PAGES', 'U64_LIMIT', 'U64_MAX', 'PTE_FORMATS'];
    const moreConstants = ['MAX_TABLE_BYTES', 'MAX_TRACKER_BYTES', 'BITMAP_SUMMARY'];
    const sizes = ['KiB', 'MiB', 'GiB', 'TiB', 'KIB', 'MIB', 'GIB', 'TIB', 'PAGE_SHIFT', 'PAGE_SHIFT_BIG', 'PAGE_SIZE', 'PAGE_SIZE_BIG', 'PAGE_MASK_BIG'];
    const exported = [...Object.keys(core), ...Object.keys(internal)];
    const missing = exported.filter((k) => !named.includes(k) && !constants.includes(k) && !moreConstants.includes(k) && !sizes.includes(k) && !UNCHECKED.includes(k));
    expect(missing).toEqual([]);
  });

  it.each(APIS)('$name', async (api) => {
    const t0 = performance.now();
    expect(await check(api, `${api.name} (valid call)`, api.args)).toBeUndefined();
    const paths: Path[] = [...api.args(world()).map((_, i) => [i]), ...(api.fields ?? [])];
    for (const path of paths) {
      for (const h of hostileValues()) {
        await check(api, `${api.name} with ${h.label} at ${path.join('.')}`, (w) => replaced(api.args(w), path, h.value));
      }
    }
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
