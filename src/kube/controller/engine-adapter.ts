// The access engine over the identity store: syncToStore and
// readObjectStates from src/reconcile, on a Store from src/store.
import { sql } from 'kysely';
import type { GatehouseObject, ObjectRef, Profile } from '../../model/index.js';
import { readObjectStates, syncToStore } from '../../reconcile/index.js';
import type { ObjectIndex } from '../../rules/types.js';
import type { Store } from '../../store/index.js';
import { errorMessage } from '../../util/errors.js';
import { EngineError, type AccessEngine, type EngineSyncResult, type ObjectState, type SyncScope } from './engine-port.js';

/** Recorded in the audit log as who made the operator's changes. */
export const OPERATOR_ACTOR = 'operator';

export class StoreEngine implements AccessEngine {
  constructor(
    readonly store: Store,
    readonly profile: Profile,
    readonly actor: string = OPERATOR_ACTOR,
  ) {}

  async sync(desired: readonly GatehouseObject[], scope: SyncScope, at: Date, index?: ObjectIndex): Promise<EngineSyncResult> {
    try {
      const result = await syncToStore(this.store, desired, {
        at,
        actor: this.actor,
        scope,
        profile: this.profile,
        ...(index !== undefined ? { index } : {}),
      });
      return {
        applied: result.applied,
        violations: result.violations,
        states: result.states,
        changes: result.written?.actions ?? 0,
        ...(result.nextChangeAt !== undefined ? { nextChangeAt: result.nextChangeAt } : {}),
      };
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async readStates(desired: readonly GatehouseObject[], refs: readonly ObjectRef[], at: Date): Promise<ObjectState[]> {
    try {
      return await readObjectStates(this.store, desired, [...refs], at, this.profile);
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.store.db);
    } catch (err) {
      throw new EngineError(`identity store ${this.store.location} is unreachable: ${errorMessage(err)}`, { cause: err });
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
