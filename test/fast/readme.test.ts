/**
 * The README stays true: its library example is examples/library.ts verbatim and runs with the
 * output the README shows; its two commands are the ones package.json and .ci/run run.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expectLibraryExampleOutput } from '../helpers/libraryExample.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

describe('README', () => {
  const readme = read('README.md');

  it('quotes examples/library.ts verbatim', () => {
    const example = read('examples/library.ts');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('shows the output the example really prints', () => {
    const out = execFileSync(process.execPath, ['--no-lazy-feedback-allocation', '--import', 'tsx', '--conditions=@iovabitmap/source', 'examples/library.ts'], {
      cwd: root,
      encoding: 'utf8',
    });
    expectLibraryExampleOutput(out, readme);
  }, 60_000);

  it('gives the two commands that package.json defines and CI runs', () => {
    const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
    expect(scripts.start).toContain('setup');
    expect(scripts.test).toContain('setup');
    expect(read('.ci/run')).toMatch(/^npm test$/m);
  });
});
