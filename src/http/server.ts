// The decision API over HTTP (fastify): bearer tokens checked against their
// hashes, request bodies validated strictly (unknown fields refused), a body
// size limit and a rate limit per client address, and every refusal a 4xx
// with a stable code and a message, never a stack trace.
import { hash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { isIPv4, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { ErrorObject, ValidateFunction } from 'ajv';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, Registry } from 'prom-client';
import { acceptInvitation, InvitationError, MemberNotFoundError, recordLogin, takeInvitationsToDeliver, type InvitationErrorCode } from '../app/index.js';
import { normalizeEmail } from '../reconcile/records.js';
import { newAjv } from '../model/schema-validator.js';
import { readOptionalTime } from '../store/convert.js';
import { listMembers } from '../store/queries.js';
import { errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import {
  AcceptInvitationRequestSchema,
  CheckRequestSchema,
  CheckResponseSchema,
  ErrorCode,
  errorResponse,
  LoginRequestSchema,
  MembersParamsSchema,
  MembersQuerySchema,
  openApiDocument,
  PendingInvitationsQuerySchema,
  SamlAcsRequestSchema,
  SamlParamsSchema,
  type SamlAcsRequest,
  type SamlAcsResponse,
  type AcceptInvitationRequest,
  type AcceptInvitationResponse,
  type CheckRequest,
  type LoginRequest,
  type LoginResponse,
  type MembersResponse,
  type PendingInvitationsResponse,
} from './api.js';
import { checkRoute } from './check-route.js';
import { decideLogin, type DecisionReason } from './decide.js';
import { SamlError, serviceProviderMetadata, verifySamlResponse, type WorkspaceSaml } from './saml.js';
import type { TokenFacts } from './facts.js';
import type { CheckAnswer, DecisionService } from './service.js';

// The rate-limit plugin's own in-memory counter (CommonJS, not in its typed exports), made here
// so that the check route (./check-route.ts) counts on the very same one.
const LocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => FastifyRateLimitStore;
/** Client addresses the rate limit remembers (the plugin's default). */
const RATE_LIMIT_CLIENTS = 5000;
/** The rate limit counts requests per client in windows of this length. */
const RATE_LIMIT_WINDOW_MS = 1000;

/**
 * The rate-limit key of a client the check route counts, as the plugin keys it: an IPv4 address,
 * also when it reaches an IPv6 socket mapped (::ffff:a.b.c.d). Other IPv6 clients, whose key the
 * plugin derives from their subnet, are left to the plugin (undefined).
 */
function ipv4Key(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (isIPv4(address)) return address;
  const mapped = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : undefined;
  return mapped !== undefined && isIPv4(mapped) ? mapped : undefined;
}

/** The token's name, or why it is refused. */
function tokenCaller(tokens: ReadonlyMap<string, TokenFacts>, tokenHash: string): string | ApiError {
  const token = tokens.get(tokenHash);
  if (token === undefined) return new ApiError(401, ErrorCode.Unauthenticated, 'the token is not known; create one with gatehouse token create');
  if (token.revoked) return new ApiError(401, ErrorCode.TokenRevoked, `the token ${token.name} was revoked; create a new one with gatehouse token create`);
  return token.name;
}

/** Largest request body accepted; a decision request is a few hundred bytes. */
export const DEFAULT_BODY_LIMIT = 16 * 1024;
export const DEFAULT_RATE_LIMIT_PER_SECOND = 5000;
export const API_VERSION = '0.1.0';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface DecisionServerOptions {
  service: DecisionService;
  logger?: Logger;
  bodyLimit?: number;
  /** Requests per second per client address; 0 turns the limit off. */
  rateLimitPerSecond?: number;
  /** Readiness beyond the store answering (the change watcher). */
  ready?: () => boolean;
  /**
   * HTTPS. With `clientCa`, a client may instead present a certificate that CA signed (mTLS):
   * it is then known by its certificate's common name and needs no token.
   */
  https?: { key: string | Buffer; cert: string | Buffer; clientCa?: string | Buffer };
  /**
   * The URL the application and identity providers reach Gatehouse at; the
   * SAML service provider's entity id and ACS URL derive from it. Default:
   * the scheme and Host of each request.
   */
  publicUrl?: string;
}

const INVITATION_STATUS: Record<InvitationErrorCode, [number, ErrorCode]> = {
  InvitationNotFound: [404, ErrorCode.InvitationNotFound],
  InvitationAlreadyAccepted: [409, ErrorCode.InvitationAlreadyAccepted],
  InvitationExpired: [410, ErrorCode.InvitationExpired],
  InvitationEmailMismatch: [403, ErrorCode.InvitationEmailMismatch],
  MemberAccessExpired: [403, ErrorCode.MemberAccessExpired],
  MemberNotFound: [404, ErrorCode.SubjectUnknown],
};

function send(reply: FastifyReply, status: number, code: ErrorCode, message: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send(errorResponse(code, message));
}

/** The first validation problem, naming the field and what to do. */
function describeValidation(errors: readonly ErrorObject[] | null | undefined, where: string, fallback: string): string {
  const first = errors?.[0];
  if (first === undefined) return fallback;
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'additionalProperties') return `${where} has the unknown field "${String(params.additionalProperty)}"; remove it`;
  if (first.keyword === 'required') return `${where} lacks the required field "${String(params.missingProperty)}"`;
  const field = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return `${where}${field !== '' ? `.${field}` : ''} ${first.message ?? 'is not valid'}`;
}

function validationMessage(err: FastifyError): string {
  return describeValidation(err.validation as ErrorObject[] | undefined, err.validationContext ?? 'body', err.message);
}

/** The check body's validator, compiled once and used by both the fastify route and the check route. */
function checkValidator(): ValidateFunction<CheckRequest> {
  // fastify's settings for every route here (see the ajv options below): no coercion, no defaults, nothing removed.
  return newAjv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false }).compile<CheckRequest>(CheckRequestSchema);
}

function mapError(err: FastifyError | Error, logger: Logger): { status: number; code: ErrorCode; message: string } {
  if (err instanceof ApiError) return { status: err.statusCode, code: err.code, message: err.message };
  if (err instanceof InvitationError) {
    const [status, code] = INVITATION_STATUS[err.code];
    return { status, code, message: err.message };
  }
  if (err instanceof SamlError) {
    const status = err.code === 'saml-not-configured' ? 404 : err.code === 'saml-replayed' ? 409 : 401;
    return { status, code: err.code, message: err.message };
  }
  if (err instanceof MemberNotFoundError) return { status: 404, code: ErrorCode.SubjectUnknown, message: err.message };
  const f = err as FastifyError;
  if (f.validation !== undefined) return { status: 400, code: ErrorCode.InvalidRequest, message: validationMessage(f) };
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: ErrorCode.BodyTooLarge, message: 'the request body is too large; a request is a few hundred bytes' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: ErrorCode.UnsupportedMediaType, message: 'send the body as application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: ErrorCode.MalformedJson, message: 'the request body is not valid JSON' };
  }
  if (f.statusCode === 429) return { status: 429, code: ErrorCode.RateLimited, message: 'too many requests; slow down and retry after the time in Retry-After' };
  if (f.statusCode !== undefined && f.statusCode >= 400 && f.statusCode < 500) {
    return { status: f.statusCode, code: f instanceof SyntaxError ? ErrorCode.MalformedJson : ErrorCode.InvalidRequest, message: f.message };
  }
  // Anything else is ours or the store's: logged with its cause, answered without detail.
  logger.error({ err: errorMessage(err) }, 'request failed');
  return { status: 503, code: ErrorCode.StoreUnavailable, message: 'the identity store cannot answer now; retry shortly' };
}

/** The common name of a client certificate the client CA verified, when mTLS is on. */
function clientCertificateName(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function' || socket.authorized !== true) return undefined;
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function bearerHash(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] === undefined ? undefined : hash('sha256', match[1], 'hex');
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Name of the API token the request was made with. */
    caller?: string;
  }
}

export async function buildDecisionServer(options: DecisionServerOptions): Promise<FastifyInstance> {
  const logger = options.logger ?? silentLogger();
  const { service } = options;
  // Set once the routes exist (below): POST /v1/check answered ahead of fastify's router.
  let takeCheck: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  const https = options.https;
  const serverFactory = (handler: RequestListener, settings: { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number }): Server => {
    const route: RequestListener = (req, res) => {
      if (takeCheck?.(req, res) !== true) handler(req, res);
    };
    const server =
      https !== undefined
        ? createHttpsServer(
            {
              key: https.key,
              cert: https.cert,
              // A client without a certificate may still connect and use a token; an unverified one is not trusted.
              ...(https.clientCa !== undefined ? { ca: https.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
            },
            route,
          )
        : createHttpServer(route);
    // What fastify sets on a server it makes itself.
    server.keepAliveTimeout = settings.keepAliveTimeout;
    server.requestTimeout = settings.requestTimeout;
    server.setTimeout(settings.connectionTimeout);
    return server;
  };
  // HTTPS changes the server's type (made above), not what the routes do.
  const app: FastifyInstance = (Fastify as unknown as (o: object) => FastifyInstance)({
    serverFactory,
    loggerInstance: logger as FastifyBaseLogger,
    // Request lines carry emails in query strings; the audit log is where access is recorded.
    logController: new LogController({ disableRequestLogging: true }),
    // Nothing logs per request, so no child logger is made for each one (it cost a few per cent of a decision).
    childLoggerFactory: (parent: FastifyBaseLogger) => parent,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    // Errors fastify raises before routing (a bad URL encoding) get the same shape as the rest.
    frameworkErrors: (err: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const bad = err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_ASYNC_CONSTRAINT';
      void send(reply, bad ? 400 : 500, bad ? ErrorCode.InvalidRequest : ErrorCode.Internal, bad ? 'the URL is not valid: check its percent-encoding' : 'internal error');
    },
  });

  const validateCheck = checkValidator();
  const registry = new Registry();
  // Counted in plain numbers, one per answer and reason, and handed to prom-client when /metrics is
  // read: a labelled counter's inc() on every decision was a measurable share of a check.
  const decisionCounts = new Map<CheckAnswer['decision'], Map<DecisionReason, number>>([
    ['allow', new Map()],
    ['deny', new Map()],
  ]);
  new Counter({
    name: 'gatehouse_decisions_total',
    help: 'Access decisions by answer and reason.',
    labelNames: ['decision', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [decision, byReason] of decisionCounts) for (const [reason, count] of byReason) this.inc({ decision, reason }, count);
    },
  });
  const countDecision = (answer: CheckAnswer) => {
    const byReason = decisionCounts.get(answer.decision) as Map<DecisionReason, number>;
    byReason.set(answer.reason, (byReason.get(answer.reason) ?? 0) + 1);
  };
  const refusals = new Counter({ name: 'gatehouse_api_refusals_total', help: 'Requests refused, by error code.', labelNames: ['code'], registers: [registry] });

  app.setErrorHandler((err, _request, reply) => {
    const { status, code, message } = mapError(err as FastifyError, logger);
    refusals.inc({ code });
    return send(reply, status, code, message);
  });
  app.setNotFoundHandler((request, reply) => {
    refusals.inc({ code: ErrorCode.NotFound });
    return send(reply, 404, ErrorCode.NotFound, `no such endpoint: ${request.method} ${request.url.split('?')[0]}; see /openapi.json`);
  });

  const perSecond = options.rateLimitPerSecond ?? DEFAULT_RATE_LIMIT_PER_SECOND;
  const limiter = new LocalStore(false, false, RATE_LIMIT_CLIENTS);
  if (perSecond > 0) {
    // Keyed by client address (the plugin's default key). The X-RateLimit-* headers go out only with
    // a 429 (with Retry-After): on every answer they were three more headers to write per decision.
    await app.register(rateLimit, {
      max: perSecond,
      timeWindow: RATE_LIMIT_WINDOW_MS,
      // The plugin builds its store with `new`; this one hands it the counter the check route shares.
      store: function SharedCounter() {
        return limiter;
      } as unknown as FastifyRateLimitStoreCtor,
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    });
  }

  app.get('/healthz', { config: { rateLimit: false } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { rateLimit: false } }, async (_request, reply) => {
    try {
      await service.store.db.selectFrom('workspaces').select('workspace_id').limit(1).execute();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'not ready: the store does not answer');
      return send(reply, 503, ErrorCode.StoreUnavailable, 'the identity store does not answer');
    }
    if (options.ready !== undefined && !options.ready()) return send(reply, 503, ErrorCode.StoreUnavailable, 'store changes are not being watched yet');
    return { status: 'ready' };
  });
  app.get('/metrics', { config: { rateLimit: false } }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  const baseUrl = (request: FastifyRequest) => options.publicUrl?.replace(/\/+$/, '') ?? `${request.protocol}://${request.host}`;
  const samlOf = async (workspaceId: string): Promise<WorkspaceSaml> => {
    const row = await service.store.db
      .selectFrom('workspaces')
      .select(['saml_idp_entity_id', 'saml_sso_url', 'saml_signing_certificate'])
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (row === undefined) throw new ApiError(404, ErrorCode.WorkspaceUnknown, `there is no workspace ${workspaceId}; check the workspace id`);
    if (row.saml_idp_entity_id === null || row.saml_sso_url === null || row.saml_signing_certificate === null) {
      throw new SamlError('saml-not-configured', `workspace ${workspaceId} has no SAML identity provider: set spec.sso.saml on its Workspace`);
    }
    return { workspaceId, idpEntityId: row.saml_idp_entity_id, ssoUrl: row.saml_sso_url, signingCertificate: row.saml_signing_certificate };
  };
  // Public: an identity provider's administrator loads it.
  app.get<{ Params: { id: string } }>('/v1/workspaces/:id/saml/metadata', { schema: { params: SamlParamsSchema } }, async (request, reply) => {
    const saml = await samlOf(request.params.id);
    reply.header('content-type', 'application/samlmetadata+xml; charset=utf-8');
    return serviceProviderMetadata(saml, baseUrl(request), service.clock);
  });

  const document = openApiDocument(API_VERSION);
  app.get('/openapi.json', async () => document);

  await app.register(async (v1) => {
    // Callback style, and no wait when the tokens are in memory: this runs before every request.
    v1.addHook('onRequest', (request, _reply, done) => {
      const tokenHash = bearerHash(request.headers.authorization);
      if (tokenHash === undefined && options.https?.clientCa !== undefined) {
        const name = clientCertificateName(request);
        if (name !== undefined) {
          request.caller = `mtls:${name}`;
          done();
          return;
        }
      }
      if (tokenHash === undefined) {
        done(new ApiError(401, ErrorCode.Unauthenticated, 'send a token from gatehouse token create as "Authorization: Bearer TOKEN"'));
        return;
      }
      const authenticate = (tokens: ReadonlyMap<string, TokenFacts>) => {
        const caller = tokenCaller(tokens, tokenHash);
        if (caller instanceof ApiError) return caller;
        request.caller = caller;
        return undefined;
      };
      const tokens = service.facts.peekTokens();
      if (tokens !== undefined) {
        done(authenticate(tokens));
        return;
      }
      service.facts.tokens().then((loaded) => done(authenticate(loaded)), done);
    });

    // The response schema makes serialisation a compiled function and keeps anything else out of the answer.
    // This route answers what the check route (below) leaves to fastify, with the same validator.
    v1.post<{ Body: CheckRequest }>('/check', { schema: { body: CheckRequestSchema, response: { 200: CheckResponseSchema } }, validatorCompiler: () => validateCheck }, (request, reply) => {
      reply.header('cache-control', 'no-store');
      const answer = service.answer(request.body, `api:${request.caller ?? 'unknown'}`);
      if (answer instanceof Promise) {
        return answer.then((a) => {
          countDecision(a);
          return a;
        });
      }
      // A member's decision on facts in memory is answered in this very turn of the event loop.
      countDecision(answer);
      void reply.send(answer);
      return undefined;
    });

    v1.post<{ Body: AcceptInvitationRequest }>('/invitations/accept', { schema: { body: AcceptInvitationRequestSchema } }, async (request): Promise<AcceptInvitationResponse> => {
      const accepted = await acceptInvitation(service.store, { ...request.body, at: service.clock.now(), actor: `api:${request.caller}` });
      service.facts.invalidate();
      return { workspace: accepted.workspaceId, email: accepted.email, role: accepted.roleId, acceptedAt: accepted.acceptedAt.toISOString() };
    });

    v1.get<{ Querystring: { limit?: string } }>(
      '/invitations/pending',
      { schema: { querystring: PendingInvitationsQuerySchema } },
      async (request, reply): Promise<PendingInvitationsResponse> => {
        const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
        const taken = await takeInvitationsToDeliver(service.store, limit, { at: service.clock.now(), actor: `api:${request.caller}` });
        reply.header('cache-control', 'no-store');
        return {
          invitations: taken.map((i) => ({
            workspace: i.workspaceId,
            email: i.email,
            displayName: i.displayName,
            role: i.roleId,
            sender: i.sender,
            expiresAt: i.expiresAt.toISOString(),
            token: i.token,
          })),
        };
      },
    );

    v1.post<{ Body: LoginRequest }>('/logins', { schema: { body: LoginRequestSchema } }, async (request, reply): Promise<LoginResponse> => {
      const body = request.body;
      const snapshot = await service.facts.workspace(body.workspace);
      if (snapshot === undefined) throw new ApiError(404, ErrorCode.WorkspaceUnknown, `there is no workspace ${body.workspace}; check the workspace id`);
      const email = normalizeEmail(body.email);
      const member = snapshot.members.get(email);
      if (member === undefined) throw new ApiError(404, ErrorCode.SubjectUnknown, `workspace ${body.workspace} has no member with this email`);
      const now = service.clock.now();
      const decision = decideLogin(snapshot.facts, member, body, now.getTime());
      if (decision.decision === 'deny') {
        reply.code(403);
        return { decision: 'deny', reason: decision.reason, recorded: false };
      }
      await recordLogin(service.store, { workspaceId: body.workspace, email, at: now, actor: `api:${request.caller}` });
      return { decision: 'allow', reason: decision.reason, recorded: true };
    });

    v1.post<{ Params: { id: string }; Body: SamlAcsRequest }>(
      '/workspaces/:id/saml/acs',
      { schema: { params: SamlParamsSchema, body: SamlAcsRequestSchema } },
      async (request, reply): Promise<SamlAcsResponse> => {
        const workspaceId = request.params.id;
        const saml = await samlOf(workspaceId);
        const verified = await verifySamlResponse(saml, baseUrl(request), service.clock, request.body.SAMLResponse);
        const now = service.clock.now();
        // One use per assertion: remembered until it could no longer be accepted anyway.
        const fresh = await service.store.write(async (trx) => {
          await trx.deleteFrom('saml_assertions_seen').where('expires_at', '<', now.toISOString()).execute();
          const seen = await trx.selectFrom('saml_assertions_seen').select('assertion_id').where('assertion_id', '=', verified.assertionId).executeTakeFirst();
          if (seen !== undefined) return false;
          await trx.insertInto('saml_assertions_seen').values({ assertion_id: verified.assertionId, workspace_id: workspaceId, expires_at: verified.rememberUntil.toISOString() }).execute();
          return true;
        });
        if (!fresh) throw new SamlError('saml-replayed', 'this SAML response was already used; sign in again through the identity provider');
        const snapshot = await service.facts.workspace(workspaceId);
        const email = normalizeEmail(verified.email);
        const member = snapshot?.members.get(email);
        if (member === undefined) throw new ApiError(404, ErrorCode.SubjectUnknown, `workspace ${workspaceId} has no member with the email the identity provider sent`);
        const decision = decideLogin(snapshot?.facts, member, { loginMethod: 'sso', mfa: request.body.mfa, ip: request.body.ip }, now.getTime());
        if (decision.decision === 'deny') {
          reply.code(403);
          return { email, decision: 'deny', reason: decision.reason, recorded: false };
        }
        await recordLogin(service.store, { workspaceId, email, at: now, actor: `api:${request.caller}` });
        return { email, decision: 'allow', reason: decision.reason, recorded: true };
      },
    );

    v1.get<{ Params: { id: string }; Querystring: { search?: string } }>(
      '/workspaces/:id/members',
      { schema: { params: MembersParamsSchema, querystring: MembersQuerySchema } },
      async (request): Promise<MembersResponse> => {
        const workspaceId = request.params.id;
        const exists = await service.store.db.selectFrom('workspaces').select('workspace_id').where('workspace_id', '=', workspaceId).executeTakeFirst();
        if (exists === undefined) throw new ApiError(404, ErrorCode.WorkspaceUnknown, `there is no workspace ${workspaceId}; check the workspace id`);
        const members = await listMembers(service.store.db, { workspaceId, ...(request.query.search !== undefined ? { search: request.query.search } : {}) });
        return {
          members: members.map((m) => ({
            email: m.email,
            displayName: m.displayName,
            phone: m.phone ?? null,
            role: m.roleId ?? null,
            loginType: m.loginType,
            state: m.state,
            expiresAt: readOptionalTime(m.expiresAt) ?? null,
            lastLoginAt: readOptionalTime(m.lastLoginAt) ?? null,
          })),
        };
      },
    );
  }, { prefix: '/v1' });

  let closing = false;
  let lastAuthorization: { header: string | undefined; tokenHash: string | undefined } = { header: undefined, tokenHash: undefined };
  const rateKeys = new WeakMap<Socket, string | undefined>();
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  takeCheck = checkRoute({
    service,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    callerOf: (req) => {
      // A token the cache already holds; anything else (mTLS, tokens still loading, a refusal) is fastify's to answer.
      const tokens = service.facts.peekTokens();
      const header = req.headers.authorization;
      if (tokens === undefined || header === undefined) return undefined;
      // An application sends the same header on every call: its hash is kept, not worked out again.
      if (header !== lastAuthorization.header) lastAuthorization = { header, tokenHash: bearerHash(header) };
      const { tokenHash } = lastAuthorization;
      if (tokenHash === undefined) return undefined;
      const caller = tokenCaller(tokens, tokenHash);
      return caller instanceof ApiError ? undefined : caller;
    },
    withinRate: (req) => {
      if (perSecond <= 0) return true;
      // A keep-alive connection sends many checks from one address: its key is worked out once.
      let key = rateKeys.get(req.socket);
      if (!rateKeys.has(req.socket)) {
        key = ipv4Key(req.socket.remoteAddress);
        rateKeys.set(req.socket, key);
      }
      if (key === undefined) return false;
      let within = false;
      // The plugin's local store answers at once, in this call.
      limiter.incr(key, (err, result) => (within = err === null && result !== undefined && result.current <= perSecond), RATE_LIMIT_WINDOW_MS, perSecond);
      return within;
    },
    validate: validateCheck,
    validationMessage: (validate) => describeValidation(validate.errors, 'body', 'body is not valid'),
    failure: (err) => mapError(err instanceof Error ? err : new Error(String(err)), logger),
    onAnswer: countDecision,
    onRefusal: (code) => refusals.inc({ code }),
    closing: () => closing,
  });
  return app;
}

export interface RunningDecisionServer {
  url: string;
  port: number;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startDecisionServer(options: DecisionServerOptions & { host: string; port: number }): Promise<RunningDecisionServer> {
  const app = await buildDecisionServer(options);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const scheme = options.https !== undefined ? 'https' : 'http';
  return { url: `${scheme}://${host}:${address.port}`, port: address.port, app, close: () => app.close() };
}
