/**
 * The iommufd selftest dirty-bitmap scenarios (docs/design/iommufd.md §5), on every PTE format.
 *
 * Mock to real: the kernel's mock domain has MOCK_PAGE_SIZE = 2048-byte IOPTEs and a 1 MiB "huge"
 * IOPTE (512 x 2048), and reports into a bitmap of 2048-byte pages. Our smallest leaf is a real
 * 4 KiB PTE, so with the bitmap kept at 2048-byte pages one leaf covers npte = 2 bits; the huge
 * case uses each format's largest convenient leaf: amd-v1 builds a 1 MiB page from 256 replicated
 * PTEs (npte = 512, exactly the mock's), vtd-ss and smmu-v3 use a 2 MiB leaf (npte = 1024). The
 * check is the selftest's: seed one dirty write every pteset = 2 * npte bits, expect the count of
 * marked leaves, then in each pteset block the first npte bits set and the rest clear; a second
 * read is all clear, or the same pattern under NO_CLEAR. The bitmap sits at byte offset 0, +2048
 * and +0xff1 of a larger SharedArrayBuffer whose other bytes must stay zero.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { IoPageTable, PTE_FORMATS, type PteFormat } from './helpers/pagetableHelpers.js';
import { KIB, MIB } from '../helpers/sizes.js';

const MOCK_PAGE_SIZE = 2048;
const MOCK_APERTURE_START = 1 << 24;
const OFFSETS = [0, 2048, 0xff1];
const VARIANTS: { name: string; buffer: number; huge: boolean }[] = [
  { name: 'domain_dirty8k', buffer: 8 * KIB, huge: false },
  { name: 'domain_dirty16k', buffer: 16 * KIB, huge: false },
  { name: 'domain_dirty64k', buffer: 64 * KIB, huge: false },
  { name: 'domain_dirty128k', buffer: 128 * KIB, huge: false },
  { name: 'domain_dirty320k', buffer: 320 * KIB, huge: false },
  { name: 'domain_dirty64M', buffer: 64 * MIB, huge: false },
  { name: 'domain_dirty64M_huge', buffer: 64 * MIB, huge: true },
  { name: 'domain_dirty128M', buffer: 128 * MIB, huge: false },
  { name: 'domain_dirty128M_huge', buffer: 128 * MIB, huge: true },
];

function hugeLeaf(format: PteFormat): number {
  return format === 'amd-v1' ? MIB : 2 * MIB;
}

/** Every byte of `buf` outside [from, from + len) is zero. */
function restIsZero(buf: SharedArrayBuffer, from: number, len: number): boolean {
  const b = new Uint8Array(buf);
  for (let i = 0; i < b.length; i++) if ((i < from || i >= from + len) && b[i] !== 0) return false;
  return true;
}

/** Bits that differ from the selftest's pattern (first npte of every pteset set). */
function patternErrors(bm: IovaBitmap, npte: number, pteset: number, expectSet: boolean): number {
  let bad = 0;
  for (let i = 0; i < bm.nbits; i++) {
    const want = expectSet && i % pteset < npte;
    if (bm.testBit(i) !== want) bad++;
  }
  return bad;
}

describe.each(PTE_FORMATS)('iommufd selftest dirty scenarios on %s', (format) => {
  it.each(VARIANTS)('get_dirty_bitmap[_no_clear] $name', ({ buffer, huge }) => {
    const leaf = huge ? hugeLeaf(format) : 4096;
    const npte = leaf / MOCK_PAGE_SIZE;
    const pteset = 2 * npte;
    const nbits = buffer / MOCK_PAGE_SIZE;
    const pt = new IoPageTable({ format });
    pt.map(MOCK_APERTURE_START, buffer, { leaf });
    pt.setDirtyTracking(true);
    const bytes = Math.ceil(nbits / 8);
    const sab = new SharedArrayBuffer(Math.ceil(bytes / 4096) * 4096 + 4096);
    for (const noClear of [false, true]) {
      for (const byteOffset of OFFSETS) {
        new Uint8Array(sab).fill(0);
        const bm = new IovaBitmap({ iova: MOCK_APERTURE_START, length: buffer, pageSize: MOCK_PAGE_SIZE, buffer: sab, byteOffset });
        let marked = 0;
        for (let i = 0; i < nbits; i += pteset) marked += pt.dmaWrite(MOCK_APERTURE_START + i * MOCK_PAGE_SIZE, MOCK_PAGE_SIZE);
        expect(marked).toBe(Math.max(1, Math.floor(nbits / pteset)));

        const st = pt.readAndClearDirty(bm, MOCK_APERTURE_START, buffer, { noClear });
        expect(st.dirtyLeaves).toBe(marked);
        expect(patternErrors(bm, npte, pteset, true)).toBe(0);
        expect(restIsZero(sab, byteOffset, bytes)).toBe(true);

        bm.clear();
        pt.readAndClearDirty(bm, MOCK_APERTURE_START, buffer, { noClear });
        expect(patternErrors(bm, npte, pteset, noClear)).toBe(0);
        expect(restIsZero(sab, byteOffset, bytes)).toBe(true);
        if (noClear) pt.readAndClearDirty(bm, MOCK_APERTURE_START, buffer); // reset for the next offset
      }
    }
  });
});
