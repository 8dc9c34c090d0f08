// The engine's pure half: the planner (declared objects + store rows +
// instant -> ordered actions) and the state it reports per object. The sync
// that reads the store, checks rules, plans and applies is src/sync/.
export { DEFAULT_MAX_REMOVAL_SHARE, emptyObservedStore, plan, refOfObject, type PlanOptions } from './plan.js';
export { StateReasons, type StateReason } from './reasons.js';
export { objectStateOf, type StoreCounts } from './states.js';
export { grantStateAt, hasEnded, memberStateAt, refKey } from './records.js';
export type * from './records.js';
export type * from './types.js';
