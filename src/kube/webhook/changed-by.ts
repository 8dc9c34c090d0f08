// Who changed an object, carried from admission to the audit log. The
// mutating webhook stamps the requesting user into the changed-by annotation
// when the spec is created or changed, and puts back the previous value on
// any other update (the operator's finalizer patches keep the human who made
// the change). The validating webhook refuses an annotation that does not
// name the requester, so it cannot be forged even where the mutating webhook
// is not installed. A DELETE cannot be stamped: deletion-claim.ts records who deleted.
import { CHANGED_BY_ANNOTATION } from '../../model/common.js';
import type { ObjectRef } from '../../model/kinds.js';
import type { Violation } from '../../rules/types.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';

/** Rule id of a changed-by annotation that does not name the requester. */
export const FORGED_CHANGED_BY = 'ForgedChangedBy';

function annotationsOf(value: unknown): Record<string, unknown> | undefined {
  const metadata = (value as { metadata?: { annotations?: unknown } } | null | undefined)?.metadata;
  const annotations = metadata?.annotations;
  return annotations !== null && typeof annotations === 'object' && !Array.isArray(annotations) ? (annotations as Record<string, unknown>) : undefined;
}

export function changedByOf(value: unknown): string | undefined {
  const stamped = annotationsOf(value)?.[CHANGED_BY_ANNOTATION];
  return typeof stamped === 'string' ? stamped : undefined;
}

/** What the annotation must say after admission: the requester on a spec change, the old value otherwise. */
function expectedChangedBy(request: AdmissionRequest, specChanged: boolean): string | undefined {
  if (request.operation === 'CREATE' || specChanged) return request.userInfo.username;
  return changedByOf(request.oldObject);
}

const POINTER = `/metadata/annotations/${CHANGED_BY_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** The JSON Patch operations that set the annotation; none when it already says what it must. */
export function changedByPatch(request: AdmissionRequest, specChanged: boolean): unknown[] {
  if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || request.subResource !== undefined) return [];
  const want = expectedChangedBy(request, specChanged);
  const have = changedByOf(request.object);
  if (want === have) return [];
  if (want === undefined) return [{ op: 'remove', path: POINTER }];
  if (annotationsOf(request.object) === undefined) return [{ op: 'add', path: '/metadata/annotations', value: { [CHANGED_BY_ANNOTATION]: want } }];
  return [{ op: 'add', path: POINTER, value: want }];
}

/** Allows the request, with `patch` applied when there is one. */
export function patchResponse(uid: string, patch: unknown[]): AdmissionResponse {
  if (patch.length === 0) return { uid, allowed: true };
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
}

/** The validating webhook's check: an annotation naming anyone but the requester (or, on other updates, changed at all) is refused. */
export function changedByViolation(request: AdmissionRequest, subject: ObjectRef, specChanged: boolean): Violation | undefined {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  const have = changedByOf(request.object);
  if (have === undefined) return undefined;
  const want = expectedChangedBy(request, specChanged);
  if (have === want) return undefined;
  return {
    ruleId: FORGED_CHANGED_BY,
    severity: 'error',
    object: subject,
    field: `metadata.annotations[${CHANGED_BY_ANNOTATION}]`,
    message:
      want === undefined || !specChanged
        ? `${CHANGED_BY_ANNOTATION} records who last changed the spec and is set only by Gatehouse; remove it from your change`
        : `${CHANGED_BY_ANNOTATION} must name the requesting user; remove it from your change and Gatehouse sets it`,
  };
}
