/**
 * pageTableBytesFor: the table bytes a set of mappings needs, computed without mapping, equals
 * what an IoPageTable reports after mapping them (memoryStats().tableBytes), for 4 KiB, 2 MiB and
 * 1 GiB leaves, mixtures sharing upper tables, amd-v1 replicated sizes, 5 levels, and random sets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IoPageTable, type PteFormat } from '@iovabitmap/core';
import { pageTableBytesFor, type TableMapping } from '@iovabitmap/core/internal';
import { rejection } from '../helpers/rejection.js';
import { GiB, KiB, MiB, TiB } from '../helpers/sizes.js';


/** What a real table reports after mapping `mappings`. */
function actual(mappings: readonly TableMapping[], format: PteFormat, levels: 4 | 5 = 4): number {
  const t = new IoPageTable({ format, levels });
  for (const m of mappings) t.map(m.iova, m.length, { leaf: m.leaf });
  return t.memoryStats().tableBytes;
}

describe('pageTableBytesFor', () => {
  const cases: [string, PteFormat, TableMapping[], (4 | 5)?][] = [
    ['64 MiB of 4 KiB leaves', 'vtd-ss', [{ iova: 0n, length: 64n * MiB, leaf: 4096n }]],
    ['3 MiB of 4 KiB leaves across a 2 MiB and a 1 GiB edge', 'smmu-v3', [{ iova: GiB - MiB - 4096n, length: 3n * MiB, leaf: 4096n }]],
    ['64 GiB of 2 MiB leaves', 'vtd-ss', [{ iova: 4n * GiB, length: 64n * GiB, leaf: 2n * MiB }]],
    ['16 TiB of 1 GiB leaves', 'smmu-v3', [{ iova: 0n, length: 16n * TiB, leaf: GiB }]],
    [
      'mixed leaves sharing upper tables (the migrate layout)',
      'vtd-ss',
      [
        { iova: 4n * GiB, length: GiB, leaf: 4096n },
        { iova: 5n * GiB, length: 15n * GiB, leaf: 2n * MiB },
        { iova: 20n * GiB, length: GiB, leaf: 4096n },
        { iova: 21n * GiB, length: 3n * GiB, leaf: 2n * MiB },
        { iova: 512n * GiB, length: 2n * GiB, leaf: GiB },
      ],
    ],
    [
      'amd-v1 replicated sizes',
      'amd-v1',
      [
        { iova: 0n, length: 2n * MiB, leaf: 8n * KiB },
        { iova: 2n * MiB, length: 2n * MiB, leaf: 64n * KiB },
        { iova: 4n * MiB, length: 4n * MiB, leaf: MiB },
        { iova: GiB, length: GiB, leaf: 4n * MiB },
        { iova: 2n * GiB, length: GiB, leaf: 512n * MiB },
      ],
    ],
    ['5 levels at the top of the 57-bit space', 'vtd-ss', [{ iova: (1n << 57n) - 4n * GiB, length: 4n * GiB, leaf: 2n * MiB }], 5],
  ];
  for (const [name, format, mappings, levels] of cases) {
    it(`equals memoryStats().tableBytes after mapping: ${name}`, () => {
      expect(pageTableBytesFor(mappings, format, levels)).toBe(actual(mappings, format, levels));
    });
  }

  it('equals memoryStats().tableBytes for random non-overlapping mappings of random leaf sizes', () => {
    const shifts = { 'vtd-ss': [12, 21, 30], 'smmu-v3': [12, 21, 30], 'amd-v1': [12, 13, 16, 20, 21, 22, 26, 30] } as const;
    fc.assert(
      fc.property(
        fc.constantFrom<PteFormat>('vtd-ss', 'amd-v1', 'smmu-v3'),
        fc.array(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 6 }),
        (format, specs) => {
          // Slot k of 8 GiB holds one mapping: `count` leaves, starting `skip` leaves into the slot.
          const mappings = specs.map(([pick, count, skip], k) => {
            const leaf = 1n << BigInt(shifts[format][pick % shifts[format].length]!);
            return { iova: BigInt(k) * 8n * GiB + BigInt(skip) * leaf, length: BigInt(count) * leaf, leaf };
          });
          expect(pageTableBytesFor(mappings, format)).toBe(actual(mappings, format));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('sizes what cannot be built here in microseconds: 64 TiB of 4 KiB leaves is 128 GiB of tables', () => {
    const t0 = performance.now();
    const bytes = pageTableBytesFor([{ iova: 0n, length: 64n * TiB, leaf: 4096n }], 'vtd-ss');
    expect(performance.now() - t0).toBeLessThan(500); // a guard against building the tables (minutes), not a speed claim
    expect(bytes).toBe((2 ** 25 + 2 ** 16 + 2 ** 7 + 1) * 4096);
  });

  it('refuses what map() refuses, with its codes', () => {
    expect(rejection(() => pageTableBytesFor([{ iova: 0n, length: MiB, leaf: 4096n }], 'x86' as PteFormat)).code).toBe('EOPNOTSUPP');
    expect(rejection(() => pageTableBytesFor([{ iova: 0n, length: 4n * MiB, leaf: 8n * KiB }], 'vtd-ss')).code).toBe('EOPNOTSUPP');
    expect(rejection(() => pageTableBytesFor([{ iova: 4096n, length: 2n * MiB, leaf: 2n * MiB }], 'vtd-ss')).code).toBe('EINVAL');
    expect(rejection(() => pageTableBytesFor([{ iova: 0n, length: 0n, leaf: 4096n }], 'vtd-ss')).param).toBe('length');
    expect(rejection(() => pageTableBytesFor([{ iova: 1n << 48n, length: 4096n, leaf: 4096n }], 'vtd-ss')).code).toBe('EOVERFLOW');
    expect(rejection(() => pageTableBytesFor({} as never, 'vtd-ss')).param).toBe('mappings');
  });
});
