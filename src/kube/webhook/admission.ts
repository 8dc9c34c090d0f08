// AdmissionReview admission.k8s.io/v1: the request the API server sends and
// the response it expects. Parsing is strict about what Gatehouse relies on
// and lenient about the rest, so a newer API server's extra fields pass.

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_REVIEW_KIND = 'AdmissionReview';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** authentication.k8s.io/v1 UserInfo: who sent the request to the API server. */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

/** metav1.StatusCause; `reason` carries the rule id. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The part of metav1.Status an admission denial uses. */
export interface AdmissionStatus {
  status?: 'Failure';
  code: number;
  reason: string;
  message: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: StatusCause[];
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  warnings?: string[];
  /** Mutating webhooks: a base64 JSON Patch. */
  patchType?: 'JSONPatch';
  patch?: string;
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_REVIEW_KIND;
  response: AdmissionResponse;
}

/** The request body is not an AdmissionReview Gatehouse can answer: an HTTP 400, not a denial. */
export class AdmissionReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdmissionReviewError';
  }
}

const OPERATIONS: ReadonlySet<string> = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(record: Record<string, unknown>, key: string, where: string): string {
  const value = record[key];
  if (typeof value !== 'string' || value === '') {
    throw new AdmissionReviewError(`${where}.${key} must be a non-empty string`);
  }
  return value;
}

function optionalString(record: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AdmissionReviewError(`${where}.${key} must be a string`);
  return value;
}

function groupVersion(record: Record<string, unknown>, key: string, name: 'kind' | 'resource'): Record<string, string> {
  const value = record[key];
  if (!isRecord(value)) throw new AdmissionReviewError(`request.${key} must be an object with group, version and ${name}`);
  const out: Record<string, string> = {};
  for (const field of ['group', 'version', name]) {
    const v = value[field];
    // The core group is "", so only the type is checked.
    if (typeof v !== 'string') throw new AdmissionReviewError(`request.${key}.${field} must be a string`);
    out[field] = v;
  }
  return out;
}

function stringArray(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new AdmissionReviewError(`${where} must be a list of strings`);
  }
  return value as string[];
}

function parseUserInfo(value: unknown): UserInfo {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new AdmissionReviewError('request.userInfo must be an object');
  const user: UserInfo = {};
  const username = optionalString(value, 'username', 'request.userInfo');
  const uid = optionalString(value, 'uid', 'request.userInfo');
  const groups = stringArray(value.groups, 'request.userInfo.groups');
  if (username !== undefined) user.username = username;
  if (uid !== undefined) user.uid = uid;
  if (groups !== undefined) user.groups = groups;
  if (value.extra !== undefined && value.extra !== null) {
    if (!isRecord(value.extra)) throw new AdmissionReviewError('request.userInfo.extra must be an object of string lists');
    const extra: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(value.extra)) extra[k] = stringArray(v, `request.userInfo.extra.${k}`) ?? [];
    user.extra = extra;
  }
  return user;
}

/**
 * Checks that `body` is an admission.k8s.io/v1 AdmissionReview with a request
 * Gatehouse can answer and returns the request. Throws AdmissionReviewError
 * with the field at fault otherwise.
 */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new AdmissionReviewError('the body must be a JSON AdmissionReview object');
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== ADMISSION_REVIEW_KIND) {
    throw new AdmissionReviewError(
      `expected apiVersion ${ADMISSION_API_VERSION} and kind ${ADMISSION_REVIEW_KIND}, got ${JSON.stringify(body.apiVersion ?? null)} and ${JSON.stringify(body.kind ?? null)}; set admissionReviewVersions: [v1] in the ValidatingWebhookConfiguration`,
    );
  }
  const request = body.request;
  if (!isRecord(request)) throw new AdmissionReviewError('request must be an object');
  const uid = stringField(request, 'uid', 'request');
  const operation = stringField(request, 'operation', 'request');
  if (!OPERATIONS.has(operation)) {
    throw new AdmissionReviewError(`request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got ${JSON.stringify(operation)}`);
  }
  const parsed: AdmissionRequest = {
    uid,
    kind: groupVersion(request, 'kind', 'kind') as unknown as GroupVersionKind,
    resource: groupVersion(request, 'resource', 'resource') as unknown as GroupVersionResource,
    operation: operation as AdmissionOperation,
    userInfo: parseUserInfo(request.userInfo),
  };
  const subResource = optionalString(request, 'subResource', 'request');
  const name = optionalString(request, 'name', 'request');
  const namespace = optionalString(request, 'namespace', 'request');
  if (subResource) parsed.subResource = subResource;
  if (name) parsed.name = name;
  if (namespace) parsed.namespace = namespace;
  if (request.object !== undefined && request.object !== null) parsed.object = request.object;
  if (request.oldObject !== undefined && request.oldObject !== null) parsed.oldObject = request.oldObject;
  if (request.dryRun !== undefined && request.dryRun !== null) {
    if (typeof request.dryRun !== 'boolean') throw new AdmissionReviewError('request.dryRun must be a boolean');
    parsed.dryRun = request.dryRun;
  }
  if (request.options !== undefined) parsed.options = request.options;
  return parsed;
}

export function admissionReviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_REVIEW_KIND, response };
}
