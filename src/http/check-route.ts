// POST /v1/check served straight from node:http, ahead of fastify's router.
// It is the one call an application makes on every request it serves, and
// fastify's generic machinery (routing, async hook chains, the JSON body
// parser, reply decoration) cost as much as the decision itself (measured:
// about half of the time of an answered check). This path does only what a
// check needs, with the same pieces the fastify route uses: the same token
// lookup, the same rate-limit counter, the same compiled schema validator, the
// same error shapes. Anything out of the ordinary (no or unknown token, mTLS,
// a body without Content-Length, another media type, a client over its rate,
// tokens not loaded yet, the server closing) is left to fastify, which answers
// it as before.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ValidateFunction } from 'ajv';
import { parse as parseJson } from 'secure-json-parse';
import { ErrorCode, errorResponse, type CheckRequest } from './api.js';
import type { CheckAnswer, DecisionService } from './service.js';

export interface CheckRouteOptions {
  service: DecisionService;
  bodyLimit: number;
  /** The caller's name for a request whose token is known and valid, read without waiting; undefined otherwise. */
  callerOf(request: IncomingMessage): string | undefined;
  /** Counts the request against its client's rate; false when over it (or the client is not counted here). */
  withinRate(request: IncomingMessage): boolean;
  /** The route's compiled body validator, shared with the fastify route. */
  validate: ValidateFunction<CheckRequest>;
  /** The first validation problem, as the fastify route words it. */
  validationMessage(validate: ValidateFunction<CheckRequest>): string;
  /** An internal failure, mapped and logged as the fastify route does it. */
  failure(err: unknown): { status: number; code: ErrorCode; message: string };
  onAnswer(answer: CheckAnswer): void;
  onRefusal(code: ErrorCode): void;
  closing(): boolean;
}

const JSON_PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/**
 * The answer as JSON, as JSON.stringify writes it. Without a grant its fields are an enumerated
 * word, a reason from DecisionReason and an RFC 3339 time, none with a character to escape, so the
 * text is put together directly (JSON.stringify of the object was a measurable share of a check).
 */
export function answerJson(answer: CheckAnswer): string {
  if (answer.grant !== undefined) return JSON.stringify(answer);
  return `{"decision":"${answer.decision}","reason":"${answer.reason}","validUntil":"${answer.validUntil}"}`;
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Returns a handler that answers a check itself and returns true, or returns false and leaves the request untouched. */
export function checkRoute(options: CheckRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const refuse = (res: ServerResponse, status: number, code: ErrorCode, message: string) => {
    options.onRefusal(code);
    reply(res, status, JSON.stringify(errorResponse(code, message)));
  };
  const answered = (res: ServerResponse, answer: CheckAnswer) => {
    options.onAnswer(answer);
    reply(res, 200, answerJson(answer));
  };
  const failed = (res: ServerResponse, err: unknown) => {
    const { status, code, message } = options.failure(err);
    refuse(res, status, code, message);
  };

  return (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/check' || options.closing()) return false;
    const type = req.headers['content-type'];
    const declared = req.headers['content-length'];
    if (type === undefined || !JSON_MEDIA_TYPE.test(type) || declared === undefined) return false;
    const length = Number(declared);
    if (!Number.isInteger(length) || length <= 0 || length > options.bodyLimit) return false;
    const caller = options.callerOf(req);
    if (caller === undefined || !options.withinRate(req)) return false;

    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Node stops at Content-Length; a chunk past it cannot arrive, but the limit is kept regardless.
      if (received <= options.bodyLimit) chunks.push(chunk);
    });
    req.on('end', () => {
      if (received !== length) return refuse(res, 400, ErrorCode.MalformedJson, 'the request body is not valid JSON');
      let body: unknown;
      try {
        // fastify's own JSON parser and settings: a __proto__ or constructor.prototype key is refused alike.
        body = parseJson(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'), undefined, JSON_PARSE_OPTIONS);
      } catch {
        return refuse(res, 400, ErrorCode.MalformedJson, 'the request body is not valid JSON');
      }
      if (!options.validate(body)) return refuse(res, 400, ErrorCode.InvalidRequest, options.validationMessage(options.validate));
      let answer: CheckAnswer | Promise<CheckAnswer>;
      try {
        answer = options.service.answer(body, `api:${caller}`);
      } catch (err) {
        return failed(res, err);
      }
      if (answer instanceof Promise) {
        answer.then(
          (a) => answered(res, a),
          (err: unknown) => failed(res, err),
        );
        return undefined;
      }
      return answered(res, answer);
    });
    return true;
  };
}
