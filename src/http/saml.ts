// SAML 2.0 sign-in with the product as service provider (seed 001), through
// @node-saml/node-saml: the Response's signature is checked against the
// Workspace's IdP certificate, its issuer against the IdP entity id, its
// audience and recipient against this workspace's service provider, its time
// window against Gatehouse's clock, and its assertion id against the ones
// already seen (replay). Only then is the signed-in email used.
import { SAML, type Profile, type SamlConfig } from '@node-saml/node-saml';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';

export interface WorkspaceSaml {
  workspaceId: string;
  idpEntityId: string;
  ssoUrl: string;
  signingCertificate: string;
}

export type SamlErrorCode = 'saml-invalid' | 'saml-not-configured' | 'saml-replayed';

export class SamlError extends Error {
  constructor(
    readonly code: SamlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SamlError';
  }
}

/** The service provider's entity id for a workspace: its metadata URL, as is usual. */
export function spEntityId(baseUrl: string, workspaceId: string): string {
  return `${baseUrl}/v1/workspaces/${encodeURIComponent(workspaceId)}/saml/metadata`;
}

export function acsUrl(baseUrl: string, workspaceId: string): string {
  return `${baseUrl}/v1/workspaces/${encodeURIComponent(workspaceId)}/saml/acs`;
}

/** Checks time windows against Gatehouse's clock, not the library's own reading of the system time. */
class ClockedSaml extends SAML {
  constructor(
    config: SamlConfig,
    private readonly clock: Clock,
  ) {
    super(config);
  }

  protected override checkTimestampsValidityError(_nowMs: number, notBefore: string, notOnOrAfter: string, maxTimeLimitMs?: number): Error | null {
    return super.checkTimestampsValidityError(this.clock.now().getTime(), notBefore, notOnOrAfter, maxTimeLimitMs);
  }
}

/** How far the IdP's clock may be off. */
export const SAML_CLOCK_SKEW_MS = 60_000;
/** An assertion older than this is refused whatever its conditions say. */
export const SAML_MAX_ASSERTION_AGE_MS = 5 * 60_000;

function samlFor(config: WorkspaceSaml, baseUrl: string, clock: Clock): SAML {
  return new ClockedSaml(
    {
      issuer: spEntityId(baseUrl, config.workspaceId),
      audience: spEntityId(baseUrl, config.workspaceId),
      callbackUrl: acsUrl(baseUrl, config.workspaceId),
      entryPoint: config.ssoUrl,
      idpIssuer: config.idpEntityId,
      idpCert: config.signingCertificate,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: SAML_CLOCK_SKEW_MS,
      maxAssertionAgeMs: SAML_MAX_ASSERTION_AGE_MS,
      // IdP-initiated sign-in is allowed: there may be no AuthnRequest to answer.
      validateInResponseTo: 'never' as SamlConfig['validateInResponseTo'],
    },
    clock,
  );
}

export interface VerifiedSaml {
  email: string;
  assertionId: string;
  /** Until when the assertion id must be remembered (its NotOnOrAfter, or now plus the maximum age). */
  rememberUntil: Date;
}

function first(value: unknown): Record<string, unknown> | undefined {
  return Array.isArray(value) ? (value[0] as Record<string, unknown> | undefined) : undefined;
}

function emailOf(profile: Profile): string | undefined {
  if (typeof profile.nameID === 'string' && profile.nameID.includes('@')) return profile.nameID;
  for (const key of ['email', 'mail', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']) {
    const value = profile[key];
    if (typeof value === 'string' && value.includes('@')) return value;
  }
  return undefined;
}

/** Verifies a base64 SAML Response posted to the workspace's ACS. Throws SamlError. */
export async function verifySamlResponse(config: WorkspaceSaml, baseUrl: string, clock: Clock, samlResponse: string): Promise<VerifiedSaml> {
  let profile: Profile | null;
  try {
    ({ profile } = await samlFor(config, baseUrl, clock).validatePostResponseAsync({ SAMLResponse: samlResponse }));
  } catch (err) {
    throw new SamlError('saml-invalid', `the SAML response was refused: ${errorMessage(err)}; sign in again through the identity provider`);
  }
  if (profile === null) throw new SamlError('saml-invalid', 'the SAML response holds no assertion; sign in again');
  // The library checks the issuer of logout messages only; a sign-in must come from the workspace's IdP too.
  if (profile.issuer !== config.idpEntityId) {
    throw new SamlError('saml-invalid', `the SAML assertion was issued by another identity provider than workspace ${config.workspaceId}'s spec.sso.saml.idpEntityId`);
  }
  const assertion = profile.getAssertion?.()?.Assertion as Record<string, unknown> | undefined;
  const attributes = assertion?.$ as Record<string, string> | undefined;
  const assertionId = attributes?.ID;
  if (assertionId === undefined) throw new SamlError('saml-invalid', 'the SAML assertion has no ID');
  const email = emailOf(profile);
  if (email === undefined) {
    throw new SamlError('saml-invalid', 'the SAML assertion names no email: configure the identity provider to send the email address as NameID or an email attribute');
  }
  const notOnOrAfter = (first(assertion?.Conditions)?.$ as Record<string, string> | undefined)?.NotOnOrAfter;
  const limit = clock.now().getTime() + SAML_MAX_ASSERTION_AGE_MS + SAML_CLOCK_SKEW_MS;
  const rememberUntil = new Date(Math.max(notOnOrAfter !== undefined ? Date.parse(notOnOrAfter) + SAML_CLOCK_SKEW_MS : 0, limit));
  return { email, assertionId, rememberUntil };
}

/** The service provider metadata an IdP administrator loads for this workspace. */
export function serviceProviderMetadata(config: WorkspaceSaml, baseUrl: string, clock: Clock): string {
  return samlFor(config, baseUrl, clock).generateServiceProviderMetadata(null);
}
