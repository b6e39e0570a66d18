#!/usr/bin/env node
// Launcher of the `iovabitmap` command: runs the built CLI (npm run build first).
// The V8 flag keeps hot loops from deoptimising on thin type feedback
// (docs/design/performance.md §7); it is set before the CLI's modules are compiled.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-lazy-feedback-allocation');
await import('../dist/cli/main.js');
