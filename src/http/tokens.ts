// Bearer tokens of the decision API. A token is shown once, when created;
// the store keeps its SHA-256 only, so a copy of the store lets nobody in.
// Creating and revoking are audited; a revoked token stops working within a
// second (the API's cache drops on any store change).
import { hash, randomBytes } from 'node:crypto';
import { appendAudit } from '../store/audit.js';
import { readTime } from '../store/convert.js';
import { newId } from '../store/ids.js';
import type { Store } from '../store/store.js';

/** Recognisable in logs and secret scanners; the rest is 256 random bits. */
export const TOKEN_PREFIX = 'ghd_';
const TOKEN_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type TokenErrorCode = 'TokenNameInvalid' | 'TokenExists' | 'TokenNotFound';

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export function hashApiToken(token: string): string {
  return hash('sha256', token, 'hex');
}

export interface ApiTokenInfo {
  name: string;
  createdBy: string;
  createdAt: string;
  revokedAt?: string;
}

/** Creates a token and returns it in plain text; it cannot be read again. */
export async function createApiToken(store: Store, request: { name: string; actor: string; at: Date }): Promise<string> {
  if (!TOKEN_NAME.test(request.name)) {
    throw new TokenError('TokenNameInvalid', `token name "${request.name}" is not valid: use lower-case letters, digits and dashes, like billing-app`);
  }
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const at = request.at.toISOString();
  await store.write(async (trx) => {
    const existing = await trx.selectFrom('api_tokens').select('name').where('name', '=', request.name).executeTakeFirst();
    if (existing !== undefined) {
      throw new TokenError('TokenExists', `a token named "${request.name}" exists; revoke it first or choose another name`);
    }
    await trx
      .insertInto('api_tokens')
      .values({ token_id: newId(request.at.getTime()), name: request.name, token_hash: hashApiToken(token), created_by: request.actor, created_at: at, revoked_at: null })
      .execute();
    await appendAudit(trx, [{ at, actor: request.actor, action: 'apitoken.create', after: { name: request.name }, reason: `decision API token ${request.name} created` }]);
  });
  return token;
}

/** Revokes a token by name. Revoking an already revoked token is not an error. */
export async function revokeApiToken(store: Store, request: { name: string; actor: string; at: Date }): Promise<void> {
  const at = request.at.toISOString();
  await store.write(async (trx) => {
    const row = await trx.selectFrom('api_tokens').select(['name', 'revoked_at']).where('name', '=', request.name).executeTakeFirst();
    if (row === undefined) throw new TokenError('TokenNotFound', `there is no token named "${request.name}"; gatehouse token list shows them`);
    if (row.revoked_at !== null) return;
    await trx.updateTable('api_tokens').set({ revoked_at: at }).where('name', '=', request.name).execute();
    await appendAudit(trx, [{ at, actor: request.actor, action: 'apitoken.revoke', after: { name: request.name, revokedAt: at }, reason: `decision API token ${request.name} revoked` }]);
  });
}

export async function listApiTokens(store: Store): Promise<ApiTokenInfo[]> {
  const rows = await store.db.selectFrom('api_tokens').select(['name', 'created_by', 'created_at', 'revoked_at']).orderBy('name').execute();
  return rows.map((r) => ({
    name: r.name,
    createdBy: r.created_by,
    createdAt: readTime(r.created_at),
    ...(r.revoked_at !== null ? { revokedAt: readTime(r.revoked_at) } : {}),
  }));
}
