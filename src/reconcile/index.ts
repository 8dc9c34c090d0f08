// The engine: a pure planner (declared objects + store rows + instant ->
// ordered actions) and the sync that checks rules, plans and applies it.
export { DEFAULT_MAX_REMOVAL_SHARE, emptyObservedStore, plan, refOfObject, type PlanOptions } from './plan.js';
export {
  MassRemovalError,
  readObjectStates,
  syncToStore,
  type RemovalGuard,
  type SyncOptions,
  type SyncResult,
  type SyncScope,
} from './sync.js';
export { StateReasons, type StateReason } from './reasons.js';
export { objectStateOf, type StoreCounts } from './states.js';
export { grantStateAt, hasEnded, memberStateAt, refKey } from './records.js';
export type * from './records.js';
export type * from './types.js';
