/**
 * The packages also work from their build (dist/), the way a consumer runs them: plain `node`, no
 * tsx, no `@iovabitmap/source` condition: a report (the pool's workers) and a migration (the
 * device's worker too). A worker entry that pointed at a .ts file, or a dist that lagged the
 * sources' API, would fail here. The fast project builds first (test/helpers/buildOnce.ts,
 * `tsc -b`: a no-op when dist is current, as after `npm test`'s own build), so a dist that lags
 * the sources cannot pass for them.
 *
 * A consumer also compiles against the built declarations: the public ones (each package's
 * dist/index.d.ts and every declaration file it imports, across packages) must import no third
 * party's types. piscina's own .d.ts, for one, fails to resolve under `moduleResolution: node16`
 * (`Cannot find module '../package.json'`), and vega-lite's needs the DOM lib.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['core', 'workers', 'bench'];

/**
 * Every module specifier imported (or referenced) by the declaration files reachable from `entry`,
 * as `specifier <- file`, for the specifiers that leave the workspace (node: built-ins excepted).
 * `@iovabitmap/<pkg>[/internal]` is followed into that package's dist.
 */
function foreignImports(entry: string): string[] {
  const seen = new Set<string>();
  const foreign: string[] = [];
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of [...info.importedFiles, ...info.referencedFiles]) {
      const own = /^@iovabitmap\/(core|workers|bench)(\/internal)?$/.exec(spec);
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
      else if (own !== null) stack.push(`${root}packages/${own[1]}/dist/${own[2] === undefined ? 'index' : 'internal'}.d.ts`);
      else if (!spec.startsWith('node:')) foreign.push(`${spec} <- ${file.slice(root.length)}`);
    }
  }
  return foreign;
}

describe('the build', () => {
  it('runs a parallel report with both sources through bin/iovabitmap.js and dist/ workers', () => {
    const out = execFileSync(
      process.execPath,
      ['packages/bench/bin/iovabitmap.js', 'report', '--iova-size', '1GiB', '--sources', 'both', '--threads', '2', '--density', '5%'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(out).toMatch(/^report: engine ×2, \d+ chunks: .* (\d+) bits set \(as expected\)$/m);
    // Which worker takes the chunks is up to the shared cursor (one may take them all): any worker line.
    expect(out).toMatch(/^ {2}worker \d \(thread \d+\): [1-9]\d* chunks?,/m);
  }, 120_000);

  it('runs a migration with the device simulator from dist/ (its worker entry too)', () => {
    const out = execFileSync(
      process.execPath,
      ['packages/bench/bin/iovabitmap.js', 'migrate', '--iova-size', '1GiB', '--leaf', '2M', '--rounds', '1', '--threads', '1', '--round-interval', '0'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(out).toMatch(/^verification: OK: \d+ pages written/m);
  }, 120_000);

  it('detaches no ArrayBuffer in a streamed migration, in any thread (V8 --trace-protector-invalidation)', () => {
    // The first detached ArrayBuffer in a thread makes V8 check every typed-array access of its
    // optimised code from then on (docs/bench/limits.md §9.5): transferring a streamed chunk's runs
    // made the clean tracker scan 1.7x slower in every pool worker. V8 prints the invalidation of
    // its ArrayBufferDetaching protector when the flag is on; first, that it does.
    const node = (args: string[]): string =>
      execFileSync(process.execPath, ['--trace-protector-invalidation', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, stdio: 'pipe' });
    expect(node(['-e', 'const b = new ArrayBuffer(8); structuredClone(b, { transfer: [b] });'])).toContain('ArrayBufferDetaching');
    const out = node(['packages/bench/bin/iovabitmap.js', 'migrate', '--iova-size', '256GiB', '--rounds', '1', '--threads', '2']);
    expect(out).toMatch(/streamed \(transfer overlaps the harvest\)/);
    expect(out).toMatch(/^verification: OK: \d+ pages written/m);
    expect(out).not.toContain('ArrayBufferDetaching');
  }, 120_000);

  it.each(PACKAGES)('the public declarations of @iovabitmap/%s import no third-party types', (pkg) => {
    // None at all, not only piscina, comlink, vega, vega-lite, commander, cli-table3, cli-progress
    // and tinybench (the workspace's dependencies today): a new one is a decision.
    expect(foreignImports(`${root}packages/${pkg}/dist/index.d.ts`)).toEqual([]);
  });

  it('the check sees third-party types where they are: the internal declarations of bench reach commander and vega-lite', () => {
    const reached = new Set(foreignImports(`${root}packages/bench/dist/internal.d.ts`).map((f) => f.split(' <- ')[0]));
    expect([...reached].sort()).toEqual(['commander', 'vega-lite']);
  });
});
