// The identity-store finalizer, set at admission. The reconciler must put its
// finalizer on an object before it writes the object's rows to the store; as
// a patch of its own that costs every object one API write more than its
// status (the status subresource ignores metadata, so the two cannot be one
// write). The mutating webhook adds it to the CREATE instead, in the same JSON
// Patch as the changed-by annotation, and the reconciler's first write is the
// status. The reconciler still adds the finalizer when it is missing (webhook
// not installed, objects created before it, or the webhook failing open).
import { STORE_FINALIZER } from '../../model/common.js';
import type { AdmissionRequest } from './admission.js';

/** The JSON Patch operations that add the finalizer to a CREATE; none for anything else or when it is there. */
export function storeFinalizerPatch(request: AdmissionRequest): unknown[] {
  if (request.operation !== 'CREATE' || request.subResource !== undefined) return [];
  const metadata = (request.object as { metadata?: { finalizers?: unknown } } | null | undefined)?.metadata;
  if (metadata === null || typeof metadata !== 'object') return [];
  const finalizers = metadata.finalizers;
  if (finalizers === undefined || finalizers === null) return [{ op: 'add', path: '/metadata/finalizers', value: [STORE_FINALIZER] }];
  // Not a list: the API server's own validation refuses the object; leave it to say so.
  if (!Array.isArray(finalizers) || finalizers.includes(STORE_FINALIZER)) return [];
  return [{ op: 'add', path: '/metadata/finalizers/-', value: STORE_FINALIZER }];
}
