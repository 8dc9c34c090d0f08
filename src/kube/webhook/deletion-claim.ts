// Who deleted an object, carried from admission to the audit log. Nothing can
// be stamped on a DELETE, so the validating webhook records a deletion claim
// (the object's uid and the requesting user) in the identity store for each
// DELETE it admits; the operator names that user when it removes the rows
// (src/store/deletion-claims.ts, docs/adr/0014-who-deleted.md). Recording is
// best effort and bounded in time: a revocation is never refused or held up
// because the store is slow or down; the entry then names the operator.
import { API_GROUP } from '../../model/common.js';
import { isKind } from '../../model/kinds.js';
import type { Store } from '../../store/store.js';
import { recordDeletionClaim, type DeletionClaim } from '../../store/deletion-claims.js';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';

/** The longest an admitted DELETE waits for its claim to be written (the webhook's own timeout is 5 s). */
export const DELETION_CLAIM_TIMEOUT_MS = 1_000;

/** Where the webhook records deletion claims. */
export interface DeletionClaimRecorder {
  record(claim: DeletionClaim): Promise<void>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The claim an answered request makes, if any: an admitted, real (not dry-run)
 * DELETE of one of the four kinds by a named user, of an object not already
 * being deleted (a second `kubectl delete` deletes nothing, so it claims nothing).
 */
export function deletionClaimOf(request: AdmissionRequest, response: AdmissionResponse, at: Date): DeletionClaim | undefined {
  if (request.operation !== 'DELETE' || !response.allowed || request.dryRun === true || request.subResource !== undefined) return undefined;
  const kind = request.kind.kind;
  if (request.kind.group !== API_GROUP || !isKind(kind)) return undefined;
  const user = request.userInfo.username;
  const metadata = isRecord(request.oldObject) && isRecord(request.oldObject.metadata) ? request.oldObject.metadata : undefined;
  if (user === undefined || user === '' || metadata === undefined) return undefined;
  if (typeof metadata.deletionTimestamp === 'string' && metadata.deletionTimestamp !== '') return undefined;
  const uid = metadata.uid;
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : request.namespace;
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : request.name;
  if (typeof uid !== 'string' || uid === '' || namespace === undefined || name === undefined) return undefined;
  return { uid, kind, namespace, name, user, at };
}

export type ClaimOutcome = 'recorded' | 'failed' | 'timed-out';

/**
 * Records `claim`, waiting at most `timeoutMs` on `clock`. Never throws: a
 * failure is logged (the object, never the user) and the DELETE goes ahead.
 */
export async function recordDeletionClaimBounded(
  recorder: DeletionClaimRecorder,
  claim: DeletionClaim,
  options: { clock: Clock; logger: Logger; timeoutMs?: number },
): Promise<ClaimOutcome> {
  const object = { kind: claim.kind, namespace: claim.namespace, name: claim.name };
  let cancel = () => {};
  const timedOut = new Promise<ClaimOutcome>((resolve) => {
    cancel = options.clock.schedule(options.timeoutMs ?? DELETION_CLAIM_TIMEOUT_MS, () => resolve('timed-out'));
  });
  const recorded = recorder.record(claim).then(
    () => 'recorded' as const,
    (err: unknown) => {
      options.logger.warn({ ...object, err: errorMessage(err) }, 'deletion claim not recorded; the DELETE is allowed and its audit entry will name the operator');
      return 'failed' as const;
    },
  );
  const outcome = await Promise.race([recorded, timedOut]);
  cancel();
  if (outcome === 'timed-out') {
    options.logger.warn({ ...object }, 'deletion claim not recorded in time; the DELETE is allowed and its audit entry may name the operator');
  }
  return outcome;
}

/**
 * Claims in the identity store, written outside the store's write lock (a
 * claim touches no identity row, and must not queue behind a long sync).
 * `gate` says whether the store may be used yet (its schema migrated).
 */
export function storeDeletionClaimRecorder(store: Pick<Store, 'db'>, gate?: { check(): void }): DeletionClaimRecorder {
  return {
    async record(claim) {
      gate?.check();
      await recordDeletionClaim(store.db, claim);
    },
  };
}
