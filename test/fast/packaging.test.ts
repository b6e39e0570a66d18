/**
 * The packages as they are published (RELEASING.md): one version for all, packed by pnpm only, and
 * only from a dist/ that is a build of src/. `scripts/release.mjs` holds those rules; these tests
 * run it as a release does (a child process, in a package's directory for `prepack`). What an
 * installed tarball does is test/fast/consumer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
