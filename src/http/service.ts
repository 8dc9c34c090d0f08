// The decision service: gather (facts from the cache), decide (pure policy),
// record (support decisions to the audit log before the answer leaves, allowed
// member decisions to the usage counts). Shared by the HTTP API and
// `gatehouse check`.
import { normalizeEmail } from '../reconcile/records.js';
import { appendAudit, type AuditObject } from '../store/audit.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../util/clock.js';
import { decide, type Decision, type DecisionReason, type DecisionRequest } from './decide.js';
import type { FactsCache } from './facts.js';
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
  onDecision?: (decision: Decision, input: CheckInput) => void;
}

export class DecisionService {
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
    const request: DecisionRequest = {
      subject: normalizeEmail(input.subject),
      subjectType: input.subjectType ?? 'member',
      permission: input.permission,
      ip: input.ip,
      loginMethod: input.loginMethod,
      mfa: input.mfa,
      idleSeconds: input.idleSeconds,
      account: input.account === undefined ? undefined : normalizeEmail(input.account),
    };
    // The clock is read after the facts: the answer is about the instant it is given.
    const now = this.options.clock.now().getTime();
    const member = request.subjectType === 'member' ? snapshot?.members.get(request.subject) : undefined;
    const decision = decide(snapshot?.facts, member, snapshot?.grants ?? [], request, now);
    if (request.subjectType === 'support' && snapshot !== undefined) {
      await this.#auditSupport(input.workspace, request, decision, now, caller, decision.grant !== undefined ? snapshot.grantObjects.get(decision.grant) : undefined);
    } else if (decision.decision === 'allow') {
      this.options.usage?.record(input.workspace, request.subject, request.permission, now);
    }
    this.options.onDecision?.(decision, input);
    return {
      decision: decision.decision,
      reason: decision.reason,
      validUntil: new Date(decision.validUntil).toISOString(),
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
