// SAML sign-in through the decision API, with an IdP key and certificate
// generated in the test: a good response signs the member in and is recorded
// as a login; a tampered, foreign-signed, expired, wrong-audience,
// wrong-issuer or replayed one is refused with a code. Time is Gatehouse's
// clock, moved by the test.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acceptInvitation, takeInvitationsToDeliver } from '../src/app/index.js';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { startDecisionApi, type DecisionApiHarness } from './support/decision-api.js';
import { createTestIdp, signedResponse, type TestIdp } from './support/saml-idp.js';
import { dialects } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
let api: DecisionApiHarness;
let idp: TestIdp;
let other: TestIdp;
let audience: string;
let recipient: string;

beforeAll(async () => {
  idp = await createTestIdp();
  other = await createTestIdp();
  const workspace = aWorkspace({
    spec: { admins: { min: 0, max: 1 }, sso: { enforced: true, saml: { idpEntityId: idp.entityId, ssoUrl: idp.ssoUrl, signingCertificate: idp.cert } } },
  });
  const plain = aWorkspace({ name: 'plain', spec: { admins: { min: 0, max: 1 } } });
  const sqlite = dialects()[0];
  if (sqlite === undefined) throw new Error('no SQLite dialect');
  api = await startDecisionApi(sqlite, [workspace, plain, aMember({ name: 'alice', spec: { loginType: 'SSO' } })], T0);
  for (const i of await takeInvitationsToDeliver(api.other, 10, { at: new Date(T0) })) await acceptInvitation(api.other, { token: i.token, email: i.email, at: new Date(T0) });
  audience = `${api.url}/v1/workspaces/acme/saml/metadata`;
  recipient = `${api.url}/v1/workspaces/acme/saml/acs`;
});
afterAll(async () => {
  await api?.close();
});

const acs = (SAMLResponse: string, extra: Record<string, unknown> = { mfa: true }) => api.call('POST', '/v1/workspaces/acme/saml/acs', { SAMLResponse, ...extra });
const response = (over: Partial<Parameters<typeof signedResponse>[0]> = {}) =>
  signedResponse({ idp, audience, recipient, email: 'alice@acme.example', issuedAt: api.clock.now(), ...over });

it('signs in a member with a good response and records the login', async () => {
  const answer = await acs(response());
  expect(answer).toMatchObject({ status: 200, body: { email: 'alice@acme.example', decision: 'allow', reason: 'login-allowed', recorded: true } });
  const members = await api.call('GET', '/v1/workspaces/acme/members?search=alice');
  expect(members.body.members[0].lastLoginAt).toBe(api.clock.now().toISOString());
});

it('applies the workspace policy to an SSO login: 2FA', async () => {
  expect(await acs(response(), {})).toMatchObject({ status: 403, body: { decision: 'deny', reason: '2fa-required', recorded: false } });
});

it('refuses a replayed response', async () => {
  const once = response({ assertionId: '_replay-me' });
  expect((await acs(once)).status).toBe(200);
  expect(await acs(once)).toMatchObject({ status: 409, body: { error: { code: 'saml-replayed' } } });
});

it.each([
  ['tampered after signing', () => Buffer.from(Buffer.from(response(), 'base64').toString().replace('alice@acme.example', 'mallory@acme.example')).toString('base64')],
  ['signed by another key', () => response({ signingKey: other.key })],
  ['for another audience', () => response({ audience: 'https://elsewhere.example/sp' })],
  ['from another issuer', () => response({ issuer: 'https://evil.example/idp' })],
  ['not base64 XML at all', () => Buffer.from('<nope/>').toString('base64')],
])('refuses a response %s', async (_name, make) => {
  const answer = await acs(make());
  expect(answer).toMatchObject({ status: 401, body: { error: { code: 'saml-invalid' } } });
  expect(answer.body.error.message).not.toMatch(/\n\s+at /);
});

it('refuses an expired response: the clock moves past its NotOnOrAfter', async () => {
  const late = response({ lifetimeMs: 60_000 });
  api.clock.advance(60_000 + 61_000); // lifetime plus the accepted clock skew
  expect(await acs(late)).toMatchObject({ status: 401, body: { error: { code: 'saml-invalid' } } });
});

it('serves the service provider metadata without a token, and says when SAML is not set up', async () => {
  const metadata = await fetch(`${api.url}/v1/workspaces/acme/saml/metadata`);
  expect(metadata.status).toBe(200);
  const xml = await metadata.text();
  expect(xml).toContain(`entityID="${audience}"`);
  expect(xml).toContain(`Location="${recipient}"`);
  expect(await api.call('GET', '/v1/workspaces/plain/saml/metadata')).toMatchObject({ status: 404, body: { error: { code: 'saml-not-configured' } } });
  expect(await api.call('GET', '/v1/workspaces/nowhere/saml/metadata')).toMatchObject({ status: 404, body: { error: { code: 'workspace-unknown' } } });
});
