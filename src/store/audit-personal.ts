// Personal data in the audit log: emails, names and phone numbers are kept
// beside the chain, not in it. The chained entry holds "[personal]" where they
// were and a salted digest of them; the values live in audit_personal, where
// an erasure request can delete them (gatehouse audit redact) and the chain
// still verifies. The salt is deleted with the values, so the digest left
// behind cannot be matched against a guessed email.
import { hash as sha256, randomBytes } from 'node:crypto';
import { canonicalJson } from '../reconcile/canonical-json.js';

/** Actions (by prefix) whose entries are about a person: a member, an invitation, a support grant's agents. */
const PERSONAL_TARGETS = ['member.', 'invitation.', 'supportgrant.'];

/** Top-level fields of such an entry's before/after that name or reach a person. */
export const PERSONAL_FIELDS: ReadonlySet<string> = new Set(['email', 'displayName', 'phone', 'scopeMemberEmail', 'agents']);

/** What stands in the chained entry where a personal value was. */
export const PERSONAL_MARK = '[personal]';
/** What a reader sees where a personal value was erased. */
export const REDACTED_MARK = '[redacted]';

const EMAIL_PATTERN = /[^\s"'<>(),;:@]+@[^\s"'<>(),;:@]+\.[^\s"'<>(),;:@]+/g;

export interface PersonalRecord {
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** The reason as written, when it named a person. */
  reason?: string;
}

export interface PersonalSplit {
  before: unknown;
  after: unknown;
  reason: string;
  personal?: PersonalRecord;
}

function pull(value: unknown, values: string[]): { kept: unknown; taken?: Record<string, unknown> } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kept: value };
  let taken: Record<string, unknown> | undefined;
  const kept: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (PERSONAL_FIELDS.has(key) && field !== undefined && field !== null) {
      (taken ??= {})[key] = field;
      kept[key] = PERSONAL_MARK;
      for (const v of Array.isArray(field) ? field : [field]) if (typeof v === 'string' && v.length >= 3) values.push(v);
    } else {
      kept[key] = field;
    }
  }
  return taken === undefined ? { kept: value } : { kept, taken };
}

/** Moves personal values out of an entry's before, after and reason. */
export function splitPersonal(action: string, before: unknown, after: unknown, reason: string): PersonalSplit {
  const values: string[] = [];
  const aboutPerson = PERSONAL_TARGETS.some((prefix) => action.startsWith(prefix));
  const b = aboutPerson ? pull(before, values) : { kept: before };
  const a = aboutPerson ? pull(after, values) : { kept: after };
  let masked = reason;
  for (const v of values.sort((x, y) => y.length - x.length)) if (masked.includes(v)) masked = masked.split(v).join(PERSONAL_MARK);
  if (masked.includes('@')) masked = masked.replace(EMAIL_PATTERN, PERSONAL_MARK);
  const personal: PersonalRecord = {
    ...(b.taken !== undefined ? { before: b.taken } : {}),
    ...(a.taken !== undefined ? { after: a.taken } : {}),
    ...(masked !== reason ? { reason } : {}),
  };
  if (Object.keys(personal).length === 0) return { before, after, reason };
  return { before: b.kept, after: a.kept, reason: masked, personal };
}

/** The digest chained in place of the personal values. */
export function personalDigest(salt: string, data: string): string {
  return sha256('sha256', `gatehouse-audit-personal/v1\n${salt}\n${data}`, 'hex');
}

// Salts are cut from a pool of random bytes: one call to the CSPRNG per 1,024 entries, not one each.
const SALT_BYTES = 16;
let saltPool = Buffer.alloc(0);
let saltOffset = 0;

function nextSalt(): string {
  if (saltOffset + SALT_BYTES > saltPool.length) {
    saltPool = randomBytes(SALT_BYTES * 1024);
    saltOffset = 0;
  }
  const salt = saltPool.toString('hex', saltOffset, saltOffset + SALT_BYTES);
  saltOffset += SALT_BYTES;
  return salt;
}

export function sealPersonal(personal: PersonalRecord): { salt: string; data: string; digest: string } {
  const salt = nextSalt();
  const data = canonicalJson(personal);
  return { salt, data, digest: personalDigest(salt, data) };
}

function restore(value: unknown, fields: Record<string, unknown> | undefined): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = field === PERSONAL_MARK ? (fields !== undefined && key in fields ? fields[key] : REDACTED_MARK) : field;
  }
  return out;
}

/** An entry as people read it: personal values put back, or "[redacted]" where they were erased. */
export function unmaskPersonal<T extends { before?: unknown; after?: unknown; reason: string }>(entry: T, personal: PersonalRecord | undefined): T {
  return {
    ...entry,
    ...(entry.before !== undefined ? { before: restore(entry.before, personal?.before) } : {}),
    ...(entry.after !== undefined ? { after: restore(entry.after, personal?.after) } : {}),
    reason: personal?.reason ?? entry.reason.split(PERSONAL_MARK).join(personal === undefined ? REDACTED_MARK : PERSONAL_MARK),
  };
}

/** Whether a personal record names this email (compared case-insensitively after NFKC). */
export function personalNamesEmail(personal: PersonalRecord, email: string): boolean {
  const wanted = email.normalize('NFKC').toLowerCase();
  const seen = (v: unknown): boolean =>
    typeof v === 'string' ? v.normalize('NFKC').toLowerCase() === wanted || v.normalize('NFKC').toLowerCase().includes(wanted) : Array.isArray(v) && v.some(seen);
  return [personal.before, personal.after].some((fields) => fields !== undefined && Object.values(fields).some(seen)) || (personal.reason !== undefined && seen(personal.reason));
}
