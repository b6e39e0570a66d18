/**
 * Bench documents stay readable and small: a record keeps at most MAX_KEPT_SAMPLES samples (order
 * statistics evenly spaced by rank, fastest and slowest kept, the true count in `samples`), and
 * arrays of numbers are written on one line. Regression: a quick `scale` run wrote 9 MB of JSON,
 * one yardstick cell alone 223 848 samples, one per line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptSamples, MAX_KEPT_SAMPLES, medianIntervalMs, toJsonText } from '@iovabitmap/bench/internal';
import { schemaErrors } from '../helpers/schemas.js';

/** The committed figures. */
const DOCS = join(import.meta.dirname, '..', '..', 'docs', 'bench');

describe('samples kept per record', () => {
  it('keeps every sample up to the cap, in order', () => {
    const s = Array.from({ length: MAX_KEPT_SAMPLES }, (_, i) => i / 7);
    expect(keptSamples(s)).toEqual(s);
    expect(keptSamples([])).toEqual([]);
  });

  it('thins 10^5 samples to order statistics: the extremes, every percentile within one rank step, a median interval no narrower', () => {
    const n = 100_000;
    const sorted = Array.from({ length: n }, (_, i) => 1 + i * 1e-5 + (i % 3) * 1e-9);
    const kept = keptSamples(sorted);
    expect(kept).toHaveLength(MAX_KEPT_SAMPLES);
    expect(kept[0]).toBe(sorted[0]);
    expect(kept.at(-1)).toBe(sorted[n - 1]);
    expect([...kept].sort((a, b) => a - b)).toEqual(kept);
    for (const q of [0.01, 0.1, 0.5, 0.9, 0.99]) {
      const want = sorted[Math.round(q * (n - 1))]!;
      const got = kept[Math.round(q * (MAX_KEPT_SAMPLES - 1))]!;
      expect(Math.abs(got - want)).toBeLessThanOrEqual((n / MAX_KEPT_SAMPLES) * 1e-5);
    }
    const full = medianIntervalMs({ medianMs: sorted[n / 2]!, rme: 1, samplesMs: sorted });
    const thin = medianIntervalMs({ medianMs: sorted[n / 2]!, rme: 1, samplesMs: kept });
    expect(thin.loMs).toBeLessThanOrEqual(full.loMs);
    expect(thin.hiMs).toBeGreaterThanOrEqual(full.hiMs);
  });
});

describe('JSON text of a document', () => {
  it('writes arrays of numbers on one line and reads back the same document', () => {
    const doc = { a: 1n, xs: [1.5, -2, 3e-7, 4], nested: [{ ys: [0.25] }, { zs: [] }], words: ['a', 'b'], s: '[\n 1\n]' };
    const text = toJsonText(doc);
    expect(text).toContain('"xs": [1.5, -2, 3e-7, 4]');
    expect(text).toContain('"ys": [0.25]');
    expect(text).toMatch(/"words": \[\n\s+"a",\n\s+"b"\n\s+\]/); // other arrays keep their lines
    expect(JSON.parse(text)).toEqual({ ...doc, a: '1' });
    expect(text.endsWith('}\n')).toBe(true);
  });
});

describe('the bench documents committed in docs/bench', () => {
  const files = readdirSync(DOCS).filter((f) => f.endsWith('.json'));

  it('are there', () => expect(files.length).toBeGreaterThan(0));

  it.each(files)('%s validates against its JSON Schema, keeps at most the cap of samples, and stays under 2 MB', (f) => {
    const text = readFileSync(join(DOCS, f), 'utf8');
    const doc = JSON.parse(text) as { results?: { samplesMs?: unknown[] }[] };
    expect(schemaErrors(doc)).toEqual([]);
    for (const r of doc.results ?? []) expect(r.samplesMs?.length ?? 0).toBeLessThanOrEqual(MAX_KEPT_SAMPLES);
    expect(text.length).toBeLessThan(2 << 20);
  });
});
