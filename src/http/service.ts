// The decision service: gather (facts from the cache), decide (pure policy),
// record (support decisions to the audit log before the answer leaves, allowed
// member decisions to the usage counts). Shared by the HTTP API and
// `gatehouse check`.
import { normalizeEmail } from '../reconcile/records.js';
import { appendAudit, type AuditObject } from '../store/audit.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../util/clock.js';
import { decide, type Decision, type DecisionReason, type DecisionRequest } from './decide.js';
import type { FactsCache, WorkspaceSnapshot } from './facts.js';
import type { UsageRecorder } from './usage.js';

export interface CheckInput {
  workspace: string;
  subject: string;
  subjectType?: 'member' | 'support';
  permission: string;
  ip?: string;
  loginMethod?: 'local' | 'sso';
  mfa?: boolean;
  idleSeconds?: number;
  account?: string;
}

export interface CheckAnswer {
  decision: 'allow' | 'deny';
  reason: DecisionReason;
  /** RFC 3339: the instant the answer stops holding. */
  validUntil: string;
  /** The support grant the answer was made under. */
  grant?: string;
}

export interface DecisionServiceOptions {
  store: Store;
  facts: FactsCache;
  clock: Clock;
  usage?: UsageRecorder;
  /** Called with every answer (metrics). */
  onDecision?: (decision: Decision, input: Pick<CheckInput, 'permission'>) => void;
}

function toRequest(input: CheckInput): DecisionRequest {
  return {
    subject: normalizeEmail(input.subject),
    subjectType: input.subjectType ?? 'member',
    permission: input.permission,
    ip: input.ip,
    loginMethod: input.loginMethod,
    mfa: input.mfa,
    idleSeconds: input.idleSeconds,
    account: input.account === undefined ? undefined : normalizeEmail(input.account),
  };
}

export class DecisionService {
  #validUntil = { at: Number.NaN, text: '' };

  constructor(private readonly options: DecisionServiceOptions) {}

  get store(): Store {
    return this.options.store;
  }

  get facts(): FactsCache {
    return this.options.facts;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  /**
   * One decision. `caller` names who asked (the API token's name) for the
   * audit log. A support decision that cannot be audited is not answered.
   */
  async check(input: CheckInput, caller: string): Promise<CheckAnswer> {
    const snapshot = await this.options.facts.workspace(input.workspace);
    const request = toRequest(input);
    // The clock is read after the facts: the answer is about the instant it is given.
    const now = this.options.clock.now().getTime();
    if (request.subjectType === 'support') {
      const decision = decide(snapshot?.facts, undefined, snapshot?.grants ?? [], request, now);
      if (snapshot !== undefined) {
        await this.#auditSupport(input.workspace, request, decision, now, caller, decision.grant !== undefined ? snapshot.grantObjects.get(decision.grant) : undefined);
      }
      return this.#answered(decision, input);
    }
    return this.#forMember(input.workspace, request, snapshot, now);
  }

  /**
   * The same answer as `check`, given at once when nothing must be waited
   * for: a member's decision on facts already in memory. A support decision
   * (audited first) or facts still to load give a promise.
   */
  answer(input: CheckInput, caller: string): CheckAnswer | Promise<CheckAnswer> {
    if (input.subjectType === 'support') return this.check(input, caller);
    const snapshot = this.options.facts.peekWorkspace(input.workspace);
    if (snapshot === undefined) return this.check(input, caller);
    return this.#forMember(input.workspace, toRequest(input), snapshot ?? undefined, this.options.clock.now().getTime());
  }

  #forMember(workspaceId: string, request: DecisionRequest, snapshot: WorkspaceSnapshot | undefined, now: number): CheckAnswer {
    const decision = decide(snapshot?.facts, snapshot?.members.get(request.subject), snapshot?.grants ?? [], request, now);
    if (decision.decision === 'allow') this.options.usage?.record(workspaceId, request.subject, request.permission, now);
    return this.#answered(decision, request);
  }

  #answered(decision: Decision, input: Pick<CheckInput, 'permission'>): CheckAnswer {
    this.options.onDecision?.(decision, input);
    // Answers given within the same millisecond mostly share their validUntil: formatted once.
    if (decision.validUntil !== this.#validUntil.at) this.#validUntil = { at: decision.validUntil, text: new Date(decision.validUntil).toISOString() };
    return {
      decision: decision.decision,
      reason: decision.reason,
      validUntil: this.#validUntil.text,
      ...(decision.grant !== undefined ? { grant: decision.grant } : {}),
    };
  }

  async #auditSupport(
    workspaceId: string,
    request: DecisionRequest,
    decision: Decision,
    now: number,
    caller: string,
    object: AuditObject | undefined,
  ): Promise<void> {
    const at = new Date(now).toISOString();
    const under = decision.grant !== undefined ? ` under support grant ${decision.grant}` : ' (no grant applies)';
    await this.options.store.write((trx) =>
      appendAudit(trx, [
        {
          at,
          actor: `support:${request.subject}`,
          action: decision.decision === 'allow' ? 'support.allow' : 'support.deny',
          ...(object !== undefined ? { object } : {}),
          workspaceId,
          after: {
            grant: decision.grant ?? null,
            permission: request.permission,
            account: request.account ?? null,
            decision: decision.decision,
            reason: decision.reason,
          },
          reason: `${decision.decision} ${request.permission} for support agent ${request.subject}${under}: ${decision.reason} (asked by ${caller})`,
        },
      ]),
    );
  }
}
