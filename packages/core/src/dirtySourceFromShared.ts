/**
 * Rebuilds a dirty source from its shared descriptor, whatever its kind (in a worker, typically).
 */
import type { DirtySource, DirtySourceShared } from './DirtySource.js';
import { IovaBitmapError } from './IovaBitmapError.js';
import { IoPageTable, type SharedIoPageTable } from './pagetable/IoPageTable.js';
import { VfTracker, type SharedVfTracker } from './tracker/VfTracker.js';

/**
 * A view of the source described by `d` (from `source.share()`), over the same shared memory.
 * @throws IovaBitmapError `EINVAL` for something that is not a descriptor (and what the source's
 *   own fromShared refuses), `EOPNOTSUPP` for an unknown kind.
 */
export function dirtySourceFromShared(d: DirtySourceShared): DirtySource {
  if (typeof d !== 'object' || d === null) {
    throw IovaBitmapError.bad('EINVAL', 'dirtySourceFromShared', 'descriptor', d, "must be a source's share() output");
  }
  switch (d.kind) {
    case 'IoPageTable':
      return IoPageTable.fromShared(d as SharedIoPageTable);
    case 'VfTracker':
      return VfTracker.fromShared(d as SharedVfTracker);
    default:
      throw IovaBitmapError.bad('EOPNOTSUPP', 'dirtySourceFromShared', 'kind', d.kind, 'is not a known dirty source');
  }
}
