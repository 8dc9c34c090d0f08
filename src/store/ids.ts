// Row ids: UUID version 7 (RFC 9562), time-ordered, so new rows go to the end
// of primary-key indexes instead of random pages, and an id tells when it was made.
import { randomBytes } from 'node:crypto';

let pool = Buffer.alloc(0);
let offset = 0;

function random10(): Buffer {
  if (offset + 10 > pool.length) {
    pool = randomBytes(10 * 4096);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + 10);
  offset += 10;
  return out;
}

/** A new UUIDv7. */
export function newId(now: number = Date.now()): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(now, 0, 6);
  random10().copy(bytes, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let tokenPool = Buffer.alloc(0);
let tokenOffset = 0;

/** 32 random bytes for an invitation token, drawn from a pooled buffer (one system call per thousand tokens). */
export function tokenBytes(): Buffer {
  if (tokenOffset + 32 > tokenPool.length) {
    tokenPool = randomBytes(32 * 1024);
    tokenOffset = 0;
  }
  const out = Buffer.from(tokenPool.subarray(tokenOffset, tokenOffset + 32));
  tokenPool.fill(0, tokenOffset, tokenOffset + 32);
  tokenOffset += 32;
  return out;
}
