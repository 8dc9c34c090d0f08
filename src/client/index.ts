// A small typed client of the decision API for Node applications:
//   import { GatehouseClient } from 'gatehouse/client';
//   const gatehouse = new GatehouseClient({ baseUrl: 'https://gatehouse:8090', token: process.env.GATEHOUSE_TOKEN });
//   const { decision, reason } = await gatehouse.check({ workspace, subject, permission, ip, loginMethod, mfa, idleSeconds });
// Answers may be cached (`cache: true`), never past their validUntil.
// It depends on nothing but fetch; its types come from the server's schemas.
import type {
  AcceptInvitationRequest,
  AcceptInvitationResponse,
  CheckRequest,
  CheckResponse,
  ErrorCode,
  LoginRequest,
  LoginResponse,
  MemberListing,
  PendingInvitation,
} from '../http/api.js';

export type { AcceptInvitationRequest, AcceptInvitationResponse, CheckRequest, CheckResponse, ErrorCode, LoginRequest, LoginResponse, MemberListing, PendingInvitation };

export interface GatehouseClientOptions {
  /** Where `gatehouse serve` listens, such as https://gatehouse.internal:8090. */
  baseUrl: string;
  /** A token from `gatehouse token create`. */
  token: string;
  /** Keep answers until their validUntil (default false). */
  cache?: boolean;
  /** Give up on a request after this long (default 2000 ms). */
  timeoutMs?: number;
  /** The time source for the cache (tests pass a manual clock). */
  now?: () => number;
  fetch?: typeof fetch;
}

/** A refusal from the API (4xx or 5xx) with its stable code. */
export class GatehouseApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'unreachable',
    message: string,
  ) {
    super(message);
    this.name = 'GatehouseApiError';
  }
}

export class GatehouseClient {
  readonly #base: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #cache: Map<string, CheckResponse> | undefined;

  constructor(options: GatehouseClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? fetch;
    this.#cache = options.cache ? new Map() : undefined;
  }

  /** May the subject do the permission now? A denial is an answer, not an error. */
  async check(request: CheckRequest): Promise<CheckResponse> {
    const key = this.#cache !== undefined ? JSON.stringify(Object.entries(request).sort(([a], [b]) => a.localeCompare(b))) : '';
    const cached = this.#cache?.get(key);
    if (cached !== undefined) {
      if (Date.parse(cached.validUntil) > this.#now()) return cached;
      this.#cache?.delete(key);
    }
    const answer = await this.#call<CheckResponse>('POST', '/v1/check', request);
    if (this.#cache !== undefined) {
      // Drop expired answers now and then so the cache stays small.
      if (this.#cache.size > 10_000) for (const [k, v] of this.#cache) if (Date.parse(v.validUntil) <= this.#now()) this.#cache.delete(k);
      this.#cache.set(key, answer);
    }
    return answer;
  }

  acceptInvitation(request: AcceptInvitationRequest): Promise<AcceptInvitationResponse> {
    return this.#call('POST', '/v1/invitations/accept', request);
  }

  /** Takes invitations waiting to be mailed: each token is handed out once. */
  async pendingInvitations(limit = 100): Promise<PendingInvitation[]> {
    return (await this.#call<{ invitations: PendingInvitation[] }>('GET', `/v1/invitations/pending?limit=${encodeURIComponent(String(limit))}`)).invitations;
  }

  /** Checks a sign-in against the workspace policy; an allowed one is recorded. A refused one answers deny with the reason. */
  recordLogin(request: LoginRequest): Promise<LoginResponse> {
    return this.#call('POST', '/v1/logins', request, [403]);
  }

  async members(workspace: string, search?: string): Promise<MemberListing[]> {
    const query = search !== undefined ? `?search=${encodeURIComponent(search)}` : '';
    return (await this.#call<{ members: MemberListing[] }>('GET', `/v1/workspaces/${encodeURIComponent(workspace)}/members${query}`)).members;
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown, answers: readonly number[] = []): Promise<T> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new GatehouseApiError(0, 'unreachable', `cannot reach Gatehouse at ${this.#base}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const payload = (await response.json().catch(() => undefined)) as { error?: { code: ErrorCode; message: string } } | undefined;
    if (response.ok || answers.includes(response.status)) return payload as T;
    throw new GatehouseApiError(
      response.status,
      payload?.error?.code ?? 'internal',
      payload?.error?.message ?? `Gatehouse answered ${response.status} to ${method} ${path}`,
    );
  }
}
