// The fake Kubernetes API server for tests; see server.ts.
export { FakeApiServer } from './server.js';
export type {
  AccessDecision,
  AdmissionAttributes,
  AdmissionHook,
  AdmissionVerdict,
  Authorizer,
  FakeApiServerOptions,
  ManagedFieldsEntry,
  RequestRecord,
  StoredObject,
  SubjectAccessReviewSpec,
} from './server.js';
export { apiVersionOf, defaultResources, resourceKey, type FieldCause, type ResourceType } from './resources.js';
export { ApiStatusError, type StatusBody } from './status.js';
