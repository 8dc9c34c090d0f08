// A plan for people (object by object, what changes and why) and for tools
// (a stable JSON shape). Pure: the CLI prints what these return.
import { canonicalJson } from './canonical-json.js';
import { refKey } from './records.js';
import type { ActionOp, MassRemoval, Plan, PlanAction, PlanSummary } from './types.js';

const SYMBOL: Record<ActionOp, string> = {
  create: '+',
  update: '~',
  delete: '-',
  forget: '-',
  'resend-invitation': '~',
  'issue-invitation': '~',
  'expire-invitation': '~',
  expire: '~',
  activate: '~',
  revoke: '~',
};

const TARGET_WORDS: Record<PlanAction['target'], string> = {
  catalog: 'permission catalog',
  workspace: 'workspace',
  role: 'role',
  member: 'member',
  supportGrant: 'support grant',
};

function show(value: unknown): string {
  return value === null || value === undefined ? '(none)' : typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value);
}

function actionLine(action: PlanAction): string {
  const drift = action.drift ? ' [drift]' : '';
  return `  ${SYMBOL[action.op]} ${action.op} ${TARGET_WORDS[action.target]} ${action.key}${drift}: ${action.reason}`;
}

export function formatSummary(summary: PlanSummary, applied: boolean): string {
  return applied
    ? `Applied: ${summary.add} added, ${summary.change} changed, ${summary.remove} removed.`
    : `Plan: ${summary.add} to add, ${summary.change} to change, ${summary.remove} to remove.`;
}

export function formatMassRemoval(m: MassRemoval): string {
  return `removing ${m.removing} of the ${m.total} members of workspace ${m.workspaceId} at once is more than ${Math.round(m.maxShare * 100)}%; apply refuses it without --allow-mass-removal`;
}

/** The plan object by object, each action with its reason and field changes, then the summary line. */
export function formatPlanText(plan: Plan, options: { applied: boolean; files?: ReadonlyMap<string, string> }): string {
  const lines: string[] = [];
  if (plan.actions.length === 0) {
    lines.push('No changes: the identity store matches the declaration.');
  } else {
    let current: string | undefined;
    for (const action of plan.actions) {
      const key = action.object !== undefined ? refKey(action.object) : 'profile';
      if (key !== current) {
        current = key;
        if (action.object === undefined) {
          lines.push('Product profile');
        } else {
          const file = options.files?.get(key) ?? action.source?.file;
          lines.push(`${action.object.kind} ${action.object.namespace}/${action.object.name}${file ? ` (${file})` : ''}`);
        }
      }
      lines.push(actionLine(action));
      if (action.op !== 'create' && action.op !== 'delete' && action.op !== 'forget') {
        for (const change of action.changes) lines.push(`      ${change.field}: ${show(change.from)} -> ${show(change.to)}`);
      }
    }
  }
  for (const m of plan.massRemovals) lines.push(`Warning: ${formatMassRemoval(m)}`);
  for (const ended of endedBeforeWritten(plan)) lines.push(`Not written: ${ended}`);
  if (plan.nextChangeAt !== undefined) lines.push(`Next change by itself (an expiry or a start): ${plan.nextChangeAt}`);
  lines.push(formatSummary(plan.summary, options.applied));
  return lines.join('\n') + '\n';
}

/**
 * New objects left out because their access had ended before they were ever
 * applied (a year typed wrong, usually): said plainly, with the instant.
 */
export function endedBeforeWritten(plan: Plan): string[] {
  return plan.outcomes
    .filter((o) => o.status === 'ended')
    .map((o) => {
      const record = o.record as { expiresAt?: string; endsAt?: string; revokedAt?: string } | undefined;
      const end = record?.expiresAt ?? record?.endsAt;
      const what = o.ref.kind === 'SupportGrant' ? 'its support access' : 'its access';
      const why = record?.revokedAt !== undefined && o.ref.kind === 'SupportGrant' ? `${what} is revoked` : `${what} ended at ${end ?? '(unknown)'}, before ${plan.at}`;
      return `${o.ref.kind} ${o.ref.namespace}/${o.ref.name}: ${why}, so it is not added to the identity store; check the date (a mistyped year?) or remove it`;
    });
}

/** The stable JSON shape of `gatehouse plan --output json` and `apply --output json`. */
export function planJson(plan: Plan, applied: boolean): Record<string, unknown> {
  return {
    at: plan.at,
    applied,
    summary: plan.summary,
    actions: plan.actions.map((a) => ({
      target: a.target,
      op: a.op,
      object: a.object ?? null,
      file: a.source?.file ?? null,
      workspaceId: a.workspaceId ?? null,
      key: a.key,
      reason: a.reason,
      drift: a.drift,
      changes: a.changes,
    })),
    massRemovals: plan.massRemovals,
    notWritten: endedBeforeWritten(plan),
    nextChangeAt: plan.nextChangeAt ?? null,
  };
}
