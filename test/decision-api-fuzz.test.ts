// Bad input never makes the decision API answer 5xx or show a stack trace:
// random JSON values in every field, mangled and truncated bodies, random
// bytes, wrong media types, odd paths and tokens, all over a real socket.
// A seeded generator keeps every run the same and a failure replayable.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { startDecisionApi, type DecisionApiHarness } from './support/decision-api.js';
import { dialects } from './support/stores.js';
import { seededPicker } from './support/random.js';


const SEED = 20261130;
const CASES = 600;
const rng = seededPicker(SEED);

function aValue(depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 8)) {
    case 0: return null;
    case 1: return rng.next() < 0.5;
    case 2: return rng.pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, Number.MAX_SAFE_INTEGER]);
    case 3: return rng.pick(['', 'acme', 'alice@acme.example', 'view-dashboard', '203.0.113.1', '::1', 'sso', 'local', 'support', '\u0000', 'é'.repeat(50), '../../etc', '<script>']);
    case 4: return 'x'.repeat(rng.int(400));
    case 5: return rng.pick(['__proto__', 'constructor', 'toString']);
    case 6: return Array.from({ length: rng.int(4) }, () => aValue(depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i -= 1) out[String(aValue(3))] = aValue(depth + 1);
      return out;
    }
  }
}

const FIELDS = ['workspace', 'subject', 'subjectType', 'permission', 'ip', 'loginMethod', 'mfa', 'idleSeconds', 'account', 'token', 'email', 'limit', 'search'];
const PATHS = ['/v1/check', '/v1/logins', '/v1/invitations/accept', '/v1/invitations/pending', '/v1/workspaces/acme/members', '/v1/workspaces/%ZZ/members', '/v1/check?x=1&x=2', '/v1//check', '/v1/invitations/pending?limit=-1', '/v1/workspaces/acme/members?search=%25'];
const valid = { workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard', mfa: true };

function aBody(): string | Buffer {
  switch (rng.int(6)) {
    case 0: {
      const body: Record<string, unknown> = { ...valid };
      body[rng.pick(FIELDS)] = aValue();
      return JSON.stringify(body);
    }
    case 1: {
      const text = JSON.stringify({ ...valid, [rng.pick(FIELDS)]: aValue() });
      return text.slice(0, rng.int(text.length));
    }
    case 2: return Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256)));
    case 3: return JSON.stringify(aValue());
    case 4: return `{"workspace":"acme","__proto__":${JSON.stringify(aValue())}}`;
    default: return '['.repeat(rng.int(5000));
  }
}

function send(url: string, method: string, path: string, headers: Record<string, string>, body: string | Buffer | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const sqlite = dialects()[0];
let api: DecisionApiHarness;
beforeAll(async () => {
  if (sqlite === undefined) throw new Error('no SQLite dialect');
  api = await startDecisionApi(sqlite, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })], '2026-06-01T00:00:00.000Z');
});
afterAll(async () => {
  await api?.close();
});

it(`answers ${CASES} random bad requests with a 2xx or a 4xx and an error code, never a 5xx or a stack (seed ${SEED})`, async () => {
  const failures: string[] = [];
  for (let i = 0; i < CASES; i += 1) {
    const path = rng.pick(PATHS);
    const method = rng.pick(['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE']);
    const headers: Record<string, string> = {};
    const auth = rng.int(10);
    if (auth > 1) headers.authorization = `Bearer ${api.token}`;
    else if (auth === 1) headers.authorization = rng.pick(['Bearer', 'Basic abc', `Bearer ${api.token}x`, 'Bearer \t', `bearer   ${api.token}`]);
    headers['content-type'] = rng.pick(['application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
    const body = method === 'GET' || method === 'DELETE' ? undefined : aBody();
    const response = await send(api.url, method, path, headers, body);
    let parsed: { error?: { code?: unknown } } | undefined;
    try {
      parsed = JSON.parse(response.text) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    const ok = response.status >= 200 && response.status < 300;
    const refused = response.status >= 400 && response.status < 500 && typeof parsed?.error?.code === 'string';
    if ((!ok && !refused) || /\n\s+at /.test(response.text)) failures.push(`#${i} ${method} ${path} -> ${response.status} ${response.text.slice(0, 200)}`);
  }
  expect(failures).toEqual([]);
});
