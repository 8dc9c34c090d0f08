// The audit log: append-only, one entry per applied change, each chained to the
// one before by SHA-256 over its canonical JSON and the previous hash. A head
// row remembers the newest entry so that cutting entries off the end shows too.
// With an audit key each entry also carries an HMAC of its hash under a key
// the database does not hold, and signed checkpoints of the head are kept
// outside the store, so a database writer cannot rewrite or cut the log
// unnoticed (docs/security.md). Appends happen inside write transactions,
// which hold the store's write lock, so the chain has one order.
import { hash as sha256 } from 'node:crypto';
import type { Kysely } from 'kysely';
import {
  checkCheckpointMac,
  checkEntryMac,
  signCheckpoint,
  signEntry,
  type AuditCheckpoint,
  type AuditKeyring,
} from './audit-key.js';
import { canonicalJson } from '../reconcile/canonical-json.js';
import { isoOf, readInteger, readJson, readOptionalInteger, readTime } from './convert.js';
import { insertRows, ROWS_PER_INSERT } from './bulk.js';
import { sealPersonal, splitPersonal, personalDigest, personalNamesEmail, unmaskPersonal, type PersonalRecord } from './audit-personal.js';
import type { AuditLogRow, Database } from './schema.js';

/** prev_hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditObject {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  generation?: number;
  /** The file the object was read from (CLI). */
  file?: string;
}

export interface AuditEntryInput {
  at: string;
  /** Who or what: `cli:alice`, `operator`, `app`. */
  actor: string;
  /** `<target>.<operation>`, for example `member.create`, `invitation.accept`. */
  action: string;
  object?: AuditObject;
  workspaceId?: string;
  /** What the row was (changed fields only for updates). No secrets. */
  before?: unknown;
  after?: unknown;
  reason: string;
}

export interface AuditEntry extends AuditEntryInput {
  seq: number;
  prevHash: string;
  hash: string;
  /** The audit key that authenticated the entry; absent when written without one. */
  keyId?: string;
  /** HMAC-SHA256 of `hash` under that key. */
  mac?: string;
  /** Salted digest of the personal values kept beside the chain (audit-personal.ts). */
  personalDigest?: string;
}

/** The fields an entry's hash is taken over. */
export type AuditHashed = Omit<AuditEntry, 'hash' | 'keyId' | 'mac'>;

/**
 * The text an entry's hash is taken over: the canonical JSON (keys sorted) of
 * the entry without its hash. `beforeJson`/`afterJson` may be given when
 * already made (appending), so large entries are serialised once.
 */
export function auditHashInput(entry: AuditHashed, beforeJson?: string, afterJson?: string): string {
  // Keys in sorted order: action, actor, after, at, before, object, prevHash, reason, seq, workspaceId.
  return (
    `{"action":${JSON.stringify(entry.action)}` +
    `,"actor":${JSON.stringify(entry.actor)}` +
    `,"after":${afterJson ?? canonicalJson(entry.after ?? null)}` +
    `,"at":${JSON.stringify(entry.at)}` +
    `,"before":${beforeJson ?? canonicalJson(entry.before ?? null)}` +
    `,"object":${objectJson(entry.object)}` +
    // Only entries with personal values carry it, so entries written before it existed still verify.
    (entry.personalDigest !== undefined ? `,"personalDigest":${JSON.stringify(entry.personalDigest)}` : '') +
    `,"prevHash":${JSON.stringify(entry.prevHash)}` +
    `,"reason":${JSON.stringify(entry.reason)}` +
    `,"seq":${JSON.stringify(entry.seq)}` +
    `,"workspaceId":${JSON.stringify(entry.workspaceId ?? null)}}`
  );
}

/** canonicalJson of an entry's object, written directly (its keys are known). */
function objectJson(object: AuditObject | undefined): string {
  if (object === undefined || object === null) return 'null';
  let out = '{';
  // Sorted: file, generation, kind, name, namespace, uid.
  if (object.file !== undefined) out += `"file":${JSON.stringify(object.file)},`;
  if (object.generation !== undefined) out += `"generation":${JSON.stringify(object.generation)},`;
  out += `"kind":${JSON.stringify(object.kind)},"name":${JSON.stringify(object.name)}`;
  if (object.namespace !== undefined) out += `,"namespace":${JSON.stringify(object.namespace)}`;
  if (object.uid !== undefined) out += `,"uid":${JSON.stringify(object.uid)}`;
  return `${out}}`;
}

export function auditHash(entry: AuditHashed, beforeJson?: string, afterJson?: string): string {
  return sha256('sha256', auditHashInput(entry, beforeJson, afterJson), 'hex');
}

export async function readHead(db: Kysely<Database>): Promise<{ seq: number; hash: string } | undefined> {
  const row = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  return row === undefined ? undefined : { seq: readInteger(row.seq), hash: row.hash };
}

/**
 * Appends entries to the chain, in the order added, inside the caller's write
 * transaction: rows are written in batches as they come, and the head once at
 * the end, so a large apply never holds all its entries in memory.
 */
export class AuditAppender {
  #rows: Array<Record<string, unknown>> = [];
  #personal: Array<Record<string, unknown>> = [];
  #count = 0;
  #last: { seq: number; hash: string } | undefined;

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly head: { seq: number; hash: string } | undefined,
    private readonly keys: AuditKeyring | undefined,
  ) {}

  /** `keys`: entries are signed with its signing key; without one they carry no MAC. */
  static async open(db: Kysely<Database>, keys?: AuditKeyring): Promise<AuditAppender> {
    return new AuditAppender(db, await readHead(db), keys);
  }

  /** Entries appended so far. */
  get count(): number {
    return this.#count;
  }

  async add(input: AuditEntryInput): Promise<AuditEntry> {
    const previous = this.#last ?? this.head;
    const seq = (previous?.seq ?? 0) + 1;
    const prevHash = previous?.hash ?? GENESIS_HASH;
    const split = splitPersonal(input.action, input.before, input.after, input.reason);
    const sealed = split.personal !== undefined ? sealPersonal(split.personal) : undefined;
    const chained: AuditEntryInput = {
      ...input,
      ...(split.before !== undefined ? { before: split.before } : {}),
      ...(split.after !== undefined ? { after: split.after } : {}),
      reason: split.reason,
    };
    const base = { ...chained, at: isoOf(input.at), seq, prevHash, ...(sealed !== undefined ? { personalDigest: sealed.digest } : {}) };
    const beforeJson = chained.before === undefined ? null : canonicalJson(chained.before);
    const afterJson = chained.after === undefined ? null : canonicalJson(chained.after);
    const hash = auditHash(base, beforeJson ?? 'null', afterJson ?? 'null');
    const signature = this.keys !== undefined ? signEntry(this.keys.signing, hash) : undefined;
    this.#last = { seq, hash };
    this.#count += 1;
    this.#rows.push({
      seq,
      at: base.at,
      actor: input.actor,
      action: input.action,
      object_kind: input.object?.kind ?? null,
      object_namespace: input.object?.namespace ?? null,
      object_name: input.object?.name ?? null,
      object_uid: input.object?.uid ?? null,
      object_generation: input.object?.generation ?? null,
      source_file: input.object?.file ?? null,
      workspace_id: input.workspaceId ?? null,
      before: beforeJson,
      after: afterJson,
      reason: chained.reason,
      prev_hash: prevHash,
      hash,
      key_id: signature?.keyId ?? null,
      mac: signature?.mac ?? null,
      personal_digest: sealed?.digest ?? null,
    });
    if (sealed !== undefined) this.#personal.push({ seq, salt: sealed.salt, data: sealed.data });
    if (this.#rows.length >= ROWS_PER_INSERT) await this.#flush();
    return { ...base, hash, ...(signature !== undefined ? signature : {}) };
  }

  async #flush(): Promise<void> {
    const rows = this.#rows;
    const personal = this.#personal;
    this.#rows = [];
    this.#personal = [];
    await insertRows(this.db, 'audit_log', rows);
    await insertRows(this.db, 'audit_personal', personal);
  }

  /** Writes what is buffered and moves the head to the newest entry. */
  async close(): Promise<number> {
    await this.#flush();
    const last = this.#last;
    if (last !== undefined) {
      if (this.head === undefined) await this.db.insertInto('audit_head').values({ id: 1, seq: last.seq, hash: last.hash }).execute();
      else await this.db.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
    }
    return this.#count;
  }
}

/** Appends entries (in order) to the chain. Call inside a write transaction. */
export async function appendAudit(db: Kysely<Database>, entries: readonly AuditEntryInput[], keys?: AuditKeyring): Promise<AuditEntry[]> {
  if (entries.length === 0) return [];
  const appender = await AuditAppender.open(db, keys);
  const out: AuditEntry[] = [];
  for (const entry of entries) out.push(await appender.add(entry));
  await appender.close();
  return out;
}

export function auditEntryFromRow(row: AuditLogRow): AuditEntry {
  const generation = readOptionalInteger(row.object_generation);
  const object: AuditObject | undefined =
    row.object_kind !== null && row.object_name !== null
      ? {
          kind: row.object_kind,
          ...(row.object_namespace !== null ? { namespace: row.object_namespace } : {}),
          name: row.object_name,
          ...(row.object_uid !== null ? { uid: row.object_uid } : {}),
          ...(generation !== undefined ? { generation } : {}),
          ...(row.source_file !== null ? { file: row.source_file } : {}),
        }
      : undefined;
  return {
    seq: readInteger(row.seq),
    at: readTime(row.at),
    actor: row.actor,
    action: row.action,
    ...(object !== undefined ? { object } : {}),
    ...(row.workspace_id !== null ? { workspaceId: row.workspace_id } : {}),
    ...(row.before !== null && row.before !== undefined ? { before: readJson(row.before) } : {}),
    ...(row.after !== null && row.after !== undefined ? { after: readJson(row.after) } : {}),
    reason: row.reason,
    prevHash: row.prev_hash,
    hash: row.hash,
    ...(row.key_id !== null && row.key_id !== undefined ? { keyId: row.key_id } : {}),
    ...(row.mac !== null && row.mac !== undefined ? { mac: row.mac } : {}),
    ...(row.personal_digest !== null && row.personal_digest !== undefined ? { personalDigest: row.personal_digest } : {}),
  };
}

/** The personal values kept for entries `seqs` (erased ones are absent). */
async function personalOf(db: Kysely<Database>, seqs: readonly number[]): Promise<Map<number, { salt: string; data: string }>> {
  const out = new Map<number, { salt: string; data: string }>();
  for (let i = 0; i < seqs.length; i += 500) {
    const rows = await db.selectFrom('audit_personal').select(['seq', 'salt', 'data']).where('seq', 'in', seqs.slice(i, i + 500)).execute();
    // PostgreSQL's json type comes back parsed; the digest is over the text as written.
    for (const row of rows) out.set(readInteger(row.seq), { salt: row.salt, data: typeof row.data === 'string' ? row.data : canonicalJson(row.data) });
  }
  return out;
}

export interface AuditQuery {
  workspaceId?: string;
  since?: Date;
  /** Entries about this object. */
  object?: { kind: string; namespace: string; name: string };
  limit?: number;
  /** Newest first (default oldest first). */
  newestFirst?: boolean;
  /** Put personal values back (for people), "[redacted]" where erased; default: entries as chained. */
  withPersonal?: boolean;
}

export async function listAudit(db: Kysely<Database>, query: AuditQuery = {}): Promise<AuditEntry[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (query.workspaceId !== undefined) q = q.where('workspace_id', '=', query.workspaceId);
  if (query.since !== undefined) q = q.where('at', '>=', query.since.toISOString());
  if (query.object !== undefined) {
    q = q
      .where('object_kind', '=', query.object.kind)
      .where('object_namespace', '=', query.object.namespace)
      .where('object_name', '=', query.object.name);
  }
  q = q.orderBy('seq', query.newestFirst ? 'desc' : 'asc');
  if (query.limit !== undefined) q = q.limit(query.limit);
  const entries = (await q.execute()).map(auditEntryFromRow);
  if (!query.withPersonal) return entries;
  const personal = await personalOf(
    db,
    entries.filter((e) => e.personalDigest !== undefined).map((e) => e.seq),
  );
  return entries.map((e) => {
    if (e.personalDigest === undefined) return e;
    const kept = personal.get(e.seq);
    return unmaskPersonal(e, kept === undefined ? undefined : (JSON.parse(kept.data) as PersonalRecord));
  });
}

export type AuditProblem =
  | 'missing'
  | 'edited'
  | 'relinked'
  | 'truncated'
  | 'head-missing'
  | 'unsigned'
  | 'unknown-key'
  | 'forged'
  | 'checkpoint-forged'
  | 'checkpoint-missing'
  | 'checkpoint-mismatch'
  | 'personal-edited'
  | 'redaction-unrecorded';

export interface AuditVerification {
  ok: boolean;
  /** Entries read. */
  entries: number;
  /** True when every entry's MAC was checked with the audit key. */
  authenticated: boolean;
  /** Entries whose personal values were erased (each recorded by an audit.redact entry). */
  redacted?: number;
  /** The checkpoint the log was checked against, when one was given and found. */
  checkpoint?: { seq: number; hash: string; at: string };
  firstBad?: { seq: number; problem: AuditProblem; message: string };
}

export interface VerifyOptions {
  /** Check each entry's MAC: an entry without one, or with a wrong one, fails. */
  keys?: AuditKeyring;
  /** A checkpoint kept outside the store: the log must still hold that entry with that hash. */
  checkpoint?: AuditCheckpoint;
}

const VERIFY_PAGE = 2000;

/**
 * Walks the chain from the first entry and reports the first entry that was
 * edited, deleted or moved, and a log cut short at its end. With `keys`, an
 * entry whose MAC is missing or wrong is reported too (a database writer who
 * recomputed the hashes); with `checkpoint`, a log that no longer holds the
 * checkpointed entry (truncated, emptied, rewritten) fails. It only reads, so
 * a SELECT-only role can run it.
 */
export async function verifyAuditChain(db: Kysely<Database>, options: VerifyOptions = {}): Promise<AuditVerification> {
  const { keys, checkpoint } = options;
  const authenticated = keys !== undefined;
  const fail = (entries: number, seq: number, problem: AuditProblem, message: string): AuditVerification => ({
    ok: false,
    entries,
    authenticated,
    firstBad: { seq, problem, message },
  });
  if (checkpoint !== undefined && keys !== undefined) {
    const check = checkCheckpointMac(keys, checkpoint);
    if (check !== 'ok') {
      const why = check === 'unknown-key' ? `was signed with key "${checkpoint.keyId}", which the audit keyring does not hold` : 'does not match its MAC (it was altered or forged)';
      return fail(0, checkpoint.seq, 'checkpoint-forged', `the checkpoint of entry ${checkpoint.seq} ${why}`);
    }
  }
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  let after = 0;
  let checkpointSeen = false;
  const erased: number[] = [];
  const recordedErasures = new Set<number>();
  for (;;) {
    const rows = await db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(VERIFY_PAGE).execute();
    if (rows.length === 0) break;
    const page = rows.map(auditEntryFromRow);
    const personal = await personalOf(
      db,
      page.filter((e) => e.personalDigest !== undefined).map((e) => e.seq),
    );
    for (const entry of page) {
      count += 1;
      if (entry.seq !== expectedSeq) {
        const missing = entry.seq - expectedSeq === 1 ? `entry ${expectedSeq} is` : `entries ${expectedSeq} to ${entry.seq - 1} are`;
        return fail(count, expectedSeq, 'missing', `audit entry ${expectedSeq}: ${missing} missing (deleted from the log)`);
      }
      const { hash, keyId, mac, ...rest } = entry;
      if (entry.action === REDACT_ACTION) for (const seq of redactedSeqsOf(entry)) recordedErasures.add(seq);
      if (auditHash(rest) !== hash) {
        return fail(count, entry.seq, 'edited', `audit entry ${entry.seq} was changed: its content no longer matches its hash`);
      }
      if (entry.prevHash !== prevHash) {
        return fail(count, entry.seq - 1, 'relinked', `audit entry ${entry.seq - 1} was changed or replaced: entry ${entry.seq} links to a different hash`);
      }
      if (entry.personalDigest !== undefined) {
        const kept = personal.get(entry.seq);
        if (kept === undefined) erased.push(entry.seq);
        else if (personalDigest(kept.salt, kept.data) !== entry.personalDigest) {
          return fail(count, entry.seq, 'personal-edited', `the personal data of audit entry ${entry.seq} was changed: it no longer matches the digest in the chain`);
        }
      }
      if (keys !== undefined) {
        if (keyId === undefined || mac === undefined) {
          return fail(
            count,
            entry.seq,
            'unsigned',
            `audit entry ${entry.seq} carries no MAC: it was written without the audit key, or rewritten by someone who does not hold it`,
          );
        }
        const check = checkEntryMac(keys, keyId, hash, mac);
        if (check === 'unknown-key') {
          return fail(count, entry.seq, 'unknown-key', `audit entry ${entry.seq} names key "${keyId}", which the audit keyring does not hold; add that key (rotation keeps old keys) or treat the entry as forged`);
        }
        if (check === 'bad-mac') {
          return fail(count, entry.seq, 'forged', `audit entry ${entry.seq} does not match its MAC: it was rewritten by someone who does not hold the audit key`);
        }
      }
      if (checkpoint !== undefined && entry.seq === checkpoint.seq) {
        if (hash !== checkpoint.hash) {
          return fail(count, entry.seq, 'checkpoint-mismatch', `audit entry ${entry.seq} is not the entry the checkpoint of ${checkpoint.at} recorded: the log was rewritten`);
        }
        checkpointSeen = true;
      }
      prevHash = hash;
      expectedSeq += 1;
      after = entry.seq;
    }
  }
  const lastSeq = expectedSeq - 1;
  const unrecorded = erased.find((seq) => !recordedErasures.has(seq));
  if (unrecorded !== undefined) {
    return fail(
      count,
      unrecorded,
      'redaction-unrecorded',
      `the personal data of audit entry ${unrecorded} was deleted without an audit.redact entry recording it (gatehouse audit redact records every erasure)`,
    );
  }
  const redacted = erased.length > 0 ? { redacted: erased.length } : {};
  if (checkpoint !== undefined && checkpoint.seq > 0 && !checkpointSeen) {
    return fail(
      count,
      lastSeq + 1,
      'checkpoint-missing',
      `the log ends at entry ${lastSeq} but the checkpoint of ${checkpoint.at} recorded entry ${checkpoint.seq}: entries were deleted from the end`,
    );
  }
  const head = await readHead(db);
  if (head === undefined) {
    if (lastSeq === 0) return { ok: true, entries: 0, authenticated, ...checkpointOf(checkpoint) };
    return fail(count, lastSeq, 'head-missing', `the audit log's head record is missing (the log has ${lastSeq} entries)`);
  }
  if (head.seq !== lastSeq || head.hash !== prevHash) {
    if (head.seq > lastSeq) {
      const missing = head.seq - lastSeq === 1 ? `entry ${head.seq} is` : `entries ${lastSeq + 1} to ${head.seq} are`;
      return fail(count, lastSeq + 1, 'truncated', `audit entry ${lastSeq + 1}: ${missing} missing from the end of the log (deleted)`);
    }
    return fail(count, lastSeq, 'edited', `audit entry ${lastSeq} does not match the log's head record: the newest entries were changed`);
  }
  return { ok: true, entries: count, authenticated, ...redacted, ...checkpointOf(checkpoint) };
}

/** The action of the entry that records an erasure of personal data. */
export const REDACT_ACTION = 'audit.redact';

function redactedSeqsOf(entry: AuditEntry): number[] {
  const list = (entry.after as { entries?: unknown } | undefined)?.entries;
  return Array.isArray(list) ? list.filter((n): n is number => typeof n === 'number') : [];
}

export interface RedactRequest {
  email: string;
  at: Date;
  actor: string;
  /** Why (the erasure request's reference); recorded, so no personal data in it. */
  reason?: string;
  keys?: AuditKeyring;
}

/**
 * Erases the personal values of every entry that names `email` and appends
 * one audit.redact entry listing them, in the caller's write transaction.
 * The chain still verifies: it holds only their salted digests. Returns the
 * entries erased.
 */
export async function redactPersonal(db: Kysely<Database>, request: RedactRequest): Promise<number[]> {
  const erased: number[] = [];
  let after = 0;
  for (;;) {
    const rows = await db.selectFrom('audit_personal').select(['seq', 'data']).where('seq', '>', after).orderBy('seq').limit(VERIFY_PAGE).execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = readInteger(row.seq);
      after = seq;
      const data = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as PersonalRecord;
      if (personalNamesEmail(data, request.email)) erased.push(seq);
    }
  }
  if (erased.length === 0) return [];
  for (let i = 0; i < erased.length; i += 500) {
    await db.deleteFrom('audit_personal').where('seq', 'in', erased.slice(i, i + 500)).execute();
  }
  await appendAudit(
    db,
    [
      {
        at: request.at.toISOString(),
        actor: request.actor,
        action: REDACT_ACTION,
        after: { entries: erased },
        reason: request.reason ?? 'personal data erased on request',
      },
    ],
    request.keys,
  );
  return erased;
}

function checkpointOf(checkpoint: AuditCheckpoint | undefined): Pick<AuditVerification, 'checkpoint'> {
  return checkpoint === undefined ? {} : { checkpoint: { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at } };
}

/** A signed checkpoint of the log's head now (seq 0 and the genesis hash for an empty log). */
export async function auditCheckpoint(db: Kysely<Database>, keys: AuditKeyring, at: Date): Promise<AuditCheckpoint> {
  const head = (await readHead(db)) ?? { seq: 0, hash: GENESIS_HASH };
  return signCheckpoint(keys.signing, head, at);
}

/** The audit action prefix of each kind's own rows. */
export function auditTargetOfKind(kind: string): string {
  return kind === 'SupportGrant' ? 'supportgrant' : kind.toLowerCase();
}

/** The last audited action per object, for objects whose rows are missing (recreated rows are drift). */
export async function lastActionsOf(
  db: Kysely<Database>,
  objects: ReadonlyArray<{ kind: string; namespace: string; name: string }>,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const byNamespace = new Map<string, Set<string>>();
  for (const o of objects) {
    let set = byNamespace.get(o.namespace);
    if (set === undefined) byNamespace.set(o.namespace, (set = new Set()));
    set.add(o.name);
  }
  const wanted = new Set(objects.map((o) => `${o.kind}/${o.namespace}/${o.name}`));
  for (const [namespace, names] of byNamespace) {
    const list = [...names];
    for (let i = 0; i < list.length; i += 500) {
      const rows = await db
        .selectFrom('audit_log')
        .select(['object_kind', 'object_namespace', 'object_name', 'action', 'seq'])
        .where('object_namespace', '=', namespace)
        .where('object_name', 'in', list.slice(i, i + 500))
        .orderBy('seq')
        .execute();
      for (const row of rows) {
        const key = `${row.object_kind}/${row.object_namespace}/${row.object_name}`;
        // Only the object's own rows count (a Workspace's entries also cover its default roles).
        if (wanted.has(key) && row.action.startsWith(`${auditTargetOfKind(row.object_kind ?? '')}.`)) out.set(key, row.action);
      }
    }
  }
  return out;
}
