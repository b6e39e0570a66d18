/**
 * JIT stability of the walk: after the workers' warm-up, walking a realistic table (PTE low words
 * with bit 31 set, as physical addresses at or above 2 GiB have) must not deoptimise the walk's
 * hot functions. Runs ./workers/walkAfterWarmUp.ts in a child Node with --trace-deopt (and the
 * flags the project runs with) and reads every deoptimisation printed after the warm-up.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SOURCE_NODE_ARGS } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./workers/walkAfterWarmUp.ts', import.meta.url));

/** The walk's per-entry and per-block functions (packages/core/src/pagetable/, packages/core/src/bitmap/bitKernels.ts). */
const HOT = [
  'scanBitLeaves',
  'scanSmmuLeaves',
  'scanBitTable',
  '#slotFor',
  '#tablePass',
  'orLowWords32',
  'allSmmuDirty32',
  'nextBusyBlock',
  'busyMask',
  'clearMasked',
  'leafMask',
  'leafRun',
  '#wholeLeaf',
  'fillWords',
  '#maskOtherwise',
  'orWholeWord',
  'orWholeWordAt',
  'leafPairs',
  '#orPairs',
  '#orPairsWasm',
  '#enterBlocks',
  '#leafTable',
  '#upperTable',
  '#table',
  '#entries',
  '#leaf',
  '#group',
  '#tailGroup',
  'classify',
  'replicas',
  'isDirty',
  'clearDirty',
  'tableId',
];

describe('the walk after warm-up', () => {
  it('is not deoptimised by a table with bit 31 set in its PTE words', () => {
    const out = execFileSync(process.execPath, [...SOURCE_NODE_ARGS, '--trace-deopt', SCRIPT], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    const start = out.indexOf('--- warm ---');
    const end = out.indexOf('--- done ---');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    // "[bailout (kind: ..., reason: ...): begin. deoptimizing 0x.. <JSFunction name (sfi = ..)>" and
    // "[marking dependent code ... (0x.. <SharedFunctionInfo name>) ... for deoptimization".
    const deopts = out
      .slice(start, end)
      .split('\n')
      .map((l) => /<JSFunction (\S+) \(sfi|<SharedFunctionInfo (\S+?)>\) .*for deoptimization/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ fn: m[1] ?? m[2]!, line: m.input.slice(0, 160) }))
      .filter((d) => HOT.includes(d.fn));
    expect(deopts).toEqual([]);
  }, 60_000);
});
