#!/usr/bin/env node
/**
 * The release chores of the workspace, in one place (RELEASING.md tells the order):
 *
 *   node scripts/release.mjs version            prints the version; exit 1 if a package differs
 *   node scripts/release.mjs version 0.2.0      stamps 0.2.0 into the root and the three packages
 *   node scripts/release.mjs clean              deletes every package's dist/ and tsbuildinfo
 *   node scripts/release.mjs prepack            the `prepack` of each published package
 *
 * Theory of operation
 * -------------------
 * The version lives in the root package.json; the three packages carry the same one (they are
 * released together, and `workspace:*` dependencies become that exact version when pnpm packs).
 * `version X` writes it everywhere; `version` and `prepack` refuse a mismatch.
 *
 * `prepack` runs in the package's directory whenever it is packed or published, and only reads:
 * 1. the packer must be pnpm (npm_config_user_agent). npm would put `workspace:*` dependencies and
 *    the private `@iovabitmap/source` export condition into the tarball, since it ignores
 *    `publishConfig.exports` and does not rewrite workspace ranges; it is refused with the command
 *    to use instead.
 * 2. the package's version must be the root's.
 * 3. dist/ must be a build of src/ as it is now: `tsc -b --dry` has nothing to build, and dist holds
 *    exactly one module (.js, .d.ts and their maps) per module of src (tsc -b neither notices a
 *    deleted output nor removes the output of a deleted source: `clean` then `npm run build`).
 * It does not build: `pnpm -r pack` runs two packages' prepack at once, and two builds of the
 * same referenced project would write the same files together.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The published packages, in dependency order. */
export const PACKAGES = ['core', 'workers', 'bench'];
/** The one way to pack and publish (docs/design/toolchain.md §2 says why through npx). */
export const PNPM = 'npx -y pnpm@10.34.9';

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const packageJsonPath = (dir) => join(dir, 'package.json');
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const packageDir = (pkg) => join(ROOT, 'packages', pkg);

/** The version of the workspace: the root package.json's. */
export function rootVersion() {
  return readJson(packageJsonPath(ROOT)).version;
}

/** `@iovabitmap/x has 0.1.1, the root has 0.1.0` for each package whose version differs. */
export function versionMismatches() {
  const want = rootVersion();
  return PACKAGES.map((p) => readJson(packageJsonPath(packageDir(p))))
    .filter((j) => j.version !== want)
    .map((j) => `${j.name} has ${j.version}, the root package.json has ${want}`);
}

/** Writes `version` into the root and every package.json (the first "version" field, text kept). */
function setVersion(version) {
  if (!SEMVER.test(version)) fail(`version: "${version}" is not a version like 1.2.3`);
  for (const dir of [ROOT, ...PACKAGES.map(packageDir)]) {
    const path = packageJsonPath(dir);
    const text = readFileSync(path, 'utf8');
    if (!/"version": "[^"]*"/.test(text)) fail(`version: ${relative(ROOT, path)} has no "version" field`);
    writeFileSync(path, text.replace(/"version": "[^"]*"/, `"version": "${version}"`));
  }
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
}

/**
 * What is wrong with `dir`'s dist/ as a build of its src/ (empty when nothing): a module of src
 * without its outputs, or an output that no module of src produces.
 */
export function distProblems(dir) {
  const src = join(dir, 'src');
  const dist = join(dir, 'dist');
  if (!existsSync(dist)) return ['dist/ is missing'];
  const want = new Set();
  for (const f of filesUnder(src)) {
    if (!f.endsWith('.ts') || f.endsWith('.d.ts')) continue;
    const stem = f.slice(0, -'.ts'.length);
    for (const ext of ['.js', '.js.map', '.d.ts', '.d.ts.map']) want.add(stem + ext);
  }
  // The build's own bookkeeping (tsBuildInfoFile) lives in dist/ so that deleting dist/ forces a
  // full rebuild; `files` leaves it out of the tarball.
  const have = new Set(filesUnder(dist).filter((f) => f !== '.tsbuildinfo'));
  return [
    ...[...want].filter((f) => !have.has(f)).map((f) => `dist/${f} is missing`),
    ...[...have].filter((f) => !want.has(f)).map((f) => `dist/${f} comes from no file of src/`),
  ].sort();
}

/** True when `tsc -b --dry` would build something in `dir`'s project (or in one it references). */
function buildPending(dir) {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', '--dry', dir], { encoding: 'utf8' });
  if (r.status !== 0) fail(`prepack: tsc -b --dry failed:\n${r.stdout}${r.stderr}`);
  return /A non-dry build would build project/.test(r.stdout);
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function prepack() {
  const dir = process.cwd();
  const { name } = readJson(packageJsonPath(dir));
  const agent = process.env.npm_config_user_agent ?? '';
  if (!agent.startsWith('pnpm/')) {
    fail(
      `${name}: pack and publish with pnpm, not ${agent.split(' ')[0] || 'this tool'}: ` +
        `${PNPM} pack (or publish, see RELEASING.md). ` +
        'npm would leave "workspace:*" dependencies and the private "@iovabitmap/source" export condition in the tarball.',
    );
  }
  const mismatches = versionMismatches();
  if (mismatches.length > 0) fail(`${name}: versions differ (${mismatches.join('; ')}): node scripts/release.mjs version <x.y.z>`);
  const problems = distProblems(dir);
  if (problems.length > 0 || buildPending(dir)) {
    const shown = problems.length > 5 ? [...problems.slice(0, 5), `and ${problems.length - 5} more`] : problems;
    fail(`${name}: dist/ is not a build of src/ as it is now${shown.length > 0 ? ` (${shown.join(', ')})` : ''}: npm run clean && npm run build`);
  }
}

function clean() {
  for (const p of PACKAGES) {
    for (const f of ['dist', 'tsconfig.tsbuildinfo' /* where it was before it moved into dist/ */]) rmSync(join(packageDir(p), f), { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  const [command, arg] = process.argv.slice(2);
  if (command === 'version' && arg !== undefined) setVersion(arg);
  else if (command === 'version') {
    const mismatches = versionMismatches();
    if (mismatches.length > 0) fail(mismatches.join('\n'));
    process.stdout.write(`${rootVersion()}\n`);
  } else if (command === 'clean') clean();
  else if (command === 'prepack') prepack();
  else fail('usage: node scripts/release.mjs version [x.y.z] | clean | prepack');
}
