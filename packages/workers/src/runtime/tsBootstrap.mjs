// Worker bootstrap for running TypeScript sources (tests, the CLI under tsx). Node 20 cannot
// start a worker on a .ts file even with `--import tsx` (ERR_UNKNOWN_FILE_EXTENSION, tsx#354),
// so this plain module registers tsx's ESM loader in the worker and imports the real entry,
// whose URL comes in argv[2]. From a build (dist/*.js) it is not used. See ./workerLaunch.ts.
// Runs on the new worker thread, before its entry.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
