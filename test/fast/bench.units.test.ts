/**
 * Human units of @iovabitmap/bench: sizes, rates, counts. Parsing is checked against an
 * independent model (digits × the binary multiple, in bigint), formatting by round trips, and every
 * error by its code and by naming the option and the bad text.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmapError } from '@iovabitmap/core';
import { formatByteRate, formatBytes, formatBytesRounded, formatGiBps, formatNsPerPte, formatRate, parseByteRate, parseCount, parseCountList, parseRate, parseSize, plural } from '@iovabitmap/bench/internal';
import { rejection } from '../helpers/rejection.js';

const U64_MAX = 2n ** 64n - 1n;
const MULTIPLE: Record<string, bigint> = { '': 1n, K: 2n ** 10n, M: 2n ** 20n, G: 2n ** 30n, T: 2n ** 40n, P: 2n ** 50n, E: 2n ** 60n };

function expectError(f: () => unknown, code: string, ...mentions: string[]): IovaBitmapError {
  const x = rejection(f);
  expect(x.code).toBe(code);
  for (const m of mentions) expect(x.message).toContain(m);
  return x;
}

describe('parseSize', () => {
  it('reads sizes with binary multiples, spaces, hex and fractions', () => {
    expect(parseSize('1TiB')).toBe(2n ** 40n);
    expect(parseSize('64GiB')).toBe(64n * 2n ** 30n);
    expect(parseSize('2M')).toBe(2n * 2n ** 20n);
    expect(parseSize('4K')).toBe(4096n);
    expect(parseSize('4096')).toBe(4096n);
    expect(parseSize('16T')).toBe(16n * 2n ** 40n);
    expect(parseSize('1 GiB')).toBe(2n ** 30n);
    expect(parseSize('4Ki')).toBe(4096n);
    expect(parseSize('4kib')).toBe(4096n);
    expect(parseSize('0x1000')).toBe(4096n);
    expect(parseSize('512B')).toBe(512n);
    expect(parseSize('1.5GiB')).toBe(3n * 2n ** 29n);
    expect(parseSize('0.5K')).toBe(512n);
  });

  it('is exact up to 2^64 - 1 and refuses 2^64 with EOVERFLOW', () => {
    expect(parseSize('18446744073709551615')).toBe(U64_MAX);
    expect(parseSize('15.75E')).toBe(63n * 2n ** 58n);
    expectError(() => parseSize('16EiB', '--iova-size'), 'EOVERFLOW', '--iova-size', '"16EiB"');
    expectError(() => parseSize('18446744073709551616'), 'EOVERFLOW');
  });

  it('agrees with digits × multiple for any whole number and unit spelling', () => {
    const unit = fc.constantFrom('', 'K', 'M', 'G', 'T', 'P', 'E');
    const spelling = fc.constantFrom('', 'i', 'iB');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 20n }), unit, spelling, fc.boolean(), (n, u, sp, lower) => {
        const want = n * MULTIPLE[u]!;
        const suffix = u === '' ? '' : u + sp;
        const text = `${n}${lower ? suffix.toLowerCase() : suffix}`;
        if (want > U64_MAX) expectError(() => parseSize(text), 'EOVERFLOW');
        else expect(parseSize(text)).toBe(want);
      }),
    );
  });

  it('round-trips formatBytes for every 64-bit value', () => {
    const anyU64 = fc.oneof(
      fc.bigInt({ min: 0n, max: U64_MAX }),
      fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 24n }), fc.integer({ min: 0, max: 60 })).map(([m, s]) => (m << BigInt(s)) & U64_MAX),
    );
    fc.assert(
      fc.property(anyU64, (x) => {
        expect(parseSize(formatBytes(x))).toBe(x);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects text that is not a size, naming the option and quoting the text', () => {
    for (const bad of ['', 'abc', '12XB', '1.2.3K', '-4K', 'K', '4 K B', '0x', '1e3']) {
      expectError(() => parseSize(bad, '--iova-size'), 'EINVAL', '--iova-size', JSON.stringify(bad));
    }
    const e = expectError(() => parseSize('12XB', '--leaf'), 'EINVAL', 'unknown unit "XB"');
    expect(e.param).toBe('--leaf');
    expect(e.details.reason).toMatch(/unknown unit/);
  });

  it('refuses SI spellings as ambiguous and fractions of a byte', () => {
    expectError(() => parseSize('1TB', '--iova-size'), 'EINVAL', 'ambiguous', 'TiB');
    expectError(() => parseSize('4kb'), 'EINVAL', 'ambiguous');
    expectError(() => parseSize('0.3K'), 'EINVAL', 'whole number of bytes');
    expectError(() => parseSize('1.5'), 'EINVAL', 'whole number of bytes');
  });
});

describe('formatBytes', () => {
  it('formatBytesRounded keeps three significant digits for reading', () => {
    expect(formatBytesRounded(2047888n * 1024n)).toBe('1.95 GiB');
    expect(formatBytesRounded(2n ** 40n)).toBe('1 TiB');
    expect(formatBytesRounded(1000)).toBe('1000 B');
  });

  it('uses the largest unit that stays exact', () => {
    expect(formatBytes(2n ** 40n)).toBe('1 TiB');
    expect(formatBytes(64n * 2n ** 30n)).toBe('64 GiB');
    expect(formatBytes(4096)).toBe('4 KiB');
    expect(formatBytes(1536n)).toBe('1.5 KiB');
    expect(formatBytes(1025n)).toBe('1025 B');
    expect(formatBytes(0n)).toBe('0 B');
    expect(formatBytes(2n ** 40n + 4096n)).toBe('1073741828 KiB');
  });
});

describe('parseRate and formatRate', () => {
  it('reads percentages and fractions', () => {
    expect(parseRate('1%')).toBe(0.01);
    expect(parseRate('0.5%')).toBe(0.005);
    expect(parseRate('50%')).toBe(0.5);
    expect(parseRate('100%')).toBe(1);
    expect(parseRate('0%')).toBe(0);
    expect(parseRate('0.25')).toBe(0.25);
    expect(parseRate('0.01')).toBe(0.01);
    expect(parseRate('0')).toBe(0);
    expect(parseRate('7%')).toBe(0.07);
  });

  it('refuses a bare 1 as ambiguous and a bare number above 1, with the hint to write a percentage', () => {
    // `--density 1` used to mean 100% silently: a user meaning 1% got a wholly dirty table.
    for (const t of ['1', '1.0', ' 1 ']) {
      const e = expectError(() => parseRate(t, '--density'), 'EINVAL', '--density', JSON.stringify(t), 'ambiguous', 'write 100% or 1%');
      expect(e.details.reason).toBe('is ambiguous; write 100% or 1%');
    }
    expectError(() => parseRate('50', '--density'), 'EINVAL', 'bare number above 1', 'write 50% or the fraction 0.5');
    expectError(() => parseRate('2.5', '--density'), 'EINVAL', 'write 2.5% or the fraction 0.025');
    expect(parseRate('100%')).toBe(1);
    expect(parseRate('0.999')).toBe(0.999);
  });

  it('prints the shortest percentage', () => {
    expect(formatRate(0.01)).toBe('1%');
    expect(formatRate(0.005)).toBe('0.5%');
    expect(formatRate(0.5)).toBe('50%');
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(0)).toBe('0%');
    expect(formatRate(0.07)).toBe('7%');
    expect(formatRate(1e-9)).toBe('0.0000001%');
  });

  it('round-trips every finite non-negative fraction', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), (r) => {
        expect(parseRate(formatRate(r), 'rate', { max: Infinity })).toBe(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects bad text and values outside the bounds, naming the option', () => {
    for (const bad of ['', 'x', '-1%', '1%%', '%', '1e-2', 'NaN']) {
      expectError(() => parseRate(bad, '--density'), 'EINVAL', '--density', JSON.stringify(bad));
    }
    expectError(() => parseRate('150%', '--density'), 'EINVAL', '--density', 'between 0% and 100%', '"150%"');
    expectError(() => parseRate('2', '--density'), 'EINVAL', '--density');
    expect(parseRate('150%', '--threshold', { max: 10 })).toBe(1.5);
  });
});

describe('counts and data rates', () => {
  it('parseCount accepts whole numbers (and exact multiples) within bounds', () => {
    expect(parseCount('8', '--threads', { min: 1, max: 256 })).toBe(8);
    expect(parseCount('64K', '--seed')).toBe(65536);
    expectError(() => parseCount('0', '--threads', { min: 1, max: 256 }), 'EINVAL', '--threads', '[1, 256]', '"0"');
    expectError(() => parseCount('1.5', '--threads'), 'EINVAL', '--threads', 'whole number');
    expectError(() => parseCount('two', '--threads'), 'EINVAL', '--threads', '"two"');
  });

  it('parseCountList reads comma-separated counts and names the bad element', () => {
    expect(parseCountList('1,2,4', '--threads', { min: 1 })).toEqual([1, 2, 4]);
    expectError(() => parseCountList('1,x,4', '--threads', { min: 1 }), 'EINVAL', '--threads', '"x"');
    expectError(() => parseCountList('', '--threads'), 'EINVAL', '--threads');
  });

  it('parseByteRate takes binary byte rates, with an optional /s', () => {
    expect(parseByteRate('1GiB/s')).toBe(2n ** 30n);
    expect(parseByteRate('256M / s')).toBe(256n * 2n ** 20n);
    expect(parseByteRate('512K/s')).toBe(512n * 1024n);
    expect(parseByteRate('1Gi/s')).toBe(2n ** 30n);
    expect(parseByteRate('4096')).toBe(4096n);
    expect(parseByteRate('0')).toBe(0n);
    expectError(() => parseByteRate('fast', '--rate'), 'EINVAL', '--rate', '"fast"');
  });

  it('parseByteRate reads link rates: SI prefixes before a unit, b for bits and B for bytes', () => {
    // bits, SI: 10 Gbit/s = 1.25 × 10^9 bytes/s, however it is spelled
    for (const t of ['10Gbit/s', '10Gb/s', '10 Gbit/s', '10gbit/s', '10Gbps', '10Gbits/s']) expect(parseByteRate(t, '--rate'), t).toBe(1_250_000_000n);
    expect(parseByteRate('25Gb/s')).toBe(3_125_000_000n);
    expect(parseByteRate('100Mbit/s')).toBe(12_500_000n);
    expect(parseByteRate('1kb/s')).toBe(125n);
    // bytes, SI
    expect(parseByteRate('1.25GB/s')).toBe(1_250_000_000n);
    expect(parseByteRate('1GB/s')).toBe(1_000_000_000n);
    expect(parseByteRate('3 kB/s')).toBe(3000n);
    expect(parseByteRate('2 bytes/s')).toBe(2n);
    // binary bits and bytes
    expect(parseByteRate('1Gibit/s')).toBe(2n ** 27n);
    expect(parseByteRate('1GiB/s')).toBe(2n ** 30n);
    // the case of the unit letter decides bits or bytes; a prefix alone is binary bytes, as for sizes
    expect(parseByteRate('8Mb/s')).toBe(1_000_000n);
    expect(parseByteRate('8MB/s')).toBe(8_000_000n);
    expect(parseByteRate('8M/s')).toBe(8n * 2n ** 20n);
    // not a whole number of bytes per second; not a rate; too large
    expectError(() => parseByteRate('1bit/s', '--rate'), 'EINVAL', '--rate', 'whole number of bytes per second');
    expectError(() => parseByteRate('10Gbit/h', '--rate'), 'EINVAL', '"10Gbit/h"');
    expectError(() => parseByteRate('10GX/s', '--rate'), 'EINVAL', '"10GX/s"');
    expectError(() => parseByteRate('20EB/s', '--rate'), 'EOVERFLOW');
  });

  it('formatByteRate prints a rate that parses back, binary when exact, else SI', () => {
    expect(formatByteRate(256n << 20n)).toBe('256 MiB/s');
    expect(formatByteRate(1_250_000_000n)).toBe('1.25 GB/s');
    expect(formatByteRate(1n)).toBe('1 B/s');
    expect(formatByteRate(1_000_001n)).toBe('1000001 B/s');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n }), (x) => {
        expect(parseByteRate(formatByteRate(x).replace(' ', ''))).toBe(x);
      }),
      { numRuns: 300 },
    );
  });

  it('plural says 1 chunk and 2 chunks', () => {
    expect(plural(1, 'chunk')).toBe('1 chunk');
    expect(plural(2, 'chunk')).toBe('2 chunks');
    expect(plural(0, 'entry', 'entries')).toBe('0 entries');
    expect(plural(1n, 'leaf', 'leaves')).toBe('1 leaf');
  });

  it('formats throughput figures with three significant digits', () => {
    expect(formatNsPerPte(0.4712)).toBe('0.471 ns/PTE');
    expect(formatGiBps(12.345)).toBe('12.3 GiB/s');
    expect(formatGiBps(1234.5)).toBe('1235 GiB/s');
  });
});
