// The planner: declared objects + what the store holds + an instant -> the
// ordered actions that make the store match, each with its reason, and the
// next instant at which something changes by itself. Pure: no I/O, no clock,
// no randomness (ids and invitation tokens are made when a plan is applied).
//
// A chain of small planners, one per kind (planners/*.ts), run in order over
// one shared planning context: catalog, workspaces, roles, members, support
// grants; then removals in reverse (grants, members, roles, workspaces), so
// foreign keys always hold.
import type { GatehouseObject } from '../model/kinds.js';
import { iso } from './desired.js';
import { planCatalog } from './planners/catalog.js';
import { earliest, planContext, type PlanContext, type PlanOptions } from './planners/context.js';
import { planMembers } from './planners/members.js';
import { planRemovals, reportAbsentRefs } from './planners/removals.js';
import { planRoles } from './planners/roles.js';
import { planSupportGrants } from './planners/support-grants.js';
import { planWorkspaces } from './planners/workspaces.js';
import { refKey } from './records.js';
import type { ActionOp, ObservedStore, Plan, PlanAction, PlanSummary } from './types.js';

export { declaredObjects, describeSource, refOfObject, type DeclaredObjects, type PlanOptions } from './planners/context.js';

export const DEFAULT_MAX_REMOVAL_SHARE = 0.25;

/** The planners, in the order they run; each reads what the ones before it decided. */
const PLANNERS: ReadonlyArray<(ctx: PlanContext) => void> = [
  planCatalog,
  planWorkspaces,
  planRoles,
  planMembers,
  planSupportGrants,
  planRemovals,
  reportAbsentRefs,
];

function summarize(actions: readonly PlanAction[]): PlanSummary {
  const byObject = new Map<string, Set<ActionOp>>();
  for (const action of actions) {
    if (action.object === undefined) continue;
    const key = refKey(action.object);
    let ops = byObject.get(key);
    if (ops === undefined) byObject.set(key, (ops = new Set()));
    // A Workspace's default roles count with the Workspace, as changes unless it is created.
    ops.add(action.target === 'role' && action.object.kind === 'Workspace' && action.op === 'create' ? 'update' : action.op);
  }
  const summary: PlanSummary = { add: 0, change: 0, remove: 0 };
  for (const ops of byObject.values()) {
    if (ops.has('create')) summary.add += 1;
    else if (ops.has('delete') || ops.has('forget')) summary.remove += 1;
    else summary.change += 1;
  }
  return summary;
}

/**
 * Plans the changes that make the store hold what is declared, as of `at`.
 * `desired` holds every declared object (out-of-scope ones are context);
 * `observed` is what the store holds (all of it for scope all).
 */
export function plan(desired: readonly GatehouseObject[], observed: ObservedStore, at: Date, options: PlanOptions): Plan {
  const guard =
    options.removalGuard !== undefined
      ? options.removalGuard
      : options.scope.type === 'all'
        ? { maxShare: DEFAULT_MAX_REMOVAL_SHARE }
        : false;
  const ctx = planContext(desired, observed, iso(at), options, guard);
  for (const planner of PLANNERS) planner(ctx);
  const outcomes = [...ctx.outcomes.values()];
  const nextChangeAt = earliest(outcomes.flatMap((o) => (o.nextChangeAt !== undefined ? [o.nextChangeAt] : [])));
  return {
    at: ctx.at,
    actions: ctx.actions,
    outcomes,
    massRemovals: ctx.massRemovals,
    ...(nextChangeAt !== undefined ? { nextChangeAt } : {}),
    summary: summarize(ctx.actions),
  };
}

/** An empty observed store (a store with no rows). */
export function emptyObservedStore(): ObservedStore {
  return {
    complete: true,
    permissions: [],
    workspaces: new Map(),
    roles: new Map(),
    members: new Map(),
    grants: new Map(),
    roleUsage: new Map(),
    memberCounts: new Map(),
  };
}
