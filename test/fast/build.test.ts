/**
 * The packages also work from their build (dist/), the way a consumer runs them: plain `node`, no
 * tsx, no `source` condition. A worker entry that pointed at a .ts file, or a dist that lagged the
 * sources' API, would fail here. `npm test` builds first; run alone, this test builds itself.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the build', () => {
  it('runs a parallel report with both sources through bin/iovabitmap.js and dist/ workers', () => {
    if (!existsSync(`${root}packages/bench/dist/cli/main.js`)) {
      execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/core', 'packages/workers', 'packages/bench'], { cwd: root });
    }
    const out = execFileSync(
      process.execPath,
      ['packages/bench/bin/iovabitmap.js', 'report', '--iova-size', '1GiB', '--sources', 'both', '--threads', '2', '--density', '5%'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(out).toMatch(/^report: engine ×2, \d+ chunks: .* (\d+) bits set \(as expected\)$/m);
    expect(out).toMatch(/^ {2}worker 0 \(thread \d+\): \d+ chunks/m);
  }, 120_000);
});
