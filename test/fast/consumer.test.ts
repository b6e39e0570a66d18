/**
 * The packages as a user gets them. The three are packed the documented way (RELEASING.md:
 * `npm run release:pack`, pnpm through npx, with each package's prepack check), installed with
 * plain npm from the tarballs into a new project outside the workspace (under os.tmpdir(): nothing
 * links back), and used there without tsx and without export conditions:
 * - what the tarballs hold: versions instead of `workspace:*`, no private export condition, LICENSE
 *   and README, no build info, no benchmark scripts, and a source file behind every source map;
 * - the root README's library example (examples/library.ts) and each package README's example,
 *   compiled by the workspace's TypeScript and run with plain `node`, print what the READMEs say
 *   (the library example is the ReportPool report: its workers start from the installed package);
 * - so do the `@example`s of the API reference, read from the installed declarations: each
 *   `console.log(...); // x` line must print `x`;
 * - the same sources, with the `/internal` types of core and workers, type-check under
 *   `moduleResolution` node16 and bundler with `skipLibCheck: false`, so a third party's types
 *   leaking into a declaration, or a missing one, fails here;
 * - the `iovabitmap` bin: `--version` is the workspace's version, `report` and `migrate` start
 *   their workers from the installed package, and `bench --charts` without the optional vega
 *   stops before the run with the command that installs it;
 * - `node --conditions=source` (or the private `@iovabitmap/source`) changes nothing.
 * It skips, saying why, only when npm cannot reach the registry (the install needs piscina,
 * comlink, commander... and @types/node). The workspace's build comes from
 * test/helpers/buildOnce.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expectLibraryExampleOutput } from '../helpers/libraryExample.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['core', 'workers', 'bench'] as const;
const readText = (path: string): string => readFileSync(path, 'utf8');
const version = (JSON.parse(readText(join(root, 'package.json'))) as { version: string }).version;
const run = promisify(execFile);
/** What npm prints when it cannot reach the registry. */
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network/i;

/**
 * npm's retries shortened (one retry after 1 to 5 s instead of two after 10 to 60 s), so that an
 * unreachable registry is known in seconds, not in 70 s.
 */
const QUICK_RETRIES = { npm_config_fetch_retries: '1', npm_config_fetch_retry_mintimeout: '1000', npm_config_fetch_retry_maxtimeout: '5000' };

/** The environment of a user's shell: none of the variables npm sets for the script running these tests. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...QUICK_RETRIES, NODE_OPTIONS: '', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (/^npm_(package|lifecycle)_|^INIT_CWD$/.test(k)) delete env[k];
  return env;
}

/** The first fenced block of `lang` in a Markdown text, and the first `text` block after it. */
function example(markdown: string, lang: string): { code: string; prints: string } {
  const code = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(markdown);
  if (code === null) throw new Error(`no \`\`\`${lang} block`);
  const prints = /```text\n([\s\S]*?)```/.exec(markdown.slice(code.index + code[0].length));
  return { code: code[1]!, prints: prints?.[1] ?? '' };
}

/** An `@example` of the installed declarations: the declaration it documents, its code, what it must print. */
interface TsdocExample {
  readonly name: string;
  readonly code: string;
  readonly prints: readonly string[];
}

/** The ```ts `@example` blocks of the declaration files under `dir`, named by the declaration that follows each. */
function tsdocExamples(dir: string): TsdocExample[] {
  const found: TsdocExample[] = [];
  for (const f of filesUnder(dir).filter((x) => x.endsWith('.d.ts'))) {
    const text = readText(join(dir, f));
    for (const m of text.matchAll(/ \* @example\n \* ```ts\n([\s\S]*?) \* ```\n[\s\S]*?\*\/\n(?:export )?(?:declare )?(?:class|function|async function) (\w+)/g)) {
      const code = m[1]!.replace(/^ \*( |$)/gm, '');
      const prints = [...code.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((x) => x[1]!);
      found.push({ name: m[2]!, code, prints });
    }
  }
  return found;
}

/** Every file under `dir`, relative to it, with `/` separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

const TSCONFIG_BASE = { target: 'ES2022', lib: ['ES2022'], strict: true, skipLibCheck: false, types: ['node'], rootDir: 'src' };
const TSCONFIGS = {
  node16: { compilerOptions: { ...TSCONFIG_BASE, module: 'node16', moduleResolution: 'node16', outDir: 'out' }, include: ['src'] },
  bundler: { compilerOptions: { ...TSCONFIG_BASE, module: 'esnext', moduleResolution: 'bundler', noEmit: true }, include: ['src'] },
};

/** The /internal types a consumer may reach for (no compatibility promise, but they must compile). */
const INTERNAL_TYPES = `import type { BitmapViews, TableMapping } from '@iovabitmap/core/internal';
import type { DmaTarget, ReportTask, Rng } from '@iovabitmap/workers/internal';
export type Internals = [BitmapViews, TableMapping, DmaTarget, ReportTask, Rng];
`;

describe('a project that installs the packed packages with npm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iovabitmap-consumer-'));
  const tarballs = join(dir, 'tarballs');
  const project = join(dir, 'project');
  const readmes = Object.fromEntries(PACKAGES.map((p) => [p, readText(join(root, 'packages', p, 'README.md'))])) as Record<(typeof PACKAGES)[number], string>;
  let offline: string | undefined;
  /** The `@example`s found in the installed declarations. */
  let examples: TsdocExample[] = [];
  /** What tsc printed for each configuration (nothing when it compiled cleanly). */
  const tscOutput: Record<string, string> = {};
  const t0 = performance.now();

  /** Marks every test of the file skipped, with the reason, and says so on the console. */
  const skipAll = (reason: string): void => {
    offline = `registry unreachable: ${reason}`;
    console.warn(`consumer test skipped: ${offline}`);
  };
  /** Runs `node args` in the project; resolves with what it printed (rejects on a non-zero exit). */
  const node = async (args: string[]): Promise<string> => (await run(process.execPath, args, { cwd: project, env: userEnv(), encoding: 'utf8' })).stdout;
  const bin = join(project, 'node_modules', '@iovabitmap', 'bench', 'bin', 'iovabitmap.js');

  beforeAll(async () => {
    try {
      await run('npm', ['run', 'release:pack', '--', '--pack-destination', tarballs], { cwd: root, env: { ...process.env, ...QUICK_RETRIES }, encoding: 'utf8' });
    } catch (e) {
      const out = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
      if (OFFLINE.test(out)) return skipAll(`npx could not fetch pnpm (${out.match(OFFLINE)![0]})`);
      throw new Error(`npm run release:pack failed:\n${out}`);
    }
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'iovabitmap-consumer', private: true, type: 'module' }, null, 2));
    const tgz = readdirSync(tarballs).map((f) => join(tarballs, f));
    try {
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tgz, '@types/node@^20.19.0'], { cwd: project, env: userEnv(), encoding: 'utf8' });
    } catch (e) {
      const out = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
      if (OFFLINE.test(out)) return skipAll(`npm could not reach the registry (${out.match(OFFLINE)![0]})`);
      throw new Error(`npm install failed:\n${out}`);
    }
    examples = PACKAGES.flatMap((p) => tsdocExamples(join(project, 'node_modules', '@iovabitmap', p, 'dist')));
    const sources: Record<string, string> = {
      ...Object.fromEntries(examples.map((x) => [`tsdoc-${x.name}.ts`, x.code])),
      'library.ts': readText(join(root, 'examples', 'library.ts')),
      'internal.ts': INTERNAL_TYPES,
      ...Object.fromEntries(PACKAGES.map((p) => [`${p}-readme.ts`, example(readmes[p], 'ts').code])),
    };
    for (const [f, text] of Object.entries(sources)) writeFileSync(join(project, 'src', f), text);
    for (const [name, config] of Object.entries(TSCONFIGS)) writeFileSync(join(project, `tsconfig.${name}.json`), JSON.stringify(config, null, 2));
    // Both at once; node16 also emits out/*.js for the runs below (tsc emits despite errors).
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await Promise.all(
      Object.keys(TSCONFIGS).map(async (name) => {
        const r = await run(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: project, encoding: 'utf8' }).catch((e: { stdout: string }) => e);
        tscOutput[name] = r.stdout;
      }),
    );
    console.info(`consumer test: packed and installed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 180_000);

  afterAll(() => {
    console.info(`consumer test: ${((performance.now() - t0) / 1000).toFixed(1)} s in all`);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the tarballs', () => {
    it.for(PACKAGES)('@iovabitmap/%s: package.json has versions for workspace:* and exports without the private condition', (pkg, ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      const text = readText(join(project, 'node_modules', '@iovabitmap', pkg, 'package.json'));
      expect(text).not.toContain('workspace:');
      expect(text).not.toMatch(/"(@iovabitmap\/)?source"/);
      const json = JSON.parse(text) as { version: string; exports: unknown; dependencies?: Record<string, string> };
      expect(json.version).toBe(version);
      const entry = (f: string) => ({ types: `./dist/${f}.d.ts`, default: `./dist/${f}.js` });
      expect(json.exports).toEqual({ '.': entry('index'), './internal': entry('internal') });
      for (const [name, range] of Object.entries(json.dependencies ?? {})) if (name.startsWith('@iovabitmap/')) expect(range, name).toBe(version);
    });

    it.for(PACKAGES)('@iovabitmap/%s: LICENSE, README, dist and src (bench: also the C reference and the JSON Schemas); no build info, test or benchmark file; every source map has its sources', (pkg, ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      const pkgDir = join(project, 'node_modules', '@iovabitmap', pkg);
      const files = filesUnder(pkgDir);
      const sizes = readdirSync(tarballs).filter((f) => f.includes(`-${pkg}-`)).map((f) => `${f} ${statSync(join(tarballs, f)).size} bytes`);
      console.info(`${sizes.join()}, ${files.length} files`);
      expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts']));
      const extra = pkg === 'bench' ? ['native/ptewalk.c', 'schemas/'] : [];
      expect(files.filter((f) => !/^(dist|src|bin)\//.test(f)).map((f) => (f.startsWith('schemas/') ? 'schemas/' : f)).filter((f, i, a) => a.indexOf(f) === i).sort()).toEqual(
        ['LICENSE', 'README.md', 'package.json', ...extra].sort(),
      );
      expect(files.filter((f) => /tsbuildinfo|\.test\.|(^|\/)benches\//.test(f))).toEqual([]);
      const missing: string[] = [];
      for (const map of files.filter((f) => f.endsWith('.map'))) {
        const { sources } = JSON.parse(readText(join(pkgDir, map))) as { sources: string[] };
        for (const s of sources) if (!files.includes(relative(pkgDir, join(pkgDir, dirname(map), s)))) missing.push(`${map} -> ${s}`);
      }
      expect(missing).toEqual([]);
    });

    it('were installed as copies inside the project, not links to the workspace', (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      for (const p of PACKAGES) expect(realpathSync(join(project, 'node_modules', '@iovabitmap', p)).startsWith(realpathSync(project))).toBe(true);
    });
  });

  describe('TypeScript', () => {
    it.for(Object.keys(TSCONFIGS))('the examples and the /internal types compile with moduleResolution %s and skipLibCheck false', (name, ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expect(tscOutput[name]).toBe('');
    });
  });

  describe('plain node, on what tsc emitted with node16', () => {
    it("runs the root README's library example (a ReportPool report, workers from the installed package)", async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expectLibraryExampleOutput(await node(['out/library.js']), readText(join(root, 'README.md')));
    }, 60_000);

    it('runs it the same with --conditions=source and --conditions=@iovabitmap/source', async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expectLibraryExampleOutput(await node(['--conditions=source', '--conditions=@iovabitmap/source', 'out/library.js']), readText(join(root, 'README.md')));
    }, 60_000);

    it("runs @iovabitmap/core's README example with the output it shows", async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expect(await node(['out/core-readme.js'])).toBe(example(readmes.core, 'ts').prints);
    }, 60_000);

    it("runs @iovabitmap/workers's README example (a migration: the device's worker and the pool's) with the output it shows", async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      const shown = example(readmes.workers, 'ts').prints;
      const pattern = new RegExp(`^${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+ pages written/, '\\d+ pages written')}$`);
      expect(await node(['out/workers-readme.js'])).toMatch(pattern);
    }, 60_000);

    it('runs every @example of the API reference; each prints what its comments say', async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expect(examples.map((x) => x.name).sort()).toEqual(['DeviceSimulator', 'IoPageTable', 'IovaBitmap', 'ReportPool', 'VfTracker', 'migrate', 'reportDirty', 'runCli']);
      const wrong: string[] = [];
      // Two at a time, as many as this machine has cores.
      for (let i = 0; i < examples.length; i += 2) {
        await Promise.all(
          examples.slice(i, i + 2).map(async (x) => {
            const lines = (await node([`out/tsdoc-${x.name}.js`])).split('\n');
            let at = 0;
            for (const want of x.prints) {
              const found = lines.indexOf(want, at);
              if (found < 0) wrong.push(`${x.name}: "${want}" not printed (printed: ${lines.join(' | ')})`);
              else at = found + 1;
            }
          }),
        );
      }
      expect(wrong).toEqual([]);
    }, 60_000);

    it("runs @iovabitmap/bench's README example (runCli) with the result it describes", async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expect(readmes.bench).toContain('`9728 bits set (as expected)`');
      expect(await node(['out/bench-readme.js'])).toContain('9728 bits set (as expected)');
    }, 60_000);
  });

  describe('the iovabitmap command', () => {
    it('prints the workspace version for --version, also with --conditions=source', async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      expect(await node([bin, '--version'])).toBe(`${version}\n`);
      expect(await node(['--conditions=source', '--conditions=@iovabitmap/source', bin, '--version'])).toBe(`${version}\n`);
    }, 60_000);

    it('runs report and migrate, their workers started from the installed package, vega not installed', async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      const [report, migrate] = await Promise.all([
        node([bin, 'report', '--iova-size', '1GiB', '--sources', 'both', '--threads', '2', '--density', '5%']),
        node([bin, 'migrate', '--iova-size', '1GiB', '--leaf', '2M', '--rounds', '1', '--threads', '1', '--round-interval', '0']),
      ]);
      expect(report).toMatch(/bits set \(as expected\)$/m);
      expect(migrate).toMatch(/^verification: OK: \d+ pages written/m);
      expect(readdirSync(join(project, 'node_modules'))).not.toContain('vega');
    }, 60_000);

    it('stops `bench --charts` before the run when vega is not installed, with the command that installs it', async (ctx) => {
      if (offline !== undefined) ctx.skip(offline);
      const failed = await run(process.execPath, [bin, 'bench', '--charts', join(dir, 'charts')], { cwd: project, env: userEnv(), encoding: 'utf8' }).then(
        () => undefined,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toBe(
        'error: charts need vega and vega-lite, optional peer dependencies of @iovabitmap/bench that are not installed: ' +
          'npm install "vega@^5.33.0" "vega-lite@^5.23.0" (EOPNOTSUPP)\n',
      );
      expect(failed?.stdout).toBe('');
    }, 60_000);
  });
});
