// POST /v1/check has two ways in: the check route ahead of fastify (a request
// with Content-Length and a known token) and the fastify route (everything
// else, e.g. a chunked body). Both must answer every request alike: the same
// status, body and headers, for answers and refusals.
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { aMember, aSupportGrant, aWorkspace } from '../src/rules/testing/builders.js';
import { startDecisionApi, type DecisionApiHarness } from './support/decision-api.js';
import { dialects } from './support/stores.js';

const T0 = '2026-06-01T00:00:00.000Z';
let api: DecisionApiHarness;
beforeAll(async () => {
  const declared = [aWorkspace({ spec: { admins: { min: 0, max: 1 }, ipAllowlist: ['203.0.113.0/24'] } }), aMember({ name: 'alice' }), aSupportGrant({ name: 'ticket-1', spec: { duration: '48h' } })];
  api = await startDecisionApi(dialects()[0]!, declared, T0, { rateLimitPerSecond: 1000 });
});
afterAll(async () => {
  await api.close();
});

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
  cacheControl: string | undefined;
}

/** POSTs the body with Content-Length (the check route), or chunked (left to fastify). */
function post(body: string, how: 'length' | 'chunked', contentType = 'application/json'): Promise<Answer> {
  const url = new URL('/v1/check', api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${api.token}`,
          'content-type': contentType,
          ...(how === 'length' ? { 'content-length': Buffer.byteLength(body) } : { 'transfer-encoding': 'chunked' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'], cacheControl: res.headers['cache-control'] }));
      },
    );
    req.on('error', reject);
    if (how === 'chunked') {
      // Two pieces, so the body really arrives chunked.
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      req.end(body.slice(half));
    } else {
      req.end(body);
    }
  });
}

const check = (over: Record<string, unknown> = {}) => JSON.stringify({ workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard', ip: '203.0.113.7', loginMethod: 'local', mfa: true, ...over });

it.each([
  ['an allowed member', check(), 200],
  ['a permission the role lacks', check({ permission: 'manage-billing' }), 200],
  ['an address outside the allowlist', check({ ip: '198.51.100.1' }), 200],
  ['an unknown workspace', check({ workspace: 'nobody' }), 200],
  ['a support agent under a grant', check({ subject: 'agent@vendor.example', subjectType: 'support' }), 200],
  ['malformed JSON', '{"workspace": "acme",', 400],
  ['a __proto__ key', '{"__proto__": {"x": 1}, "workspace": "acme"}', 400],
  ['a constructor.prototype key', '{"constructor": {"prototype": {"x": 1}}}', 400],
  ['an unknown field', check({ role: 'admin' }), 400],
  ['a missing field', JSON.stringify({ workspace: 'acme', subject: 'alice@acme.example' }), 400],
  ['a field of the wrong type', check({ idleSeconds: -5 }), 400],
  ['not an object', '[1, 2, 3]', 400],
])('answers %s the same either way', async (_name, body, status) => {
  const direct = await post(body, 'length');
  const viaFastify = await post(body, 'chunked');
  expect(direct.status).toBe(status);
  expect(viaFastify).toEqual(direct);
  if (status === 200) expect(Object.keys(JSON.parse(direct.body))).toEqual(expect.arrayContaining(['decision', 'reason', 'validUntil']));
  else expect(JSON.parse(direct.body).error.code).toMatch(/^[a-z-]+$/);
});

it.each([
  ['application/json; charset=utf-8', 200],
  ['text/plain', 400],
  ['application/xml', 415],
])('answers Content-Type %s the same either way', async (contentType, status) => {
  const direct = await post(check(), 'length', contentType);
  expect(direct.status).toBe(status);
  expect(await post(check(), 'chunked', contentType)).toEqual(direct);
});
