import { describe, expect, it } from 'vitest';
import { blockListOf, parseCidr, type Cidr } from './network.js';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { family: 4, prefix: 8, network: '10.0.0.0', hostBitsSet: false }],
    ['203.0.113.7/32', { family: 4, prefix: 32, network: '203.0.113.7', hostBitsSet: false }],
    ['203.0.113.7/24', { family: 4, prefix: 24, network: '203.0.113.0', hostBitsSet: true }],
    ['10.1.2.3/0', { family: 4, prefix: 0, network: '0.0.0.0', hostBitsSet: true }],
    ['172.16.5.4/12', { family: 4, prefix: 12, network: '172.16.0.0', hostBitsSet: true }],
    ['2001:db8::/32', { family: 6, prefix: 32, network: '2001:db8::', hostBitsSet: false }],
    ['2001:db8::1/64', { family: 6, prefix: 64, network: '2001:db8::', hostBitsSet: true }],
    ['2001:db8:ac3e::/48', { family: 6, prefix: 48, network: '2001:db8:ac3e::', hostBitsSet: false }],
    ['::/0', { family: 6, prefix: 0, network: '::', hostBitsSet: false }],
    ['::1/128', { family: 6, prefix: 128, network: '::1', hostBitsSet: false }],
    ['fe80::1:2/127', { family: 6, prefix: 127, network: 'fe80::1:2', hostBitsSet: false }],
    ['::ffff:192.0.2.1/120', { family: 6, prefix: 120, network: '::ffff:c000:200', hostBitsSet: true }],
    ['2001:db8:0:0:1:0:0:1/128', { family: 6, prefix: 128, network: '2001:db8::1:0:0:1', hostBitsSet: false }],
  ] as const)('accepts %s', (text, expected) => {
    const result = parseCidr(text);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.cidr).toMatchObject(expected);
  });

  it.each([
    ['10.0.0.1', 'write 10.0.0.1/32'],
    ['2001:db8::1', 'write 2001:db8::1/128'],
    ['10.0.0.0/33', 'from 0 to 32'],
    ['2001:db8::/129', 'from 0 to 128'],
    ['10.0.0.0/08', 'whole number'],
    ['10.0.0.0/', 'whole number'],
    ['10.0.0.0/8/8', 'whole number'],
    ['10.0.0.0/-1', 'whole number'],
    ['256.0.0.0/8', 'not an IPv4 or IPv6 address'],
    ['10.0.0/8', 'not an IPv4 or IPv6 address'],
    ['fe80::1%eth0/64', 'not an IPv4 or IPv6 address'],
    [' 10.0.0.0/8', 'not an IPv4 or IPv6 address'],
    ['office', 'not in CIDR notation'],
    ['', 'not in CIDR notation'],
  ])('rejects %j with a reason', (text, reason) => {
    const result = parseCidr(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it('builds a BlockList that matches addresses inside the networks only', () => {
    const cidrs = ['203.0.113.0/24', '2001:db8:ac3e::/48'].map((t) => (parseCidr(t) as { cidr: Cidr }).cidr);
    const list = blockListOf(cidrs);
    expect(list.check('203.0.113.200', 'ipv4')).toBe(true);
    expect(list.check('203.0.114.1', 'ipv4')).toBe(false);
    expect(list.check('2001:db8:ac3e:1::5', 'ipv6')).toBe(true);
    expect(list.check('2001:db8:ac3f::5', 'ipv6')).toBe(false);
  });
});
