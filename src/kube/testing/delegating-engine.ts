// An AccessEngine that hands every call to another. Tests and benchmarks
// extend it to watch or break one call (usually sync) around the real engine.
import type { GatehouseObject, ObjectRef } from '../../model/index.js';
import type { ObjectIndex } from '../../rules/types.js';
import type { AccessEngine, ApplicationChange, EngineSyncResult, ObjectState, SyncScope } from '../controller/engine-port.js';

export class DelegatingEngine implements AccessEngine {
  constructor(readonly inner: AccessEngine) {}

  sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    return this.inner.sync(desired, scope, at, index);
  }

  readStates(desired: readonly GatehouseObject[], refs: readonly ObjectRef[], at: Date): Promise<ObjectState[]> {
    return this.inner.readStates(desired, refs, at);
  }

  changedSince(since: Date): Promise<ApplicationChange[]> {
    if (this.inner.changedSince === undefined) return Promise.reject(new Error('the wrapped engine does not report application changes'));
    return this.inner.changedSince(since);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
