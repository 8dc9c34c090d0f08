// CIDR notation for IP allowlists, IPv4 and IPv6, with node:net doing the
// address syntax. Exported for the decision API, which matches addresses
// against the same networks.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The address as written (before the slash). */
  address: string;
  prefix: number;
  /** The network address: the written address with its host bits cleared. */
  network: string;
  /** Whether the written address had host bits set (10.0.0.1/8). */
  hostBitsSet: boolean;
}

export type CidrParseResult = { ok: true; cidr: Cidr } | { ok: false; reason: string };

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

export function parseCidr(text: string): CidrParseResult {
  const slash = text.indexOf('/');
  if (slash < 0) {
    const family = isIP(text);
    if (family !== 0) {
      return { ok: false, reason: `"${text}" is an address, not a network; write ${text}/${family === 4 ? 32 : 128} for this one address` };
    }
    return { ok: false, reason: `"${text}" is not in CIDR notation (address/prefix, for example 203.0.113.0/24 or 2001:db8::/32)` };
  }
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = address.includes('%') ? 0 : isIP(address);
  if (family !== 4 && family !== 6) return { ok: false, reason: `"${address}" in "${text}" is not an IPv4 or IPv6 address` };
  const maxPrefix = family === 4 ? 32 : 128;
  if (!PREFIX.test(prefixText) || Number(prefixText) > maxPrefix) {
    return { ok: false, reason: `prefix "/${prefixText}" in "${text}" must be a whole number from 0 to ${maxPrefix} for IPv${family}` };
  }
  const prefix = Number(prefixText);
  const bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  const masked = bytes.map((byte, i) => {
    const bitsHere = Math.min(8, Math.max(0, prefix - i * 8));
    return byte & ((0xff << (8 - bitsHere)) & 0xff);
  });
  const hostBitsSet = masked.some((byte, i) => byte !== bytes[i]);
  const network = family === 4 ? masked.join('.') : formatIpv6(masked);
  return { ok: true, cidr: { family, address, prefix, network, hostBitsSet } };
}

/** A BlockList holding the networks, for matching addresses (`list.check(ip, 'ipv6')`). */
export function blockListOf(cidrs: readonly Cidr[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) list.addSubnet(cidr.network, cidr.prefix, cidr.family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** 16 bytes of an IPv6 address that isIP already accepted (including ::ffff:1.2.3.4 forms). */
function ipv6Bytes(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail.push(...ipv4Bytes(text.slice(lastColon + 1)));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  const words = rest === undefined ? left : [...left, ...zeros, ...right];
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function formatIpv6(bytes: number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // Shorten the longest run of two or more zero groups to "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The first and last address of a network, as numbers (for comparing networks however they are written). */
export function networkRange(cidr: Cidr): { start: bigint; end: bigint } {
  const bytes = cidr.family === 4 ? ipv4Bytes(cidr.network) : ipv6Bytes(cidr.network);
  let start = 0n;
  for (const byte of bytes) start = (start << 8n) | BigInt(byte);
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  return { start, end: start + (1n << hostBits) - 1n };
}

/** Whether the networks of one family together hold every address of it (0.0.0.0/1 plus 128.0.0.0/1). */
export function coversEveryAddress(cidrs: readonly Cidr[], family: 4 | 6): boolean {
  const ranges = cidrs
    .filter((c) => c.family === family)
    .map(networkRange)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const last = (1n << BigInt(family === 4 ? 32 : 128)) - 1n;
  let next = 0n;
  for (const range of ranges) {
    if (range.start > next) return false;
    if (range.end + 1n > next) next = range.end + 1n;
    if (next > last) return true;
  }
  return false;
}
