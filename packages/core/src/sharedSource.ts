/**
 * Rebuilds a dirty source from its shared descriptor, whatever its kind (in a worker, typically).
 */
import type { DirtySource, DirtySourceShared } from './DirtySource.js';
import { IovaBitmapError } from './errors.js';
import { IoPageTable, type SharedIoPageTable } from './pagetable/IoPageTable.js';
import { VfTracker, type SharedVfTracker } from './tracker/VfTracker.js';

/**
 * A view of the source described by `d` (from `source.share()`), over the same shared memory.
 * @throws IovaBitmapError `EOPNOTSUPP` for an unknown kind.
 */
export function dirtySourceFromShared(d: DirtySourceShared): DirtySource {
  switch (d?.kind) {
    case 'IoPageTable':
      return IoPageTable.fromShared(d as SharedIoPageTable);
    case 'VfTracker':
      return VfTracker.fromShared(d as SharedVfTracker);
    default:
      throw IovaBitmapError.bad('EOPNOTSUPP', 'dirtySourceFromShared', 'kind', d?.kind, 'is not a known dirty source');
  }
}
