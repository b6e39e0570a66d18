/**
 * Error messages stay small and cheap: describeValue bounds what it shows of any value (type,
 * length, the first few elements or keys) and never throws or runs the value's code; errors built
 * over hostile values stay short. Regression: a 16 MiB typed array passed as a buffer used to be
 * JSON-stringified into the message (17 s, 200 MB).
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { describeValue } from '@iovabitmap/core/internal';
import { hostileValues, type Hostile } from '../helpers/hostile.js';
import { rejection } from '../helpers/rejection.js';

/** Longest rendering and message accepted here, characters. */
const MAX_CHARS = 200;
/**
 * Longest one rendering or one rejected construction may take, ms. This guards against the
 * seconds-scale regression above (17 s), not a speed claim: counting an object's keys is linear
 * (50 000 keys take ~8 ms unloaded, 21 ms once on a loaded CI run), so the bound leaves a wide
 * margin for a busy 2-core machine while staying 30x below the regression.
 */
const MAX_MS = 500;

/** Values that attack the renderer itself: proxies, throwing getters, huge strings and objects. */
function nastyValues(): Hostile[] {
  const revocable = Proxy.revocable({}, {});
  revocable.revoke();
  const throwing = new Proxy(
    {},
    {
      get: () => {
        throw new Error('get trap');
      },
      ownKeys: () => {
        throw new Error('ownKeys trap');
      },
      getPrototypeOf: () => {
        throw new Error('getPrototypeOf trap');
      },
    },
  );
  const getter = Object.defineProperty({}, 'x', {
    enumerable: true,
    get: () => {
      throw new Error('getter ran');
    },
  });
  const wide: Record<string, number> = {};
  for (let i = 0; i < 50_000; i++) wide[`k${i}`] = i;
  const deep: { next?: unknown } = {};
  let at = deep;
  for (let i = 0; i < 10_000; i++) at = at.next = {};
  const sparse: unknown[] = [];
  sparse[1e6] = 1;
  const forgedLength = Object.defineProperty(new ArrayBuffer(8), 'byteLength', { value: 2 ** 40 });
  return [
    { label: 'revoked proxy', value: revocable.proxy },
    { label: 'proxy whose traps throw', value: throwing },
    { label: 'object with a throwing getter', value: getter },
    { label: 'object with 50000 keys', value: wide },
    { label: 'object nested 10000 deep', value: deep },
    { label: 'sparse array of 1e6 + 1', value: sparse },
    { label: 'string of 1 MiB', value: 'x'.repeat(1 << 20) },
    { label: 'bigint of 100000 bits', value: 1n << 100_000n },
    { label: 'symbol with a long description', value: Symbol('s'.repeat(10_000)) },
    { label: 'ArrayBuffer with a forged byteLength', value: forgedLength },
    { label: 'class instance', value: new IovaBitmap({ iova: 0, length: 8, pageSize: 1 }) },
  ];
}

function timed<T>(f: () => T): { result: T; ms: number } {
  const t0 = performance.now();
  const result = f();
  return { result, ms: performance.now() - t0 };
}

describe('describeValue is bounded and total', () => {
  const all = [...hostileValues(), ...nastyValues()];
  // One warm-up so that the first case does not pay for compiling the renderer.
  describeValue({ a: [1n, 'x'] });

  it.each(all)('$label: short, fast, never throws', ({ value }) => {
    const { result, ms } = timed(() => describeValue(value));
    expect(typeof result).toBe('string');
    expect(result.length).toBeLessThanOrEqual(100);
    expect(result.length).toBeGreaterThan(0);
    expect(ms).toBeLessThan(MAX_MS);
  });

  /** Builds a bitmap with `value` in one option: it must work or fail with a short typed error, fast. */
  function construct(field: 'buffer' | 'iova' | 'byteOffset', value: unknown): void {
    const { result: e, ms } = timed(() => {
      try {
        new IovaBitmap({ iova: 0, length: 4096, pageSize: 4096, [field]: value });
        return undefined;
      } catch (thrown) {
        return thrown;
      }
    });
    if (e !== undefined) {
      expect(IovaBitmapError.is(e), String(e)).toBe(true);
      expect((e as IovaBitmapError).message.length).toBeLessThan(MAX_CHARS);
    }
    expect(ms).toBeLessThan(MAX_MS);
  }

  it.each(hostileValues())('$label as a bitmap buffer', ({ value }) => construct('buffer', value));
  it.each(hostileValues())('$label as a bitmap iova', ({ value }) => construct('iova', value));
  it.each(nastyValues())('$label as a bitmap byteOffset', ({ value }) => construct('byteOffset', value));

  it('the 16 MiB typed array as a buffer is EINVAL, named by its type and length', () => {
    const e = rejection(() => new IovaBitmap({ iova: 0, length: 4096, pageSize: 4096, buffer: new Uint8Array(16 << 20) as never }));
    expect([e.code, e.param, e.value]).toEqual(['EINVAL', 'buffer', 'Uint8Array(16777216) [0, 0, 0, …]']);
  });

  it('shows type, size and the first items, runs no getter, keeps the number and bigint forms', () => {
    expect(describeValue(new Uint8Array(16 << 20))).toBe('Uint8Array(16777216) [0, 0, 0, …]');
    expect(describeValue(new SharedArrayBuffer(64))).toBe('SharedArrayBuffer(64)');
    expect(describeValue(new ArrayBuffer(8))).toBe('ArrayBuffer(8)');
    expect(describeValue([1, 2])).toBe('[1, 2]');
    expect(describeValue({})).toBe('{}');
    expect(describeValue({ iova: 4096n, length: 8192n })).toBe('{ iova: 4096n, length: 8192n }');
    expect(describeValue(Object.defineProperty({}, 'x', { enumerable: true, get: () => 1 }))).toBe('{ x: [getter] }');
    expect(describeValue(Object.create(null))).toBe('[null prototype] {}');
    expect(describeValue(4095)).toBe('4095 (0xfff)');
    expect(describeValue(4095n)).toBe('4095 (0xfff)');
    expect(describeValue(-4096n)).toBe('-4096');
    expect(describeValue(-0)).toBe('-0');
    expect(describeValue('x')).toBe('"x"');
    expect(describeValue(Symbol('s'))).toBe('Symbol(s)');
    expect(describeValue(1n << 100_000n)).toBe('0x100000000000… (a 100001-bit bigint)');
    expect(describeValue('y'.repeat(1000))).toMatch(/…\(1000 chars\)$/);
  });
});

describe('IovaBitmapError itself refuses wrong types with a typed error', () => {
  it.each(hostileValues().filter((h) => typeof h.value !== 'string'))('message $label', ({ value }) => {
    expect(rejection(() => new IovaBitmapError('EINVAL', value as string)).param).toBe('message');
  });

  it('refuses a code that is not errno-shaped, details that are not scalars, and data that is not error data', () => {
    expect(rejection(() => new IovaBitmapError('nope' as 'EINVAL', 'x')).param).toBe('code');
    expect(rejection(() => new IovaBitmapError('EINVAL', 'x', { details: { a: {} as string } })).param).toBe('options.details.a');
    expect(rejection(() => IovaBitmapError.fromData(null as never)).param).toBe('data');
    expect(rejection(() => IovaBitmapError.fromData({ code: 5, message: 'x' } as never)).param).toBe('code');
  });

  it('is(), hasCode() and dataOf() never throw, whatever was thrown', () => {
    for (const { value } of [...hostileValues(), ...nastyValues()]) {
      expect(IovaBitmapError.is(value)).toBe(false);
      expect(IovaBitmapError.hasCode(value, 'EINVAL')).toBe(false);
      const d = IovaBitmapError.dataOf(value);
      expect(d.code).toBe('EIO');
      expect(d.message.length).toBeLessThanOrEqual(100);
    }
  });
});
