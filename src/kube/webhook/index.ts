// The validating admission webhook: HTTPS server, handler, escalation check,
// certificates and ValidatingWebhookConfiguration. `gatehouse run` uses
// registerWebhookFlags + webhookOptionsFromFlags + startAdmissionWebhook.
export { startAdmissionWebhook, parseListenAddress, DEFAULT_WEBHOOK_LISTEN, DEFAULT_MAX_REVIEW_BYTES, WebhookConfigError } from './server.js';
export type { AdmissionWebhook, AdmissionWebhookOptions, WebhookTlsOptions, WebhookRegistrationOptions } from './server.js';
export { registerWebhookFlags, webhookOptionsFromFlags, type WebhookFlags, type WebhookSettings } from './flags.js';
export { reviewAdmission, type AdmissionDependencies, type AdmissionOutcome } from './handler.js';
export { deletionClaimOf, storeDeletionClaimRecorder, DELETION_CLAIM_TIMEOUT_MS, type DeletionClaimRecorder } from './deletion-claim.js';
export { parseAdmissionReview, admissionReviewResponse, AdmissionReviewError } from './admission.js';
export type { AdmissionRequest, AdmissionResponse, UserInfo } from './admission.js';
export {
  accessChecksFor,
  cachingAuthorizer,
  subjectAccessReviewAuthorizer,
  AuthorizationError,
  ASSIGN_VERB,
  ESCALATE_VERB,
  GRANT_VERB,
  LEGACY_ROLE_NAME,
  PRIVILEGE_ESCALATION,
  ESCALATION_CHECK_FAILED,
} from './escalation.js';
export type { AccessCheck, AccessAnswer, Authorizer } from './escalation.js';
export {
  buildValidatingWebhookConfiguration,
  serviceAccountUsername,
  WEBHOOK_NAME,
  WEBHOOK_PATH,
  WEBHOOK_TIMEOUT_SECONDS,
  DEFAULT_WEBHOOK_CONFIG_NAME,
} from './registration.js';
export type { WebhookConfigurationSpec } from './registration.js';
export { StaticCertificateSource, type CertificateSource, type ServingCertificate } from './certificate-source.js';
export { DirectoryCertificateSource } from './certificate-files.js';
export { SelfManagedCertificateSource, kubernetesTlsSecretStore, DEFAULT_WEBHOOK_SECRET } from './certificate-secret.js';
export { servingHosts } from './certificates.js';
