/**
 * The packages as they are published (RELEASING.md): one version for all, packed by pnpm only, and
 * only from a dist/ that is a build of src/. `scripts/release.mjs` holds those rules; these tests
 * run it as a release does (a child process, in a package's directory for `prepack`). What an
 * installed tarball does is test/fast/consumer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['core', 'workers', 'bench'] as const;
const RELEASE = join(root, 'scripts', 'release.mjs');
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const rootVersion = readJson(join(root, 'package.json')).version as string;
/** The environment of a script that pnpm runs. */
const PNPM_ENV = { ...process.env, npm_config_user_agent: 'pnpm/10.34.9 npm/? node/v20.20.2 linux x64' };

/** A scratch directory, removed after `f`. */
function inTempDir<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'iovabitmap-packaging-'));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(path: string, text = ''): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('one version', () => {
  it('the root package.json and the three packages have the same version, and release.mjs says which', () => {
    for (const p of PACKAGES) expect(readJson(join(root, 'packages', p, 'package.json')).version, p).toBe(rootVersion);
    const r = spawnSync(process.execPath, [RELEASE, 'version'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${rootVersion}\n`);
  });

  it('`release.mjs version X` stamps X into the root and every package, and refuses what is not a version', () => {
    inTempDir((dir) => {
      cpSync(RELEASE, join(dir, 'scripts', 'release.mjs'));
      cpSync(join(root, 'package.json'), join(dir, 'package.json'));
      for (const p of PACKAGES) cpSync(join(root, 'packages', p, 'package.json'), join(dir, 'packages', p, 'package.json'));
      const script = join(dir, 'scripts', 'release.mjs');

      const bad = spawnSync(process.execPath, [script, 'version', 'v1'], { encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('"v1" is not a version');

      expect(spawnSync(process.execPath, [script, 'version', '12.3.4-rc.1'], { encoding: 'utf8' }).status).toBe(0);
      const stamped = ['package.json', ...PACKAGES.map((p) => `packages/${p}/package.json`)].map((f) => readJson(join(dir, f)));
      expect(stamped.map((j) => j.version)).toEqual(['12.3.4-rc.1', '12.3.4-rc.1', '12.3.4-rc.1', '12.3.4-rc.1']);
      // Only the version changed (dependencies stay workspace:*, pnpm rewrites them at pack time).
      expect({ ...stamped[1], version: rootVersion }).toEqual(readJson(join(root, 'packages', 'core', 'package.json')));
      expect(spawnSync(process.execPath, [script, 'version'], { encoding: 'utf8' }).stdout).toBe('12.3.4-rc.1\n');
    });
  });
});

describe('CHANGELOG.md', () => {
  it('opens with an Unreleased section and has one for the current version', () => {
    const headings = [...readFileSync(join(root, 'CHANGELOG.md'), 'utf8').matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map((m) => m[1]);
    expect(headings[0]).toBe('Unreleased');
    expect(headings).toContain(rootVersion);
  });
});

describe('prepack', () => {
  it('refuses `npm pack`, naming the pnpm command to use instead', () => {
    const r = spawnSync('npm', ['pack', '--dry-run'], { cwd: join(root, 'packages', 'core'), encoding: 'utf8', env: { ...process.env, npm_config_user_agent: '' } });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('@iovabitmap/core: pack and publish with pnpm, not npm/');
    expect(r.stdout + r.stderr).toContain('npx -y pnpm@10.34.9 pack');
  }, 30_000);

  it('refuses a dist/ that is not a build of src/: an output of no source, a source without its outputs', () => {
    inTempDir((dir) => {
      write(join(dir, 'package.json'), JSON.stringify({ name: '@iovabitmap/scratch', version: rootVersion }));
      write(join(dir, 'src', 'kept.ts'));
      write(join(dir, 'src', 'types', 'ambient.d.ts'));
      write(join(dir, 'src', 'added.ts'));
      for (const ext of ['.js', '.js.map', '.d.ts', '.d.ts.map']) write(join(dir, 'dist', `kept${ext}`));
      write(join(dir, 'dist', 'old', 'renamed.js'));
      const r = spawnSync(process.execPath, [RELEASE, 'prepack'], { cwd: dir, encoding: 'utf8', env: PNPM_ENV });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        '@iovabitmap/scratch: dist/ is not a build of src/ as it is now (dist/added.d.ts is missing, dist/added.d.ts.map is missing, ' +
          'dist/added.js is missing, dist/added.js.map is missing, dist/old/renamed.js comes from no file of src/): npm run clean && npm run build\n',
      );
    });
  });

  it("refuses to pack when a package's version is not the root one", () => {
    inTempDir((dir) => {
      cpSync(RELEASE, join(dir, 'scripts', 'release.mjs'));
      cpSync(join(root, 'package.json'), join(dir, 'package.json'));
      for (const p of PACKAGES) cpSync(join(root, 'packages', p, 'package.json'), join(dir, 'packages', p, 'package.json'));
      const workers = join(dir, 'packages', 'workers', 'package.json');
      writeFileSync(workers, readFileSync(workers, 'utf8').replace(/"version": "[^"]*"/, '"version": "99.0.0"'));
      const r = spawnSync(process.execPath, [join(dir, 'scripts', 'release.mjs'), 'prepack'], { cwd: join(dir, 'packages', 'core'), encoding: 'utf8', env: PNPM_ENV });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `@iovabitmap/core: versions differ (@iovabitmap/workers has 99.0.0, the root package.json has ${rootVersion}): node scripts/release.mjs version <x.y.z>\n`,
      );
    });
  });
});

/**
 * Imports `modules` (paths relative to the package) in a fresh plain `node` from `dir` and reports
 * what that changed outside them: globals, process listeners, live handles (timers, workers,
 * sockets), the exit code, and anything printed or thrown.
 */
function effectsOfImporting(dir: string, modules: readonly string[]): string[] {
  const probe = `
    const events = ['exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning', 'SIGINT', 'SIGTERM', 'message'];
    const snapshot = () => ({
      globals: Object.getOwnPropertyNames(globalThis).sort().join(),
      listeners: events.map((e) => e + ':' + process.listenerCount(e)).join() + ' stdout:' + process.stdout.listenerCount('error') + ' stderr:' + process.stderr.listenerCount('error'),
      resources: process.getActiveResourcesInfo().sort().join(),
      exitCode: String(process.exitCode),
    });
    const before = snapshot();
    for (const m of ${JSON.stringify(modules)}) await import(new URL(m, ${JSON.stringify(`file://${dir}/`)}).href);
    await new Promise((r) => setImmediate(r));
    const after = snapshot();
    const changed = Object.keys(before).filter((k) => before[k] !== after[k]).map((k) => k + ': ' + before[k] + ' -> ' + after[k]);
    process.stdout.write('\\n' + JSON.stringify(changed));
    process.exitCode = 0;
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const lines = r.stdout.split('\n');
  const changed = JSON.parse(lines.at(-1) || '["no report (the import threw or exited)"]') as string[];
  const printed = lines.slice(0, -1).join('\n').trim();
  return [...changed, ...(printed === '' ? [] : [`printed: ${printed.slice(0, 200)}`]), ...(r.stderr === '' ? [] : [`stderr: ${r.stderr.slice(0, 300)}`])];
}

/** Every built module of `pkg` that its package ships (dist/benches is left out of bench's `files`). */
function shippedModules(pkg: string): string[] {
  const dist = join(root, 'packages', pkg, 'dist');
  return readdirSync(dist, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js') && !f.startsWith('benches'))
    .map((f) => `./dist/${f}`)
    .sort();
}

describe('package.json of each package', () => {
  const repo = readJson(join(root, 'package.json')).repository as { url: string };

  it.each(PACKAGES)('@iovabitmap/%s: license, repository (with its directory), bugs, homepage and keywords', (pkg) => {
    const json = readJson(join(root, 'packages', pkg, 'package.json'));
    const base = repo.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(json.license).toBe('MIT');
    expect(json.repository).toEqual({ type: 'git', url: repo.url, directory: `packages/${pkg}` });
    expect(json.bugs).toEqual({ url: `${base}/issues` });
    expect(json.homepage).toBe(`${base}/tree/main/packages/${pkg}#readme`);
    expect(json.keywords).toEqual(expect.arrayContaining(['iova', 'iommu', 'dirty-tracking']));
  });

  it.each(['', ...PACKAGES.map((p) => `packages/${p}/`)])('%sLICENSE is the MIT license of the iovabitmap contributors, the same file everywhere', (dir) => {
    const text = readFileSync(join(root, dir, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} iovabitmap contributors\n/);
    expect(text).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
  });

  it.each(PACKAGES)('@iovabitmap/%s: importing every shipped module not listed in sideEffects changes nothing outside it', (pkg) => {
    const json = readJson(join(root, 'packages', pkg, 'package.json'));
    const listed = json.sideEffects === false ? [] : (json.sideEffects as string[]);
    const modules = shippedModules(pkg).filter((m) => !listed.includes(m));
    expect(modules.length).toBeGreaterThan(10);
    expect(effectsOfImporting(join(root, 'packages', pkg), modules)).toEqual([]);
  }, 30_000);

  it('the check sees a side effect: importing bench dist/cli/main.js (listed in sideEffects) runs the CLI', () => {
    const effects = effectsOfImporting(join(root, 'packages', 'bench'), ['./dist/cli/main.js']);
    expect(effects.some((e) => e.startsWith('listeners:') || e.startsWith('printed:') || e.startsWith('stderr:'))).toBe(true);
  }, 30_000);

  it('every module listed in sideEffects exists', () => {
    for (const pkg of PACKAGES) {
      const json = readJson(join(root, 'packages', pkg, 'package.json'));
      for (const m of json.sideEffects === false ? [] : (json.sideEffects as string[])) expect(existsSync(join(root, 'packages', pkg, m)), `${pkg} ${m}`).toBe(true);
    }
  });
});
