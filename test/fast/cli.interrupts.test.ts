/**
 * Ctrl-C and SIGTERM (packages/bench/src/cli/interrupts.ts), with the CLI as a child process:
 * - `bench` on a pseudo-terminal (util-linux `script`), so that the progress bar is drawn and the
 *   cursor hidden; Ctrl-C is typed into the terminal (byte 0x03), as a user does. Exit 130, the
 *   show-cursor sequence, the partial JSON (`complete: false`, the cells measured so far).
 * - a second Ctrl-C while the first is being handled exits at once, still restoring the cursor
 *   (in-process with a fake process: two Ctrl-C typed at once reach Node as one signal).
 * - `bench` and `migrate` get SIGTERM / SIGINT from kill: exit 143 / 130 and the partial document
 *   on stdout. `report` and `migrate` are also aborted in-process through their signal.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchFile } from '@iovabitmap/bench';
import { SHOW_CURSOR, SIGNAL_EXIT_STATUS, runMigrateCommand, runReportCommand, trapInterrupts } from '@iovabitmap/bench/internal';
import { captureIo } from '../helpers/streams.js';
import { schemaErrors } from '../helpers/schemas.js';
import { CLI_ENTRY, SOURCE_NODE_ARGS } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_CLI = [process.execPath, ...SOURCE_NODE_ARGS, CLI_ENTRY];
const tmp = mkdtempSync(join(tmpdir(), 'iovabitmap-interrupts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Two cheap cells (the VF tracker alone, engine and sequential), 1 s each: time to interrupt the second. */
const BENCH = ['bench', '--filter', '/sources\\/.*\\/vf/', '--threads', '1', '--time', '1000', '--min-samples', '3'];

interface Run {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  /** Resolves when `re` matches the output so far (stdout + stderr). */
  waitFor: (re: RegExp) => Promise<void>;
  exit: Promise<number | null>;
}

function start(argv: string[], env: Record<string, string> = {}): Run {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) if (w.re.test(out + err)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  child.stdout.on('data', (d: Buffer) => ((out += d.toString()), check()));
  child.stderr.on('data', (d: Buffer) => ((err += d.toString()), check()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  return { child, out: () => out, err: () => err, exit, waitFor: (re) => new Promise((resolve) => (waiters.push({ re, resolve }), check())) };
}

/** The CLI in a pseudo-terminal: `script` runs it on a pty and passes our stdin to it; -e returns its exit status. */
function startInTerminal(args: string[]): Run {
  const command = [...NODE_CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return start(['script', '-qfec', command, '/dev/null'], { COLUMNS: '200', LINES: '50' });
}

describe('Ctrl-C on a terminal', () => {
  it('bench: aborts, shows the cursor again, writes the cells measured so far (complete: false) and exits 130', async () => {
    const json = join(tmp, 'partial.json');
    const run = startInTerminal([...BENCH, '--json', json]);
    await run.waitFor(/ [1-9]\/\d+ \|/); // the bar after a finished cell
    run.child.stdin.write('\x03');
    expect(await run.exit, run.out()).toBe(130);
    const text = run.out();
    expect(text).toContain('\x1b[?25l'); // the bar hid the cursor...
    expect(text.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(text.lastIndexOf('\x1b[?25l')); // ...and it is shown again
    expect(text).toContain('incomplete: the run was interrupted');
    const raw = JSON.parse(readFileSync(json, 'utf8'));
    expect(schemaErrors(raw)).toEqual([]);
    expect(raw.complete).toBe(false);
    const file = parseBenchFile(JSON.stringify(raw));
    expect(file.results.length).toBeGreaterThan(0);
    expect(file.run.notes.join('\n')).toContain('interrupted');
  }, 45_000);

});

describe('trapInterrupts', () => {
  it('a first signal aborts; a second one (while the command cleans up) restores the terminal and exits at once', () => {
    const listeners = new Map<string, () => void>();
    const writes: string[] = [];
    const exits: number[] = [];
    const target = {
      on: (e: 'SIGINT' | 'SIGTERM', f: () => void) => listeners.set(e, f),
      removeListener: (e: 'SIGINT' | 'SIGTERM') => listeners.delete(e),
      exit: (code: number) => exits.push(code),
      stdout: { isTTY: false, write: (s: string) => writes.push(`out:${s}`) },
      stderr: { isTTY: true, write: (s: string) => writes.push(`err:${s}`) },
    };
    const t = trapInterrupts(target);
    expect([t.signal.aborted, t.exitStatus]).toEqual([false, undefined]);
    listeners.get('SIGTERM')!();
    expect([t.signal.aborted, t.received, t.exitStatus, exits]).toEqual([true, 'SIGTERM', 143, []]);
    listeners.get('SIGINT')!(); // the second: exit now, with the first signal's status, cursor shown on the terminal
    expect(exits).toEqual([143]);
    expect(writes).toEqual([`err:${SHOW_CURSOR}\n`]);
    t.dispose();
    expect(listeners.size).toBe(0);
    expect(SIGNAL_EXIT_STATUS).toEqual({ SIGINT: 130, SIGTERM: 143 });
  });
});

describe('signals from kill', () => {
  it('bench: SIGTERM exits 143 with the partial document on stdout (the human text on stderr)', async () => {
    const run = start([...NODE_CLI, ...BENCH, '--json']);
    await run.waitFor(/\[1\/\d+\]/); // one plain progress line (stderr: not a TTY)
    run.child.kill('SIGTERM');
    expect(await run.exit, run.err()).toBe(143);
    const doc = JSON.parse(run.out());
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.complete).toBe(false);
    expect(doc.results.length).toBeGreaterThan(0);
  }, 45_000);

  it('migrate: SIGINT exits 130 with the rounds done so far, the pool and the device closed', async () => {
    const run = start([...NODE_CLI, 'migrate', '--iova-size', '1G', '--leaf', '2M', '--threads', '1', '--rounds', '254', '--round-interval', '20', '--json']);
    await run.waitFor(/^setup: /m); // the header is printed before the rounds start
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill('SIGINT');
    expect(await run.exit, run.err()).toBe(130); // the process ends: nothing (pool, device) kept it alive
    const doc = JSON.parse(run.out());
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.complete).toBe(false);
    expect(doc.verification).toBeNull();
    expect(doc.stopped).toMatchObject({ reason: 'interrupted', code: 'ECANCELED' });
    expect(doc.rounds.length).toBeGreaterThan(0);
    expect(run.err()).toMatch(/stopped: interrupted in round \d+ \(ECANCELED\)/);
  }, 45_000);
});

describe('abort in-process', () => {
  it('report: an aborted report writes its document with no result and complete: false', async () => {
    const ac = new AbortController();
    ac.abort();
    const json = join(tmp, 'report.json');
    const { io, out } = captureIo({ signal: ac.signal });
    await runReportCommand({ iovaSize: 64n << 20n, leaf: 4096n, density: 0.01, pattern: 'uniform', format: 'vtd-ss', sources: 'both', threads: 1, seed: 1, sequential: false, json }, io);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    expect(schemaErrors(doc)).toEqual([]);
    expect([doc.complete, doc.result]).toEqual([false, null]);
    expect(out()).toContain('note: interrupted: the report was aborted');
  });

  it('migrate: an abort mid-migration keeps the rounds done (MigrateError), and returns', async () => {
    const ac = new AbortController();
    const markdown = join(tmp, 'migrate.md');
    const { io, out } = captureIo({ signal: ac.signal, onWrite: (s) => s.includes('setup: ') && setTimeout(() => ac.abort(), 200) });
    const status = await runMigrateCommand(
      { iovaSize: 1n << 30n, leaf: 2n << 20n, format: 'vtd-ss', sources: 'both', bitmapPageSize: 4096n, rounds: 254, maxRounds: 30, bandwidth: 'max', downtimeLimit: 300, threads: 1, pattern: 'uniform', rate: 64n << 20n, roundInterval: 10, seed: 1, verifyEachRound: false, markdown },
      io,
    );
    expect(status).toBe(0);
    expect(out()).toMatch(/stopped: interrupted in round \d+ \(ECANCELED\)/);
    const md = readFileSync(markdown, 'utf8');
    expect(md).toContain('**Incomplete:**');
    expect(md).toMatch(/\| 0 \| \d+ \|/); // round 0 in the Markdown table
  }, 30_000);
});
