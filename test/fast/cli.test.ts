/**
 * The `iovabitmap` command line, run as a child process from source exactly as documented:
 *   node --no-lazy-feedback-allocation --import tsx --conditions=@iovabitmap/source packages/bench/src/cli/main.ts ...
 * (--help, a bad option, a bad combination, a tiny report: four processes at once), then the
 * option handling in-process through buildProgram() with commander's exits turned into errors.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IovaBitmapError } from '@iovabitmap/core';
import { buildProgram, devicePageRate, layoutMappings, runBenchCommand, runMigrateCommand } from '@iovabitmap/bench/internal';
import { cli } from '../helpers/cli.js';
import { rejectionOf } from '../helpers/rejection.js';
import { captureIo } from '../helpers/streams.js';
import { schemaErrors } from '../helpers/schemas.js';
import { MAX_POOL_THREADS } from '@iovabitmap/workers';

describe('the command line as a child process', () => {
  it('--help lists the commands; a bad option exits non-zero naming the option and value; a tiny report runs', async () => {
    const [help, bad, combo, report] = await Promise.all([
      cli('--help'),
      cli('report', '--iova-size', '12XB'),
      cli('report', '--iova-size', '1M', '--leaf', '2M'),
      cli('report', '--iova-size', '64M', '--leaf', '4K', '--density', '2%', '--sources', 'both', '--threads', '1', '--seed', '5', '--json'),
    ]);
    expect(help.code).toBe(0);
    for (const c of ['report', 'migrate', 'bench']) expect(help.stdout).toContain(c);

    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option '--iova-size <size>' argument '12XB' is invalid");
    expect(bad.stderr).toContain('unknown unit "XB"');
    expect(bad.stdout).toBe('');

    expect(combo.code).toBe(1);
    expect(combo.stderr).toBe('error: iovabitmap: --iova-size must be a non-zero multiple of the leaf size 2 MiB, got "1M" (EINVAL)\n'); // as typed

    expect(report.code, report.stderr).toBe(0);
    const doc = JSON.parse(report.stdout); // stdout holds the document alone; the human text went to stderr
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.impl).toBe('engine');
    expect(doc.threads).toBe(1);
    expect(doc.workload.iovaBytes).toBe(String(64 * 2 ** 20));
    expect(doc.workload.entries).toEqual([
      { name: 'iommu', kind: 'iommu', entries: 16384 },
      { name: 'vf', kind: 'vf', entries: 16384 },
    ]);
    expect(doc.result.bitsSet).toBe(doc.workload.bitsExpected);
    expect(doc.workload.bitsExpected).toBeGreaterThan(16384 * 0.01);
    expect(doc.result.sources.map((s: { name: string }) => s.name)).toEqual(['iommu', 'vf']);
    expect(doc.result.nsPerEntry).toBeNull(); // no ns/PTE over a mix of PTEs and tracker pages
    for (const s of doc.result.sources) expect(s.nsPerEntry).toBeCloseTo((s.busyMs * 1e6) / 16384, 9);
    expect(doc.result.workers).toHaveLength(1);
    expect(report.stderr).toMatch(/^workload: 64 MiB of IOVA .*: 16384 IOMMU PTEs \+ 16384 tracker pages, /);
    expect(report.stderr).toMatch(/\n {2}source iommu: 16384 IOMMU PTEs, .*: [\d.]+ ns per PTE of worker time\n/);
    expect(report.stderr).toMatch(/\n {2}source vf: 16384 tracker pages, .*: [\d.]+ ns per tracker page of worker time\n/);
  }, 60_000);
});

describe('sizes the machine cannot hold, as a child process', () => {
  it('are refused before anything is built: exit 1 within seconds, one line naming what is needed and what the machine has', async () => {
    const cases = [
      ['report', '--iova-size', '64TiB', '--leaf', '4K'],
      ['migrate', '--iova-size', '128TiB', '--leaf', '4K', '--rounds', '1'],
    ];
    const runs = await Promise.all(
      cases.map(async (args) => {
        const t0 = performance.now();
        const r = await cli(...args);
        return { args, r, ms: performance.now() - t0 };
      }),
    );
    for (const { args, r, ms } of runs) {
      expect(r.code, args.join(' ')).toBe(1);
      // Starting node with tsx is ~1 s of this on an idle machine; the bound leaves room for a busy
      // CI host. The bug it guards against built tables for minutes until the OOM killer came.
      expect(ms, args.join(' ')).toBeLessThan(5000);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^error: iovabitmap ${args[0]}: needs about [\\d.]+ [TG]iB \\(page table [\\d.]+ [TG]iB, .*\\), more than 75% of the [\\d.]+ [GMT]iB free of [\\d.]+ [GMT]iB on this machine; .* \\(ENOMEM\\)$`));
    }
  }, 20_000);
});

/**
 * Parses (and runs) in-process with commander's exits turned into exceptions; returns what
 * commander printed (`out`, `err`) and what the command wrote (`stdout`, `stderr`).
 */
async function parse(...args: string[]): Promise<{ error: unknown; out: string; err: string; stdout: string; stderr: string }> {
  let out = '';
  let err = '';
  const cap = captureIo();
  const program = buildProgram({ exitOverride: true, output: { writeOut: (s) => (out += s), writeErr: (s) => (err += s) }, io: cap.io });
  try {
    await program.parseAsync(['node', 'iovabitmap', ...args]);
    return { error: undefined, out, err, stdout: cap.out(), stderr: cap.err() };
  } catch (error) {
    return { error, out, err, stdout: cap.out(), stderr: cap.err() };
  }
}

describe('report: words and numbers that do not mislead', () => {
  it('a leaf the format lacks is a usage error naming the leaves it has; values are quoted as typed', async () => {
    const cases: [string[], string][] = [
      [['report', '--leaf', '8K', '--iova-size', '64M'], 'iovabitmap: --leaf must be a leaf size of the vtd-ss format: 4 KiB, 2 MiB or 1 GiB, got "8K"'],
      [['report', '--leaf', '3K', '--sources', 'vf'], 'iovabitmap: --leaf must be a power of two of at least 4 KiB, got "3K"'],
      [['report', '--leaf', '2M', '--iova-size', '3M'], 'iovabitmap: --iova-size must be a non-zero multiple of the leaf size 2 MiB, got "3M"'],
      [['migrate', '--iova-size', '1G', '--bitmap-page-size', '3K'], 'iovabitmap: --bitmap-page-size must be a power of two of at least 4 KiB that divides --iova-size, got "3K"'],
    ];
    for (const [args, message] of cases) {
      const r = await parse(...args);
      expect(IovaBitmapError.hasCode(r.error, 'EINVAL'), args.join(' ')).toBe(true);
      expect((r.error as Error).message).toBe(message);
    }
    const amd = await parse('report', '--leaf', '3K', '--format', 'amd-v1');
    expect((amd.error as Error).message).toContain('every power of two from 4 KiB to 1 GiB');
  });

  it("commander's messages read as sentences after its prefix", async () => {
    const cases: [string[], string][] = [
      [['report', '--iova-size', '64GB'], `error: option '--iova-size <size>' argument '64GB' is invalid. It uses the ambiguous SI unit "GB"; write GiB or G (binary multiples).`],
      [['report', '--density', '1'], `error: option '--density <rate>' argument '1' is invalid. It is ambiguous; write 100% or 1%.`],
      [['report', '--density', '50'], `error: option '--density <rate>' argument '50' is invalid. It is a bare number above 1; write 50% or the fraction 0.5.`],
      [['bench', '--threads', '1,x'], `error: option '--threads <list>' argument '1,x' is invalid. It has a bad element "x", which must be a whole number.`],
    ];
    for (const [args, line] of cases) expect((await parse(...args)).err.split('\n')[0], args.join(' ')).toBe(line);
  });

  it('a density that places no dirty unit gives a note and no rate; counts take their plural', async () => {
    const r = await parse('report', '--iova-size', '64G', '--leaf', '1G', '--density', '0.5%', '--threads', '1', '--json');
    expect(r.error).toBeUndefined();
    const doc = JSON.parse(r.stdout);
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.workload.dirtyUnits).toBe(0);
    expect([doc.result.gibPerSec, doc.result.nsPerEntry, doc.result.sources[0].nsPerEntry]).toEqual([null, null, null]);
    expect(r.stderr).toContain('note: 0.5% of 64 units placed no dirty unit: the report has nothing to find, so no rate is given');
    expect(r.stderr).toMatch(/report: engine ×1, 1 chunk: walk [\d.]+ ms, call [\d.]+ ms; 0 bits set/);
    expect(r.stderr).not.toMatch(/GiB\/s|ns per/);
    expect(r.stderr).toContain('worker 0 (thread ');
    expect(r.stderr).toMatch(/: 1 chunk, busy/);
  });

  it('--json and --markdown go to stdout without a file, alone there; both at once is refused', async () => {
    const md = await parse('report', '--iova-size', '64M', '--threads', '1', '--sequential', '--markdown');
    expect(md.stdout.startsWith('# iovabitmap report\n')).toBe(true);
    expect(md.stderr).toMatch(/^workload: /);
    const both = await parse('report', '--json', '--markdown');
    expect(IovaBitmapError.hasCode(both.error, 'EINVAL')).toBe(true);
    expect((both.error as Error).message).toContain('cannot go to stdout as --json does');
  });
});

describe('options (in-process)', () => {
  it('every command documents its options with their defaults', async () => {
    const report = await parse('report', '--help');
    for (const o of ['--iova-size', '--leaf', '--density', '--pattern', '--format', '--sources', '--threads', '--seed', 'default: 64GiB', 'default: 1%']) {
      expect(report.out).toContain(o);
    }
    const migrate = await parse('migrate', '--help');
    for (const o of ['--rounds', '--max-rounds', '--bandwidth', '--downtime-limit', '--compare-threads', '--no-stream', '--bulk-stage', '--bitmap-page-size', '--rate', '--threads', 'default: 1MiB/s', 'default: 1.25GB/s', 'default: 300ms', 'default: 30)']) {
      expect(migrate.out).toContain(o);
    }
    const bench = await parse('bench', '--help');
    for (const o of ['--full', '--json', '--markdown', '--charts', '--threads', '--filter']) expect(bench.out).toContain(o);
  });

  it('a bad value is refused before anything runs, naming the option and the value', async () => {
    const cases: [string[], string, string][] = [
      [['report', '--density', '150%'], '--density', '150%'],
      [['report', '--leaf', '1TB'], '--leaf', '1TB'],
      [['report', '--pattern', 'zigzag'], '--pattern', 'zigzag'],
      [['report', '--threads', '0'], '--threads', '0'],
      [['report', '--format', 'x86'], '--format', 'x86'],
      [['bench', '--threads', '1,x'], '--threads', '1,x'],
      [['migrate', '--rate', 'fast'], '--rate', 'fast'],
      [['report', '--bogus'], '--bogus', '--bogus'],
    ];
    for (const [args, option, value] of cases) {
      const r = await parse(...args);
      const e = r.error as { code?: string; exitCode?: number };
      expect(e?.code, args.join(' ')).toMatch(/^commander\./); // commander's own usage error (exit overridden)
      expect(e.exitCode, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toContain(option);
      expect(r.err, args.join(' ')).toContain(value);
    }
  });

  it('refuses more threads than MAX_POOL_THREADS in every --threads, and says in --help what they cost', async () => {
    const over = String(MAX_POOL_THREADS + 1);
    for (const args of [['report', '--threads', over], ['migrate', '--threads', over], ['bench', '--threads', `1,${over}`]]) {
      const r = await parse(...args);
      expect((r.error as { exitCode?: number })?.exitCode, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toContain(`'${args[2]}' is invalid`);
      expect(r.err, args.join(' ')).toContain(`[1, ${MAX_POOL_THREADS}]`);
    }
    for (const command of ['report', 'migrate', 'bench']) {
      const help = (await parse(command, '--help')).out.replace(/\s+/g, ' ');
      expect(help, command).toContain(`at most ${MAX_POOL_THREADS} (4 × cores); each worker costs ~30 MiB and ~0.3 s to start from source, and threads above the core count time-share the cores`);
    }
  });

  it('a combination found after parsing is an EINVAL naming the option', async () => {
    const r = await parse('bench', '--filter', 'no such cell');
    expect(IovaBitmapError.hasCode(r.error, 'EINVAL')).toBe(true);
    expect(String((r.error as Error).message)).toContain('--filter');
    expect(String((r.error as Error).message)).toContain('"no such cell"');
  });
});

describe('iovabitmap bench --list', () => {
  it('lists the quick matrix cells without measuring', async () => {
    const { io, out } = captureIo();
    await runBenchCommand({ full: false, list: true, seed: 1, filter: 'format/', threads: [1, 2] }, io);
    const lines = out().trim().split('\n');
    expect(lines).toContain('format/64GiB@4KiB/1%/uniform/iommu/amd-v1 sequential');
    expect(lines).toContain('format/64GiB@4KiB/1%/uniform/iommu/smmu-v3 engine×2');
    expect(lines.every((l) => l.startsWith('format/'))).toBe(true);
  });
});

describe('iovabitmap migrate', () => {
  it('runs pre-copy rounds with the simulated device, then the final round, and verifies nothing was lost', async () => {
    const migrateJson = join(mkdtempSync(join(tmpdir(), 'iovabitmap-cli-')), 'migrate.json');
    const { io, out } = captureIo();
    const status = await runMigrateCommand(
      {
        iovaSize: 1n << 30n,
        leaf: 2n << 20n,
        format: 'smmu-v3',
        sources: 'both',
        bitmapPageSize: 4096n,
        rounds: 2,
        maxRounds: 30,
        bandwidth: 'max',
        downtimeLimit: 300,
        threads: 1,
        pattern: 'uniform',
        rate: 64n << 20n,
        roundInterval: 20,
        seed: 3,
        verifyEachRound: true,
        json: migrateJson,
      },
      io,
    );
    const text = out();
    const doc = JSON.parse(readFileSync(migrateJson, 'utf8'));
    expect(schemaErrors(doc)).toEqual([]);
    expect([doc.complete, doc.stopped, doc.verification.ok, doc.rounds.length]).toEqual([true, null, true, 3]);
    expect(text).toContain(`wrote ${migrateJson}`);
    expect(status, text).toBe(0);
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^migrate: 1 GiB of IOVA, 2 MiB leaves, sources iommu \(smmu-v3 page table\) \+ vf \(VF tracker, 4 KiB pages\)/);
    const rows = lines.filter((l) => /^│ \d/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[2]).toMatch(/^│ 2 \(final, device stopped\)/);
    expect(lines.at(-2)).toMatch(/^verification: OK: \d+ pages written, \d+ reported, 0 missing, 0 unexpected/);
    expect(lines.at(-1)).toBe(`wrote ${migrateJson}`);
  }, 60_000);

  it('with --bulk-stage, round 0 sends the whole range and the document says so', async () => {
    const migrateJson = join(mkdtempSync(join(tmpdir(), 'iovabitmap-cli-')), 'migrate.json');
    const { io, out } = captureIo();
    const base = { iovaSize: 1n << 30n, leaf: 2n << 20n, format: 'vtd-ss', sources: 'both', bitmapPageSize: 4096n, threads: 1, pattern: 'uniform', seed: 3, verifyEachRound: false, maxRounds: 30, downtimeLimit: 300, roundInterval: 0 } as const;
    const status = await runMigrateCommand({ ...base, rounds: 2, bandwidth: 1_250_000_000n, rate: 1n << 20n, bulkStage: true, json: migrateJson }, io);
    const text = out();
    expect(status, text).toBe(0);
    const doc = JSON.parse(readFileSync(migrateJson, 'utf8'));
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.setup.bulkStage).toBe(true);
    expect(BigInt(doc.rounds[0].bytesSent)).toBe(1n << 30n); // 1 GiB at 1.25 GB/s: 859 ms of round 0
    expect(doc.rounds[0].transferMs).toBeCloseTo(858.99, 1);
    expect(doc.rounds.slice(1).every((r: { bytesSent: string; bytesDirtied: string }) => r.bytesSent === r.bytesDirtied)).toBe(true);
    expect(text).toContain('round 0 sends the whole range (bulk stage)');
  }, 60_000);

  it('drives the device at a byte rate below a page per second as slowly as asked, never at full speed', async () => {
    const { io, out } = captureIo();
    const base = { iovaSize: 64n << 20n, leaf: 2n << 20n, format: 'vtd-ss', sources: 'iommu', bitmapPageSize: 4096n, threads: 1, pattern: 'uniform', seed: 3, verifyEachRound: false, maxRounds: 30, bandwidth: 'max', downtimeLimit: 300 } as const;
    const status = await runMigrateCommand({ ...base, rounds: 2, roundInterval: 100, rate: 1n }, io);
    const text = out();
    expect(status, text).toBe(0);
    expect(text).toContain('device uniform at 1 B/s');
    const written = text
      .split('\n')
      .filter((l) => /^│ \d/.test(l))
      .map((l) => Number(l.split('│')[2]!.trim()));
    expect(written).toHaveLength(3);
    expect(written.at(-1)).toBeLessThanOrEqual(1); // 1 B/s for ~0.1 s: no page yet (the old floor wrote ~10^5)
    expect(devicePageRate(1n)).toBe(1 / 4096);
    expect(devicePageRate(6n << 30n)).toBe(1.5 * 2 ** 20);
    expect(devicePageRate('max')).toBe('max');
    expect((await rejectionOf(runMigrateCommand({ ...base, rounds: 0, roundInterval: 0, rate: 0n }, io))).param).toBe('--rate');
    const rate = buildProgram().commands.find((c) => c.name() === 'migrate')!.options.find((o) => o.long === '--rate')!;
    expect(rate.parseArg!('max', undefined)).toBe('max');
    expect(rate.parseArg!('0', undefined)).toBe('max');
    expect(rate.parseArg!('1', undefined)).toBe(1n);
    expect(rate.parseArg!('2K/s', undefined)).toBe(2048n);
    expect(rate.parseArg!('10Gbit/s', undefined)).toBe(1_250_000_000n);
    expect(rate.parseArg!('1.25GB/s', undefined)).toBe(1_250_000_000n);
    expect((await parse('migrate', '--help')).out.replace(/\s+/g, ' ')).toContain('"max" or 0 for as fast as possible');
  }, 60_000);

  it('lays out "mixed" leaves as 1/16 at 4 KiB and the rest at 2 MiB in blocks of up to 16 GiB', () => {
    const G = 1n << 30n;
    const M = 1n << 20n;
    expect(layoutMappings(4n * G, 40n * G, 'mixed')).toEqual([
      { iova: 4n * G, length: G, leaf: 4096n },
      { iova: 5n * G, length: 15n * G, leaf: 2n * M },
      { iova: 20n * G, length: G, leaf: 4096n },
      { iova: 21n * G, length: 15n * G, leaf: 2n * M },
      { iova: 36n * G, length: G, leaf: 4096n },
      { iova: 37n * G, length: 7n * G, leaf: 2n * M },
    ]);
    expect(layoutMappings(0n, 64n * M, 'mixed')).toEqual([
      { iova: 0n, length: 4n * M, leaf: 4096n },
      { iova: 4n * M, length: 60n * M, leaf: 2n * M },
    ]);
    expect(layoutMappings(0n, G, 2n * M)).toEqual([{ iova: 0n, length: G, leaf: 2n * M }]);
    expect(() => layoutMappings(0n, 48n * M, 'mixed')).toThrow(/--iova-size/);
  });

  it('over a modelled link: --compare-threads 1,2 converges (exit 0, one summary per thread count); a guest dirtier than the link exits 3', async () => {
    const base = { iovaSize: 1n << 30n, leaf: 2n << 20n, format: 'vtd-ss', sources: 'both', bitmapPageSize: 4096n, maxRounds: 30, downtimeLimit: 300, threads: 1, pattern: 'uniform', roundInterval: 0, seed: 5, verifyEachRound: false } as const;
    const dir = mkdtempSync(join(tmpdir(), 'iovabitmap-cli-'));
    const slow = captureIo();
    const status = await runMigrateCommand({ ...base, bandwidth: 1_250_000_000n, rate: 64n << 10n, compareThreads: [1, 2], json: join(dir, 'slow.json') }, slow.io);
    const doc = JSON.parse(readFileSync(join(dir, 'slow.json'), 'utf8'));
    expect(schemaErrors(doc)).toEqual([]);
    expect(status, slow.out()).toBe(0);
    expect(doc.compareThreads.map((r: { threads: number; converged: boolean; verified: boolean }) => [r.threads, r.converged, r.verified])).toEqual([[1, true, true], [2, true, true]]);
    expect(doc.convergence).toMatchObject({ converged: true, reason: 'downtime-limit' });
    expect(doc.downtime.actual.totalMs).toBeCloseTo(doc.downtime.actual.harvestMs + doc.downtime.actual.transferMs, 6);
    expect(slow.out()).toMatch(/^ {2}2 threads: downtime .* harvest share \d+%; converged/m);
    // 16384 writes/s over 256 MiB, each dirtying a 2 MiB leaf (128 leaves): all of it is dirty every
    // round (5.4 s at 50 MB/s). The device runs in real time, so the margin must be wide: the limit
    // (300 ms) fits at most 7 leaves at this rate, so even a round that caught a twentieth of the
    // region could not converge (at 0.5 GB/s and 4096 writes/s a slow round once did). The 20 ms
    // between rounds let the device write before each harvest: the rounds of so small a guest are
    // harvested on the caller's thread in well under a millisecond, and two rounds that both came
    // before the device's first write would rightly predict no downtime at all and converge.
    const fast = captureIo();
    const notConverging = await runMigrateCommand({ ...base, iovaSize: 256n << 20n, bandwidth: 50_000_000n, rate: 64n << 20n, roundInterval: 20, json: join(dir, 'fast.json') }, fast.io);
    const fastDoc = JSON.parse(readFileSync(join(dir, 'fast.json'), 'utf8'));
    expect(schemaErrors(fastDoc)).toEqual([]);
    expect([notConverging, fastDoc.convergence, fastDoc.verification.ok]).toEqual([3, { converged: false, reason: 'not-converging', precopyRounds: 3 }, true]);
    expect(fast.out()).toContain('convergence: NOT converged after 3 pre-copy rounds: the dirty set stopped shrinking');
  }, 60_000);

  it('defaults to the main job: a 1 TiB guest with mixed leaves and both sources', async () => {
    const parsed = await parse('migrate', '--help');
    for (const d of ['default: 1TiB', 'default: mixed', 'default: "both"']) expect(parsed.out).toContain(d);
  });

  it('refuses a bitmap page size that does not divide the space, naming the option', async () => {
    const parsed = await parse('migrate', '--iova-size', '1G', '--bitmap-page-size', '3K');
    expect(IovaBitmapError.hasCode(parsed.error, 'EINVAL')).toBe(true);
    expect(String((parsed.error as Error).message)).toContain('--bitmap-page-size');
  });
});
