/**
 * A seeded "world" for the stress tests: an IOMMU page table with a random mix of leaf sizes, a VF
 * tracker with a random page size and range split, and a ground truth, all over one IOVA range,
 * plus the unit maps the checker widens with (built from the mapping plan, not from the table).
 *
 * Layout: the range is cut into equal pieces; each piece is mapped with one leaf size drawn from
 * what the format supports (4 KiB, 2 MiB, 1 GiB where a piece is 1 GiB-aligned and long enough,
 * and for amd-v1 the replicated sizes in between). Every page of the range is mapped writable and
 * tracked, so the device may write anywhere in it (the region rule of DeviceEngine).
 */
import { IoPageTable, IovaBitmap, VfTracker, type PteFormat } from '@iovabitmap/core';
import type { Rng } from '@iovabitmap/workers/internal';
import { mappingUnitMap, trackerUnitMap, type LeafMapping, type UnitMap } from '@iovabitmap/workers';
import { GiB, MiB } from '../../helpers/sizes.js';


/** Everything a stress round needs. */
export interface World {
  readonly pt: IoPageTable;
  readonly vf: VfTracker;
  readonly gt: IovaBitmap;
  readonly iova: bigint;
  readonly length: bigint;
  readonly sources: readonly [IoPageTable, VfTracker];
  readonly units: readonly UnitMap[];
  readonly mappings: readonly LeafMapping[];
  readonly trackerPageSize: bigint;
  /** One line for the log: format, leaves, tracker page size. */
  readonly summary: string;
}

/** Options of {@link makeWorld}. */
export interface WorldOptions {
  readonly format: PteFormat;
  /** First IOVA, 1 GiB-aligned. @defaultValue 4 GiB */
  readonly iova?: bigint;
  /** Length, a multiple of `pieces` × 2 MiB. @defaultValue 2 GiB */
  readonly length?: bigint;
  /** Pieces with independent leaf sizes. @defaultValue 8 */
  readonly pieces?: number;
  /** Allow 4 KiB leaves (their tables cost 2 MiB per GiB). @defaultValue true */
  readonly smallLeaves?: boolean;
  /** Table levels (5 = 57-bit IOVA). @defaultValue 4 */
  readonly levels?: 4 | 5;
}

function leafChoices(format: PteFormat, pieceIova: bigint, piece: bigint, small: boolean): bigint[] {
  const out: bigint[] = [2n * MiB];
  if (small) out.push(4096n);
  if (pieceIova % GiB === 0n && piece % GiB === 0n) out.push(GiB);
  if (format === 'amd-v1') {
    for (const s of [8n * 1024n, 64n * 1024n, 1n * MiB, 4n * MiB, 64n * MiB]) if (piece % s === 0n && (small || s >= 2n * MiB)) out.push(s);
  }
  return out;
}

/** Builds a seeded world; see the module comment. */
export function makeWorld(rng: Rng, o: WorldOptions): World {
  const iova = o.iova ?? 4n * GiB;
  const length = o.length ?? 2n * GiB;
  const pieces = o.pieces ?? 8;
  const piece = length / BigInt(pieces);
  const pt = new IoPageTable({ format: o.format, name: 'iommu', levels: o.levels ?? 4 });
  const mappings: LeafMapping[] = [];
  for (let i = 0; i < pieces; i++) {
    const at = iova + BigInt(i) * piece;
    const choices = leafChoices(o.format, at, piece, o.smallLeaves ?? true);
    const leaf = choices[rng.int(choices.length)]!;
    mappings.push({ iova: at, length: piece, leaf });
    pt.map(at, piece, { leaf });
  }
  pt.setDirtyTracking(true);
  const vf = new VfTracker({ name: 'vf0' });
  const pageSizes = [4096n, 16n * 1024n, 2n * MiB];
  const requested = pageSizes[rng.int(pageSizes.length)]!;
  // 1 to 3 adjacent ranges covering the whole world (the tracker may merge them).
  const cuts = rng.int(3);
  const ranges: { iova: bigint; length: bigint }[] = [];
  let at = iova;
  for (let c = 0; c < cuts; c++) {
    const len = (piece * BigInt(1 + rng.int(2))) & ~(2n * MiB - 1n);
    if (at + len >= iova + length) break;
    ranges.push({ iova: at, length: len });
    at += len;
  }
  ranges.push({ iova: at, length: iova + length - at });
  const started = vf.start({ ranges, pageSize: requested });
  const gt = new IovaBitmap({ iova, length, pageSize: 4096 });
  const units = [mappingUnitMap('iommu', mappings), trackerUnitMap({ name: 'vf0', pageSize: started.pageSize, ranges: started.ranges })];
  const leaves = mappings.map((m) => (m.leaf >= MiB ? `${m.leaf / MiB}M` : `${m.leaf / 1024n}K`)).join(',');
  return {
    pt,
    vf,
    gt,
    iova,
    length,
    sources: [pt, vf],
    units,
    mappings,
    trackerPageSize: started.pageSize,
    summary: `${o.format}${o.levels === 5 ? ' (5-level)' : ''} ${length >> 20n} MiB leaves [${leaves}] tracker ${started.pageSize / 1024n}K x${started.ranges.length}`,
  };
}
