import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../rules/testing/builders.js';
import { newAjv } from '../model/schema-validator.js';
import { openStore, type Store } from '../store/store.js';
import { ManualClock } from '../util/clock.js';
import { syncAll } from '../../test/support/engine.js';
import { CheckRequestSchema, ErrorCode, type CheckRequest } from './api.js';
import { answerJson, checkRoute, type CheckRouteOptions } from './check-route.js';
import { DECISION_REASONS } from './decide.js';
import { FactsCache } from './facts.js';
import { DecisionService, type CheckAnswer } from './service.js';

const T0 = '2026-06-01T00:00:00.000Z';
let store: Store;
let server: Server;
let url: string;
/** What the route is given to judge each request by; tests change it. */
const state = { caller: 'app' as string | undefined, withinRate: true, closing: false };
const refusals: ErrorCode[] = [];

beforeAll(async () => {
  store = await openStore('sqlite::memory:');
  await syncAll(store, [aWorkspace({ spec: { admins: { min: 0, max: 1 } } }), aMember({ name: 'alice' })], T0);
  const service = new DecisionService({ store, facts: new FactsCache(store), clock: new ManualClock(T0) });
  const options: CheckRouteOptions = {
    service,
    bodyLimit: 1024,
    callerOf: () => state.caller,
    withinRate: () => state.withinRate,
    validate: newAjv({ allErrors: false, strict: false }).compile<CheckRequest>(CheckRequestSchema),
    validationMessage: () => 'body is not valid',
    failure: () => ({ status: 503, code: ErrorCode.StoreUnavailable, message: 'down' }),
    onAnswer: () => {},
    onRefusal: (code) => refusals.push(code),
    closing: () => state.closing,
  };
  const take = checkRoute(options);
  // What the route leaves alone gets this answer instead (fastify, in the real server).
  server = createServer((req, res) => {
    if (!take(req, res)) res.writeHead(299).end('left');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await store.close();
});

function send(path: string, method: string, body: string, headers: Record<string, string | number>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const body = JSON.stringify({ workspace: 'acme', subject: 'alice@acme.example', permission: 'view-dashboard', mfa: true });
const json = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };

it.each([
  ['a check with a known token, within its rate', {}, (): void => {}, 'taken'],
  ['another path', { path: '/v1/check?x=1' }, (): void => {}, 'left'],
  ['another method', { method: 'PUT' }, (): void => {}, 'left'],
  ['another media type', { headers: { ...json, 'content-type': 'text/plain' } }, (): void => {}, 'left'],
  ['a chunked body (no Content-Length)', { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (): void => {}, 'left'],
  ['a body over the limit', { body: body.padEnd(2000, ' '), headers: { 'content-type': 'application/json', 'content-length': 2000 } }, (): void => {}, 'left'],
  ['no known token', {}, (): void => void (state.caller = undefined), 'left'],
  ['a client over its rate', {}, (): void => void (state.withinRate = false), 'left'],
  ['a server closing', {}, (): void => void (state.closing = true), 'left'],
] as const)('%s: %s', async (_name, request, arrange, expected) => {
  Object.assign(state, { caller: 'app', withinRate: true, closing: false });
  arrange();
  const r = request as { path?: string; method?: string; body?: string; headers?: Record<string, string | number> };
  const answer = await send(r.path ?? '/v1/check', r.method ?? 'POST', r.body ?? body, r.headers ?? json);
  if (expected === 'left') expect(answer).toEqual({ status: 299, body: 'left' });
  else expect([answer.status, Object.keys(JSON.parse(answer.body)).sort()]).toEqual([200, ['decision', 'reason', 'validUntil']]);
});

it('refuses a body it took that is not JSON, or not a check, with a code', async () => {
  Object.assign(state, { caller: 'app', withinRate: true, closing: false });
  refusals.length = 0;
  const malformed = await send('/v1/check', 'POST', '{"a":', { 'content-type': 'application/json', 'content-length': 5 });
  const invalid = await send('/v1/check', 'POST', '{"a":1}', { 'content-type': 'application/json', 'content-length': 7 });
  expect([malformed.status, JSON.parse(malformed.body).error.code]).toEqual([400, 'malformed-json']);
  expect([invalid.status, JSON.parse(invalid.body).error.code]).toEqual([400, 'invalid-request']);
  expect(refusals).toEqual([ErrorCode.MalformedJson, ErrorCode.InvalidRequest]);
});

describe('answerJson', () => {
  const validUntil = '2026-06-01T00:00:01.000Z';
  it.each(DECISION_REASONS.flatMap((reason) => (['allow', 'deny'] as const).map((decision) => ({ decision, reason, validUntil }))))(
    'writes $decision / $reason as JSON.stringify does',
    (answer) => {
      expect(answerJson(answer)).toBe(JSON.stringify(answer));
    },
  );
  it.each(['support-1', 'grant "quoted" \\ name', 'grant-é'])('writes an answer naming grant %j as JSON.stringify does', (grant) => {
    const answer: CheckAnswer = { decision: 'allow', reason: 'support-grant-allows', validUntil, grant };
    expect(answerJson(answer)).toBe(JSON.stringify(answer));
  });
});
