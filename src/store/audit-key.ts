// The audit key: entries and checkpoints are authenticated with HMAC-SHA256
// under a key the identity store never holds (a mounted Secret, a file or an
// environment variable), so whoever can write to the database can still
// delete or rewrite rows but cannot make a rewritten log verify.
// docs/adr/0010-audit-authentication.md says why HMAC and how rotation works.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../util/errors.js';

/** Environment variable holding the keyring text itself. */
export const AUDIT_KEY_ENV = 'GATEHOUSE_AUDIT_KEY';
/** Environment variable naming a file (a mounted Secret) holding the keyring. */
export const AUDIT_KEY_FILE_ENV = 'GATEHOUSE_AUDIT_KEY_FILE';

/** Shortest key accepted, in bytes (HMAC-SHA256's block-size guidance: at least the hash length). */
export const MIN_AUDIT_KEY_BYTES = 32;

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export class AuditKeyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditKeyError';
  }
}

export interface AuditKey {
  id: string;
  secret: Buffer;
}

/**
 * One signing key (the first) and the keys still accepted when verifying
 * (older ones kept after a rotation).
 */
export class AuditKeyring {
  readonly #byId: Map<string, AuditKey>;

  constructor(readonly keys: readonly AuditKey[]) {
    if (keys.length === 0) throw new AuditKeyError('an audit keyring needs at least one key');
    this.#byId = new Map(keys.map((k) => [k.id, k]));
    if (this.#byId.size !== keys.length) throw new AuditKeyError('the audit keyring names the same key id twice; give each key its own id');
  }

  /** The key new entries and checkpoints are signed with. */
  get signing(): AuditKey {
    return this.keys[0] as AuditKey;
  }

  get(id: string): AuditKey | undefined {
    return this.#byId.get(id);
  }
}

/** The id of a key given without one: a fingerprint, so it names the key without revealing it. */
export function keyFingerprint(secret: Buffer): string {
  return `k-${createHash('sha256').update('gatehouse-audit-key-id/v1').update(secret).digest('hex').slice(0, 12)}`;
}

function decodeSecret(text: string, where: string): Buffer {
  const secret = /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (secret.length < MIN_AUDIT_KEY_BYTES) {
    throw new AuditKeyError(
      `${where}: the audit key is ${secret.length} bytes; use at least ${MIN_AUDIT_KEY_BYTES} random bytes in base64 or hex (openssl rand -base64 32)`,
    );
  }
  return secret;
}

/**
 * Reads a keyring: one key a line, `SECRET` or `KEY-ID SECRET` (base64 or
 * hex), the first line signing, the others only verifying. `#` starts a comment.
 */
export function parseAuditKeyring(text: string, source: string): AuditKeyring {
  const keys: AuditKey[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const where = `${source} line ${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length > 2) throw new AuditKeyError(`${where}: write one key a line as SECRET or KEY-ID SECRET`);
    const [first, second] = parts as [string, string | undefined];
    if (second !== undefined && !KEY_ID_PATTERN.test(first)) {
      throw new AuditKeyError(`${where}: key id "${first}" may use only letters, digits, ".", "_" and "-" (at most 64)`);
    }
    const secret = decodeSecret(second ?? first, where);
    keys.push({ id: second !== undefined ? first : keyFingerprint(secret), secret });
  }
  if (keys.length === 0) throw new AuditKeyError(`${source} holds no audit key; write one key a line as SECRET or KEY-ID SECRET`);
  return new AuditKeyring(keys);
}

/**
 * The keyring a file names, else $GATEHOUSE_AUDIT_KEY_FILE, else
 * $GATEHOUSE_AUDIT_KEY; undefined when none is configured.
 */
export function loadAuditKeyring(file: string | undefined, env: NodeJS.ProcessEnv = process.env): AuditKeyring | undefined {
  const path = file ?? (env[AUDIT_KEY_FILE_ENV] ? env[AUDIT_KEY_FILE_ENV] : undefined);
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new AuditKeyError(`cannot read the audit key file ${path}: ${errorMessage(err)}`, { cause: err });
    }
    return parseAuditKeyring(text, `audit key file ${path}`);
  }
  const inline = env[AUDIT_KEY_ENV];
  if (inline !== undefined && inline.trim() !== '') return parseAuditKeyring(inline, `$${AUDIT_KEY_ENV}`);
  return undefined;
}

function hmac(key: AuditKey, text: string): string {
  return createHmac('sha256', key.secret).update(text).digest('hex');
}

function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

// The entry's hash already covers its content, sequence and predecessor; the
// key id is bound too, so a MAC cannot be moved to another key's name.
function entryMacInput(keyId: string, hash: string): string {
  return `gatehouse-audit-entry/v1\n${keyId}\n${hash}`;
}

export function signEntry(key: AuditKey, hash: string): { keyId: string; mac: string } {
  return { keyId: key.id, mac: hmac(key, entryMacInput(key.id, hash)) };
}

export type MacCheck = 'ok' | 'unknown-key' | 'bad-mac';

export function checkEntryMac(keys: AuditKeyring, keyId: string, hash: string, mac: string): MacCheck {
  const key = keys.get(keyId);
  if (key === undefined) return 'unknown-key';
  return macEquals(hmac(key, entryMacInput(keyId, hash)), mac) ? 'ok' : 'bad-mac';
}

/** The head of the log at one instant, signed, to be kept outside the store. */
export interface AuditCheckpoint {
  kind: 'gatehouse.dev/audit-checkpoint';
  version: 1;
  seq: number;
  hash: string;
  /** When the checkpoint was made (RFC 3339). */
  at: string;
  keyId: string;
  mac: string;
}

function checkpointMacInput(keyId: string, seq: number, hash: string, at: string): string {
  return `gatehouse-audit-checkpoint/v1\n${keyId}\n${seq}\n${hash}\n${at}`;
}

export function signCheckpoint(key: AuditKey, head: { seq: number; hash: string }, at: Date): AuditCheckpoint {
  const iso = at.toISOString();
  return {
    kind: 'gatehouse.dev/audit-checkpoint',
    version: 1,
    seq: head.seq,
    hash: head.hash,
    at: iso,
    keyId: key.id,
    mac: hmac(key, checkpointMacInput(key.id, head.seq, head.hash, iso)),
  };
}

/** Reads a checkpoint printed by `gatehouse audit checkpoint` (JSON), naming the field at fault. */
export function parseCheckpoint(text: string, source: string): AuditCheckpoint {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AuditKeyError(`${source} is not a checkpoint: ${errorMessage(err)}; use the JSON gatehouse audit checkpoint prints`, { cause: err });
  }
  const c = value as Partial<AuditCheckpoint> | null;
  const fail = (field: string, want: string) => new AuditKeyError(`${source}: field "${field}" must be ${want}; use the JSON gatehouse audit checkpoint prints`);
  if (c === null || typeof c !== 'object') throw fail('kind', '"gatehouse.dev/audit-checkpoint"');
  if (c.kind !== 'gatehouse.dev/audit-checkpoint') throw fail('kind', '"gatehouse.dev/audit-checkpoint"');
  if (c.version !== 1) throw fail('version', '1');
  if (typeof c.seq !== 'number' || !Number.isInteger(c.seq) || c.seq < 0) throw fail('seq', 'a whole number');
  if (typeof c.hash !== 'string' || !/^[0-9a-f]{64}$/.test(c.hash)) throw fail('hash', '64 hex digits');
  if (typeof c.at !== 'string' || Number.isNaN(Date.parse(c.at))) throw fail('at', 'an RFC 3339 instant');
  if (typeof c.keyId !== 'string') throw fail('keyId', 'a key id');
  if (typeof c.mac !== 'string') throw fail('mac', 'a hex MAC');
  return c as AuditCheckpoint;
}

export function checkCheckpointMac(keys: AuditKeyring, checkpoint: AuditCheckpoint): MacCheck {
  const key = keys.get(checkpoint.keyId);
  if (key === undefined) return 'unknown-key';
  const expected = hmac(key, checkpointMacInput(checkpoint.keyId, checkpoint.seq, checkpoint.hash, checkpoint.at));
  return macEquals(expected, checkpoint.mac) ? 'ok' : 'bad-mac';
}
