/**
 * Output paths of `iovabitmap bench`: a bad --json/--markdown/--charts is refused before anything
 * runs (exit 1, the option and the path named), nothing can hang (Node's recursive mkdir spins
 * forever under /proc), and a write that still fails at the end keeps the results on stdout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchFile } from '@iovabitmap/bench';
import { checkBenchOutputs, makeDirs, runBenchCommand } from '@iovabitmap/bench/internal';
import { cli } from '../helpers/cli.js';
import { rejectionOf } from '../helpers/rejection.js';
import { captureIo } from '../helpers/streams.js';

/** One small cell: the VF tracker alone over 64 GiB, sequential (no pool), ~0.1 s to build. */
const CELL = 'sources/64GiB@4KiB/1%/uniform/vf sequential';
const tmp = mkdtempSync(join(tmpdir(), 'iovabitmap-outputs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench output paths', () => {
  it('refuses /proc/nope/x.json up front, as a child process: exit 1, nothing run, no hang', async () => {
    const r = await cli('bench', '--json', '/proc/nope/x.json', '--filter', CELL, '--time', '1', '--min-samples', '1');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe(''); // nothing measured, no table
    expect(r.stderr).toBe('error: iovabitmap: --json must be writable, but no file can be created in /proc (ENOENT), got "/proc/nope/x.json" (EINVAL)\n');
  }, 20_000);

  it('refuses a path under a file, a directory as --json, a file as --charts before running anything', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, string, RegExp][] = [
      ['--json', join(file, 'x.json'), /must lie under a directory, but .*a-file is not one/],
      ['--json', tmp, /must name a file, but it is a directory/],
      ['--markdown', join(file, 'deeper', 'x.md'), /must lie under a directory/],
      ['--charts', file, /must be a directory, but it is a file/],
    ];
    for (const [option, path, why] of cases) {
      const { io, out, err } = captureIo();
      const key = option.slice(2) as 'json' | 'markdown' | 'charts';
      const e = await rejectionOf(runBenchCommand({ full: false, list: false, seed: 1, filter: CELL, time: 1, minSamples: 1, [key]: path }, io));
      expect(e.code).toBe('EINVAL');
      expect(e.param).toBe(option);
      expect(e.message).toContain(JSON.stringify(path));
      expect(e.message).toMatch(why);
      expect(out() + err()).toBe(''); // nothing measured, no table
    }
  });

  it('makes directories without the recursive mkdir that never returns under /proc', async () => {
    const t0 = performance.now();
    const e = await makeDirs('/proc/nope/a/b').then(
      () => undefined,
      (x: NodeJS.ErrnoException) => x,
    );
    expect(e?.code).toBe('ENOENT');
    expect(performance.now() - t0).toBeLessThan(1000);
    await makeDirs(join(tmp, 'new', 'deep', 'dir'));
    await makeDirs(join(tmp, 'new', 'deep', 'dir')); // exists: fine
    await expect(checkBenchOutputs({ json: join(tmp, 'new', 'x', 'y.json'), charts: join(tmp, 'charts') })).resolves.toBeUndefined();
  });

  it('keeps the results when a write still fails at the end: EIO on stderr, the JSON on stdout', async () => {
    const dir = join(tmp, 'vanishing');
    const json = join(dir, 'out', 'results.json');
    // The check passes before the run; when the table is printed, the directory becomes a file.
    const { io, out: text } = captureIo({
      onWrite: (s) => {
        if (s.includes('┌')) writeFileSync(dir, 'not a directory any more');
      },
    });
    const e = await rejectionOf(runBenchCommand({ full: false, list: false, seed: 1, filter: CELL, time: 1, minSamples: 1, json }, io));
    expect(e.code).toBe('EIO');
    expect(e.message).toBe(`iovabitmap bench: could not write --json ${json} (ENOTDIR); the results are above on stdout, as JSON`);
    const printed = text();
    const doc = parseBenchFile(printed.slice(printed.indexOf('{\n')));
    expect(doc.results.map((r) => `${r.scenario} ${r.impl}`)).toEqual(['sources/64GiB@4KiB/1%/uniform/vf sequential']);
  });
});
