/**
 * What the README's library example (examples/library.ts) must print, wherever it runs: from the
 * workspace's sources (test/fast/readme.test.ts) and compiled in a project that installed the
 * packed packages (test/fast/consumer.test.ts).
 */
import { expect } from 'vitest';

/** Checks the example's output `out` against the lines the README quotes (`readme`, its text). */
export function expectLibraryExampleOutput(out: string, readme: string): void {
  const lines = out.split('\n');
  expect(lines[0]).toBe('dirty: 0x140000000 +2097152 bytes');
  expect(lines[1]).toBe('dirty: 0xa00000000 +4096 bytes');
  expect(lines[2]).toBe('513 pages, 2 chunks, on this thread (a report this small)');
  expect(lines[3]).toBe('EINVAL: IovaBitmap: iova must be aligned to pageSize 4096, got 4095 (0xfff)');
  for (const l of lines.slice(0, 4)) expect(readme).toContain(l);
}
