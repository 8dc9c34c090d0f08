// Rules of a Workspace: its policy makes sense on its own, its id is unique,
// and the admin bounds hold for the members declared.
import { X509Certificate } from 'node:crypto';
import { tryParseDuration } from '../model/duration.js';
import { SUPPORT_GRANT_MAX_DURATION } from '../model/support-grant.js';
import type { Workspace } from '../model/workspace.js';
import { describe, listNames, plural, type Check } from './check-context.js';
import { duplicateItems, immutableFields } from './common-rules.js';
import { keyOf, nameOf, namespaceOf } from './object-index.js';
import { coversEveryAddress, parseCidr, type Cidr } from './network.js';

const MAX_SUPPORT_DURATION_MS = tryParseDuration(SUPPORT_GRANT_MAX_DURATION) as number;

export const WORKSPACE_IMMUTABLE_FIELDS = [
  {
    field: 'spec.workspaceId',
    value: (w: Workspace) => w.spec.workspaceId,
    fix: 'the identity store keys the workspace by it; put it back, or create a new Workspace',
  },
];

export function checkWorkspace(c: Check<Workspace>): void {
  const ws = c.object;
  const spec = ws.spec;
  immutableFields(c, WORKSPACE_IMMUTABLE_FIELDS);

  for (const other of c.world.workspacesById(spec.workspaceId)) {
    if (keyOf(other) === keyOf(ws)) continue;
    c.report(
      'DuplicateWorkspaceId',
      'error',
      'spec.workspaceId',
      `spec.workspaceId "${spec.workspaceId}" is also used by ${describe(other)}; it is the identity store's key and must be unique across the cluster, so give one of them another id`,
    );
  }

  if ((spec.twoFactor ?? 'Required') === 'Optional') {
    c.report(
      'TwoFactorOptional',
      'warning',
      'spec.twoFactor',
      'two-factor authentication is optional; set spec.twoFactor: Required so every member uses 2FA, as the security guidelines recommend',
    );
  }

  checkDurations(c);
  checkIpAllowlist(c);
  checkSso(c);
  checkAdminBounds(c);
}

function checkDurations(c: Check<Workspace>): void {
  const spec = c.object.spec;
  const durations: Array<[string, string | undefined]> = [
    ['spec.idleSessionTimeout', spec.idleSessionTimeout],
    ['spec.invitationLifetime', spec.invitationLifetime],
    ['spec.maxTemporaryAccess', spec.maxTemporaryAccess],
    ['spec.accessReview.interval', spec.accessReview?.interval],
    ['spec.accessReview.inactivityThreshold', spec.accessReview?.inactivityThreshold],
    ['spec.supportAccess.maxDuration', spec.supportAccess?.maxDuration],
  ];
  for (const [field, text] of durations) {
    const ms = tryParseDuration(text);
    if (ms === undefined) continue;
    if (ms <= 0) {
      c.report('DurationOutOfRange', 'error', field, `${field} is ${text}; it must be longer than zero (for example 24h), or left out for the default`);
    } else if (ms < 1000 || ms % 1000 !== 0) {
      // The identity store keeps these in whole seconds: 400ms would be stored as 0s.
      c.report('DurationOutOfRange', 'error', field, `${field} is ${text}; the identity store keeps it in whole seconds, so use a whole number of seconds of at least 1s (for example ${ms < 1000 ? '1s' : `${Math.round(ms / 1000)}s`})`);
    }
  }
  const supportMax = tryParseDuration(spec.supportAccess?.maxDuration);
  if (supportMax !== undefined && supportMax > MAX_SUPPORT_DURATION_MS) {
    c.report(
      'DurationOutOfRange',
      'error',
      'spec.supportAccess.maxDuration',
      `spec.supportAccess.maxDuration is ${spec.supportAccess?.maxDuration}; support access may last at most a year (${SUPPORT_GRANT_MAX_DURATION})`,
    );
  }
}

function checkIpAllowlist(c: Check<Workspace>): void {
  const list = c.object.spec.ipAllowlist;
  if (list === undefined) return;
  if (list.length === 0) {
    c.report(
      'AllowlistAllowsAnyAddress',
      'warning',
      'spec.ipAllowlist',
      'spec.ipAllowlist is empty, which means members may connect from any network (as if it were left out); list your VPN and office networks, or remove the field to say that any network is intended',
    );
    return;
  }
  duplicateItems(c, 'spec.ipAllowlist', list);
  const cidrs: Cidr[] = [];
  /** Networks already listed, by family and range however written: index of the first. */
  const seen = new Map<string, number>();
  list.forEach((entry, i) => {
    const field = `spec.ipAllowlist[${i}]`;
    const parsed = parseCidr(entry);
    if (!parsed.ok) {
      c.report('InvalidCidr', 'error', field, `${parsed.reason}`);
      return;
    }
    const { cidr } = parsed;
    cidrs.push(cidr);
    const key = `${cidr.family}/${cidr.network}/${cidr.prefix}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else if (list[first] !== entry) {
      // The same text twice is reported by duplicateItems above.
      c.report(
        'DuplicateListItem',
        'error',
        field,
        `"${entry}" is the network ${cidr.network}/${cidr.prefix}, already listed at spec.ipAllowlist[${first}] as "${list[first]}"; remove one of them`,
      );
    }
    if (cidr.hostBitsSet) {
      c.report(
        'CidrHostBitsSet',
        'warning',
        field,
        `"${entry}" has host bits set; it means the network ${cidr.network}/${cidr.prefix}, so write that (or /${cidr.family === 4 ? 32 : 128} for the one address)`,
      );
    }
    if (cidr.prefix === 0) {
      c.report(
        'AllowlistAllowsAnyAddress',
        'warning',
        field,
        `"${entry}" lets every IPv${cidr.family} address in, which makes the allowlist pointless; list your VPN or office networks instead`,
      );
    }
  });
  for (const family of [4, 6] as const) {
    const ofFamily = cidrs.filter((cidr) => cidr.family === family);
    // A /0 entry is reported on its own line above; here, networks that only together hold everything.
    if (ofFamily.some((cidr) => cidr.prefix === 0) || !coversEveryAddress(ofFamily, family)) continue;
    c.report(
      'AllowlistAllowsAnyAddress',
      'warning',
      'spec.ipAllowlist',
      `together the IPv${family} entries (${ofFamily.map((cidr) => `${cidr.network}/${cidr.prefix}`).join(', ')}) let every IPv${family} address in, which makes the allowlist pointless; list your VPN or office networks instead`,
    );
  }
}

function checkSso(c: Check<Workspace>): void {
  const saml = c.object.spec.sso?.saml;
  if (saml === undefined) return;
  const urlProblem = ssoUrlProblem(saml.ssoUrl);
  if (urlProblem !== undefined) {
    c.report('InvalidSsoUrl', 'error', 'spec.sso.saml.ssoUrl', `${urlProblem}; use the IdP's single sign-on URL from its SAML metadata, such as https://idp.example.com/sso/saml`);
  }
  const field = 'spec.sso.saml.signingCertificate';
  const certificate = parseCertificate(saml.signingCertificate);
  if (!certificate.ok) {
    c.report('InvalidSigningCertificate', 'error', field, `${certificate.reason}; paste the IdP's signing certificate in PEM form (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)`);
    return;
  }
  const at = c.at.getTime();
  const { validFrom, validTo } = certificate;
  if (validTo.getTime() <= at) {
    if (enforcingSso(c)) {
      // Enforcing SSO with a dead certificate locks out every member, admins included.
      c.report(
        'SigningCertificateExpired',
        'error',
        field,
        `spec.sso.enforced is being turned on but the IdP signing certificate (${certificate.subject}) expired at ${validTo.toISOString()}: no SSO login would succeed and local logins are off, so every member, admins included, would be locked out; paste the IdP's current certificate first, or keep spec.sso.enforced: false`,
      );
    } else {
      c.report(
        'SigningCertificateExpired',
        'warning',
        field,
        `the IdP signing certificate (${certificate.subject}) expired at ${validTo.toISOString()}, so SSO logins will fail; paste the IdP's current certificate`,
      );
    }
  } else if (validFrom.getTime() > at) {
    c.report(
      'SigningCertificateNotYetValid',
      'warning',
      field,
      `the IdP signing certificate (${certificate.subject}) is valid only from ${validFrom.toISOString()}; SSO logins fail until then, so keep the current certificate until the IdP rolls over`,
    );
  }
}

/**
 * Whether this change turns SSO enforcement on (or changes the certificate
 * while it is on): a CREATE, an UPDATE from an unenforced or other-certificate
 * version, or a declaration the identity store recorded unenforced (or not at all).
 */
function enforcingSso(c: Check<Workspace>): boolean {
  const sso = c.object.spec.sso;
  if (sso?.enforced !== true) return false;
  if (c.operation === 'CREATE') return true;
  const before = c.previous?.spec.sso;
  if (c.previous !== undefined) return before?.enforced !== true || before.saml?.signingCertificate !== sso.saml?.signingCertificate;
  return c.operation === undefined && c.world.recorded !== undefined && c.recorded === undefined;
}

export function ssoUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not an absolute URL`;
  }
  if (url.protocol !== 'https:') return `"${text}" uses ${url.protocol.replace(/:$/, '')}, but SAML single sign-on must use https`;
  if (url.hostname === '') return `"${text}" has no host name`;
  if (url.username !== '' || url.password !== '') return `"${text}" contains credentials, which must never be in the URL`;
  return undefined;
}

type ParsedCertificate =
  | { ok: true; subject: string; validFrom: Date; validTo: Date }
  | { ok: false; reason: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export function parseCertificate(text: string): ParsedCertificate {
  const pem = PEM_CERTIFICATE.exec(text)?.[0];
  if (pem === undefined) return { ok: false, reason: 'the signing certificate is not PEM: it has no BEGIN CERTIFICATE / END CERTIFICATE block' };
  try {
    const certificate = new X509Certificate(pem);
    const validFrom = new Date(certificate.validFrom);
    const validTo = new Date(certificate.validTo);
    if (Number.isNaN(validFrom.getTime()) || Number.isNaN(validTo.getTime())) {
      return { ok: false, reason: 'the signing certificate has unreadable validity dates' };
    }
    return { ok: true, subject: certificate.subject.replace(/\n/g, ', '), validFrom, validTo };
  } catch {
    return { ok: false, reason: 'the signing certificate is not a valid X.509 certificate (the PEM block does not decode to one)' };
  }
}

function checkAdminBounds(c: Check<Workspace>): void {
  const policy = c.world.policyOf(c.object);
  if (policy.adminsMin > policy.adminsMax) {
    c.report(
      'InvalidAdminLimits',
      'error',
      'spec.admins.min',
      `spec.admins.min (${policy.adminsMin}) is greater than spec.admins.max (${policy.adminsMax}); lower min or raise max`,
    );
    return;
  }
  const { admins } = c.world.adminsOf(namespaceOf(c.object), nameOf(c.object));
  if (admins.length < policy.adminsMin) {
    c.report(
      'TooFewAdmins',
      'warning',
      'spec.admins.min',
      `${describe(c.object)} has ${plural(admins.length, 'member')} with an administrative role (expired members do not count), fewer than spec.admins.min (${policy.adminsMin}); declare an admin Member so the workspace cannot be locked out, or lower spec.admins.min`,
    );
  }
  // At admission, lowering admins.max below the admins declared is refused here,
  // since the Members themselves are not being checked.
  const maxChanged = c.previous === undefined || c.world.policyOf(c.previous).adminsMax !== policy.adminsMax;
  if ((c.operation === 'CREATE' || c.operation === 'UPDATE') && maxChanged && admins.length > policy.adminsMax) {
    c.report(
      'TooManyAdmins',
      'error',
      'spec.admins.max',
      `${plural(admins.length, 'member')} of ${describe(c.object)} ${admins.length === 1 ? 'has' : 'have'} an administrative role (${listNames(admins.map(nameOf))}), more than spec.admins.max (${policy.adminsMax}); give some of them a narrower role first (the minimum-permission rule), or keep spec.admins.max at ${admins.length} or more`,
    );
  }
}
