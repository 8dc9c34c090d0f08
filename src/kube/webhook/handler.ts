// Answers one admission request: the rules engine (the same rules as
// `gatehouse validate` and the reconciler) plus the escalation check, turned
// into one AdmissionResponse. No HTTP here; server.ts carries it.
import { API_GROUP, API_VERSION, API_VERSION_NAME } from '../../model/common.js';
import { KIND_NAMES, formatRef, isKind, type GatehouseObject, type Kind, type ObjectRef } from '../../model/kinds.js';
import type { Profile } from '../../model/profile.js';
import { checkDeletion, checkObject } from '../../rules/index.js';
import { OverlayIndex, namespaceOf, workspaceNameOf } from '../../rules/object-index.js';
import type { ObjectIndex, RuleContext, Violation } from '../../rules/types.js';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { AdmissionRequest, AdmissionResponse, AdmissionStatus, StatusCause } from './admission.js';
import { changedByPatch, changedByViolation, patchResponse } from './changed-by.js';
import { foreignScrubber } from './disclosure.js';
import {
  ESCALATION_CHECK_FAILED,
  PRIVILEGE_ESCALATION,
  accessChecksFor,
  rbacRuleFor,
  type AccessCheck,
  type Authorizer,
} from './escalation.js';
import { storeFinalizerPatch } from './finalizer.js';

export interface AdmissionDependencies {
  /** The operator's informer cache (or any other view of the cluster's Gatehouse objects). */
  index: ObjectIndex;
  profile: Profile;
  clock: Clock;
  authorizer: Authorizer;
  /**
   * Reads from the API server objects the index does not hold (those absent
   * there too are left out). The index is a watch a moment behind: a Member
   * applied right after its Workspace (one `kubectl apply -f folder/`) must
   * not be refused because the cache has not seen the Workspace yet.
   */
  readMissing?: (refs: readonly ObjectRef[]) => Promise<GatehouseObject[]>;
}

/** What an object refers to that the index lacks, for the violations that say so. */
export function missingReferences(object: GatehouseObject, violations: readonly Violation[], index: ObjectIndex): ObjectRef[] {
  const namespace = namespaceOf(object);
  const spec = (object as { spec?: { role?: unknown; scope?: { memberRef?: { name?: unknown } } } }).spec;
  const refs: ObjectRef[] = [];
  for (const v of violations) {
    if (v.severity !== 'error') continue;
    const workspace = workspaceNameOf(object);
    if (v.ruleId === 'UnknownWorkspace' && workspace !== undefined) refs.push({ kind: 'Workspace', namespace, name: workspace });
    if (v.ruleId === 'RoleNotFound' && typeof spec?.role === 'string') refs.push({ kind: 'Role', namespace, name: spec.role });
    const member = spec?.scope?.memberRef?.name;
    if (v.ruleId === 'ScopeMemberNotFound' && typeof member === 'string') refs.push({ kind: 'Member', namespace, name: member });
  }
  const unique = new Map(refs.map((ref) => [formatRef(ref), ref]));
  return [...unique.values()].filter((ref) => index.get(ref.kind, ref.namespace, ref.name) === undefined);
}

/** Why a request was answered the way it was: for logs and tests, not sent to the API server. */
export type AdmissionDecision =
  | 'Checked'
  | 'MetadataOnlyUpdate'
  | 'StatusSubresource'
  | 'UnexpectedResource'
  | 'MalformedObject'
  | 'RulesFailed';

export interface AdmissionOutcome {
  response: AdmissionResponse;
  decision: AdmissionDecision;
  /** Metric labels: the kind reviewed ("other" for anything unexpected) and the operation. */
  kind: Kind | 'other';
  operation: string;
  /** Every error and warning found, for the log. */
  violations: Violation[];
}

/** Kubernetes recommends warnings under 120 characters and truncates long ones. */
export const MAX_WARNING_LENGTH = 256;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function violationText(violation: Violation, subject: ObjectRef): string {
  const about = formatRef(violation.object) === formatRef(subject) ? '' : ` (${formatRef(violation.object)})`;
  const field = violation.field === '' ? '' : ` ${violation.field}`;
  return `${violation.ruleId}${about}${field}: ${violation.message}`;
}

function allowed(uid: string, warnings: string[]): AdmissionResponse {
  return warnings.length > 0 ? { uid, allowed: true, warnings } : { uid, allowed: true };
}

function denied(uid: string, status: AdmissionStatus, warnings: string[] = []): AdmissionResponse {
  return { uid, allowed: false, status: { status: 'Failure', ...status }, ...(warnings.length > 0 ? { warnings } : {}) };
}

/** Builds the denial that lists every error violation, each with its rule id and field. */
export function denialFor(uid: string, subject: ObjectRef, errors: Violation[], warnings: string[], scrub: (text: string) => string = (t) => t): AdmissionResponse {
  const lines = errors.map((v) => scrub(violationText(v, subject)));
  const message =
    lines.length === 1
      ? `${formatRef(subject)}: ${lines[0]}`
      : `${formatRef(subject)} has ${lines.length} problems:\n${lines.map((line) => `- ${line}`).join('\n')}`;
  // kubectl prints an Invalid status as "field: message" per cause and drops the reason: the rule id goes into the message.
  const causes: StatusCause[] = errors.map((v) => ({
    reason: v.ruleId,
    message: `${v.ruleId}: ${scrub(formatRef(v.object) === formatRef(subject) ? v.message : `${formatRef(v.object)}: ${v.message}`)}`,
    field: v.field,
  }));
  // 422 for the object's own problems; 403 when only RBAC says no; 503 when RBAC could not be asked.
  const ids = new Set(errors.map((v) => v.ruleId));
  const onlyEscalation = [...ids].every((id) => id === PRIVILEGE_ESCALATION || id === ESCALATION_CHECK_FAILED);
  const [code, reason] = !onlyEscalation
    ? [422, 'Invalid']
    : ids.has(ESCALATION_CHECK_FAILED)
      ? [503, 'ServiceUnavailable']
      : [403, 'Forbidden'];
  return denied(
    uid,
    { code, reason, message, details: { name: subject.name, group: API_GROUP, kind: subject.kind, causes } },
    warnings,
  );
}

function describeUser(request: AdmissionRequest): string {
  return request.userInfo.username ? `user "${request.userInfo.username}"` : 'the requester';
}

async function escalationViolations(
  request: AdmissionRequest,
  subject: ObjectRef,
  checks: AccessCheck[],
  authorizer: Authorizer,
): Promise<Violation[]> {
  const answers = await Promise.all(
    checks.map(async (check) => {
      try {
        return { check, answer: await authorizer.review(request.userInfo, check) };
      } catch (err) {
        return { check, error: err };
      }
    }),
  );
  const violations: Violation[] = [];
  for (const { check, answer, error } of answers) {
    const where = `${check.resource}.${API_GROUP} named "${check.name}" in namespace "${check.namespace}"`;
    if (error !== undefined) {
      violations.push({
        ruleId: ESCALATION_CHECK_FAILED,
        severity: 'error',
        object: subject,
        field: check.field,
        message: `cannot tell whether ${describeUser(request)} may ${check.action}: asking the API server for verb "${check.verb}" on ${where} failed (${errorMessage(error)}); try again, and check that the API server is reachable from Gatehouse and that Gatehouse may create subjectaccessreviews`,
      });
    } else if (answer !== undefined && !answer.allowed) {
      violations.push({
        ruleId: PRIVILEGE_ESCALATION,
        severity: 'error',
        object: subject,
        field: check.field,
        message: `${describeUser(request)} may not ${check.action}: RBAC allows no verb "${check.verb}" on ${where}${answer.reason ? ` (${answer.reason})` : ''}; bind a Role or ClusterRole with the rule ${rbacRuleFor(check)} (see docs/webhook.md)`,
      });
    }
  }
  return violations;
}

/** Checks the shape the rules rely on; the API server has applied the CRD schema already. */
function objectProblem(value: unknown, kind: Kind, where: string): string | undefined {
  if (!isRecord(value)) return `${where} is missing`;
  if (value.apiVersion !== API_VERSION) return `${where}.apiVersion is ${JSON.stringify(value.apiVersion ?? null)}, not ${API_VERSION}`;
  if (value.kind !== kind) return `${where}.kind is ${JSON.stringify(value.kind ?? null)}, not ${kind}`;
  if (!isRecord(value.metadata)) return `${where}.metadata is missing`;
  if (!isRecord(value.spec)) return `${where}.spec is missing`;
  return undefined;
}

/**
 * The object with the namespace and name the request is about, in case the
 * body leaves them out. The API server generates a generateName's name before
 * validating admission; a placeholder that is a valid name stands in otherwise.
 */
function withIdentity(value: Record<string, unknown>, request: AdmissionRequest): GatehouseObject {
  const metadata = value.metadata as Record<string, unknown>;
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : request.namespace;
  const generated = typeof metadata.generateName === 'string' ? `${metadata.generateName}generated` : '';
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : (request.name ?? generated);
  if (namespace === metadata.namespace && name === metadata.name) return value as unknown as GatehouseObject;
  return { ...value, metadata: { ...metadata, ...(namespace !== undefined ? { namespace } : {}), name } } as unknown as GatehouseObject;
}

/**
 * Reviews one admission request. Never throws: anything unexpected becomes a
 * denial that says what went wrong, because failing closed is the point.
 */
export async function reviewAdmission(request: AdmissionRequest, deps: AdmissionDependencies): Promise<AdmissionOutcome> {
  const { uid, operation } = request;
  const kindName = request.kind.kind;
  const kind: Kind | 'other' = request.kind.group === API_GROUP && isKind(kindName) ? kindName : 'other';
  const outcome = (decision: AdmissionDecision, response: AdmissionResponse, violations: Violation[] = []): AdmissionOutcome => ({
    response,
    decision,
    kind,
    operation,
    violations,
  });
  const configurationError = (message: string) =>
    outcome('UnexpectedResource', denied(uid, { code: 400, reason: 'BadRequest', message }));

  if (kind === 'other') {
    const got = `${request.kind.group === '' ? 'core' : request.kind.group}/${request.kind.version} ${kindName}`;
    return configurationError(
      `Gatehouse validates only ${API_GROUP} kinds (${KIND_NAMES.join(', ')}), not ${got}; the ValidatingWebhookConfiguration sends it resources it does not own: limit its rules to apiGroups [${API_GROUP}]`,
    );
  }
  if (request.subResource === 'status') {
    // Status is written by Gatehouse itself; the rules are about what people declare.
    return outcome('StatusSubresource', allowed(uid, []));
  }
  if (request.subResource !== undefined) {
    return configurationError(`Gatehouse does not validate the ${request.subResource} subresource of ${kind}; remove it from the ValidatingWebhookConfiguration's rules`);
  }
  if (request.kind.version !== API_VERSION_NAME) {
    return configurationError(
      `Gatehouse reviews ${API_VERSION}, not ${API_GROUP}/${request.kind.version} ${kind}; set apiVersions: [${API_VERSION_NAME}] and matchPolicy: Equivalent in the ValidatingWebhookConfiguration`,
    );
  }
  if (operation === 'CONNECT') {
    return configurationError(`Gatehouse reviews CREATE, UPDATE and DELETE, not CONNECT; remove CONNECT from the ValidatingWebhookConfiguration's operations`);
  }

  const subjectValue = operation === 'DELETE' ? request.oldObject : request.object;
  const problem =
    objectProblem(subjectValue, kind, operation === 'DELETE' ? 'request.oldObject' : 'request.object') ??
    (operation === 'UPDATE' ? objectProblem(request.oldObject, kind, 'request.oldObject') : undefined);
  if (problem !== undefined) {
    return outcome(
      'MalformedObject',
      denied(uid, { code: 400, reason: 'BadRequest', message: `cannot review ${operation} of ${kind} ${request.namespace ?? ''}/${request.name ?? ''}: ${problem}` }),
    );
  }
  const object = withIdentity(subjectValue as Record<string, unknown>, request);
  const oldObject = operation === 'UPDATE' ? withIdentity(request.oldObject as Record<string, unknown>, request) : undefined;
  const subject: ObjectRef = { kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };

  const specChanged = oldObject === undefined || !jsonEqual(object.spec, oldObject.spec);
  const forged = changedByViolation(request, subject, specChanged);
  // Finalizers, labels, annotations, a deletion in progress dropping its
  // finalizer: none of it changes what is declared, so none of it is judged.
  // This keeps the operator's own writes from ever being blocked by stale state.
  // Only the changed-by annotation is checked: it must not be rewritten.
  if (!specChanged) {
    if (forged !== undefined) return outcome('Checked', denialFor(uid, subject, [forged], []), [forged]);
    return outcome('MetadataOnlyUpdate', allowed(uid, []));
  }

  const at = deps.clock.now();
  let index = deps.index;
  let violations: Violation[];
  try {
    if (operation === 'DELETE') {
      violations = checkDeletion(object, { at, profile: deps.profile, index, operation });
    } else {
      const context: RuleContext = { at, profile: deps.profile, index, operation, ...(oldObject ? { oldObject } : {}) };
      violations = checkObject(object, context);
      // A reference the cache has not seen yet is read once from the API server before refusing for it.
      const read = deps.readMissing;
      const missing = read === undefined ? [] : missingReferences(object, violations, index);
      const found = read === undefined || missing.length === 0 ? [] : await read(missing).catch(() => []);
      if (found.length > 0) {
        index = new OverlayIndex(index, found);
        violations = checkObject(object, { ...context, index });
      }
    }
  } catch (err) {
    return outcome(
      'RulesFailed',
      denied(uid, {
        code: 500,
        reason: 'InternalError',
        message: `Gatehouse could not check ${formatRef(subject)}: ${errorMessage(err)}; the change is refused until it can (report this as a Gatehouse bug)`,
      }),
    );
  }

  if (forged !== undefined) violations = [...violations, forged];
  const checks = operation === 'DELETE' ? [] : accessChecksFor(operation, object, oldObject);
  if (checks.length > 0) violations = [...violations, ...(await escalationViolations(request, subject, checks, deps.authorizer))];

  const errors = violations.filter((v) => v.severity === 'error');
  // Only what the requester sent, or may see anyway, is named back to them.
  const scrub = errors.length > 0 || violations.length > 0 ? foreignScrubber(index, subject, [request.object, request.oldObject]) : (t: string) => t;
  const warnings = violations
    .filter((v) => v.severity === 'warning')
    .map((v) => truncate(scrub(violationText(v, subject)), MAX_WARNING_LENGTH));
  const response = errors.length === 0 ? allowed(uid, warnings) : denialFor(uid, subject, errors, warnings, scrub);
  return outcome('Checked', response, violations);
}

/**
 * The mutating webhook's answer: stamp the requesting user into the
 * changed-by annotation when the spec is created or changed, and put the
 * identity-store finalizer on a new object (finalizer.ts), in one JSON Patch.
 * Never denies: judging is the validating webhook's job.
 */
export function reviewMutation(request: AdmissionRequest): AdmissionResponse {
  const kindName = request.kind.kind;
  if (request.kind.group !== API_GROUP || !isKind(kindName) || !isRecord(request.object)) return { uid: request.uid, allowed: true };
  const specChanged =
    request.operation !== 'UPDATE' || !isRecord(request.oldObject) || !jsonEqual(request.object.spec, request.oldObject.spec);
  return patchResponse(request.uid, [...changedByPatch(request, specChanged), ...storeFinalizerPatch(request)]);
}
