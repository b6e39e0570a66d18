/**
 * globalSetup of the fast project: builds the three packages once (`tsc -b`, about 0.3 s when
 * dist/ is current) before any test file starts. Several files use dist/ (build, packaging,
 * consumer); two builds of a stale tree running at once would write the same files together, and
 * a test could read one half written.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export default function buildOnce(): void {
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/core', 'packages/workers', 'packages/bench'], { cwd: root, stdio: 'inherit' });
}
