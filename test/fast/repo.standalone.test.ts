/**
 * The repository stands alone: a clone (or an installed package) has every document its comments
 * and README point at.
 *
 * - No tracked file refers to the design notes that once lived beside the repository (a parent
 *   folder named `shared`), by their path or by the names of the notes and of the probe programs:
 *   the facts are in docs/design/ and the figures in docs/bench/.
 * - Every `docs/design/...` or `docs/bench/...` file named in a tracked file exists, and a section
 *   named right after it (`docs/bench/limits.md §4`) is a heading of that file.
 * - Every relative link of the Markdown files under docs/ resolves to a tracked file or folder.
 *
 * The files are the ones `git ls-files` lists, read as they are in the working tree.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const self = relative(root, fileURLToPath(import.meta.url)).split('\\').join('/');

/** Tracked files that exist in the working tree, paths relative to the root, with their text. */
function trackedFiles(): { path: string; text: string }[] {
  const list = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  return list
    .split('\0')
    .filter((p) => p !== '' && existsSync(join(root, p)) && statSync(join(root, p)).isFile())
    .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

/** Paths and names of the notes outside the repository. */
const OUTSIDE = ['../shared', 'shared/design', 'performance-notes.md', 'kernel-reference.md', 'js-toolchain.md', 'perfprobe'];

/** `path:line: text` of every line of `files` that `test` accepts. */
function linesWhere(files: { path: string; text: string }[], test: (line: string) => boolean): string[] {
  const hits: string[] = [];
  for (const f of files) {
    f.text.split('\n').forEach((line, i) => {
      if (test(line)) hits.push(`${f.path}:${i + 1}: ${line.trim()}`);
    });
  }
  return hits;
}

/** True when Markdown `text` has a heading that starts with section number `section` ("4", "9.1"). */
function hasSection(text: string, section: string): boolean {
  const escaped = section.replace('.', '\\.');
  return new RegExp(`^#{1,6} ${escaped}[. ]`, 'm').test(text);
}

describe('the repository stands alone', () => {
  const files = trackedFiles();

  it('has no tracked file that points at the shared design notes outside it', () => {
    const others = files.filter((f) => f.path !== self);
    expect(others.length).toBeGreaterThan(100);
    expect(linesWhere(others, (l) => OUTSIDE.some((name) => l.includes(name)))).toEqual([]);
  });

  it('names only docs/design and docs/bench files that exist, and sections they have', () => {
    const tracked = new Map(files.map((f) => [f.path, f.text]));
    const missing: string[] = [];
    let seen = 0;
    for (const f of files) {
      for (const m of f.text.matchAll(/\b(docs\/(?:design|bench)\/[\w.@-]+\.(?:md|txt|json|svg))(?:`?\s+§(\d+(?:\.\d+)?))?/g)) {
        seen++;
        const [, path, section] = m;
        const target = tracked.get(path!);
        if (target === undefined) missing.push(`${f.path}: ${path} is not a tracked file`);
        else if (section !== undefined && !hasSection(target, section)) missing.push(`${f.path}: ${path} has no section ${section}`);
      }
    }
    expect(seen).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('resolves every relative link of the Markdown files under docs/', () => {
    const docs = files.filter((f) => f.path.startsWith('docs/') && f.path.endsWith('.md'));
    const broken: string[] = [];
    for (const f of docs) {
      for (const m of f.text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!;
        if (/^[a-z]+:/i.test(href) || href.startsWith('#')) continue;
        const target = normalize(join(dirname(f.path), href.split('#')[0]!));
        if (!existsSync(join(root, target))) broken.push(`${f.path}: ${href}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
