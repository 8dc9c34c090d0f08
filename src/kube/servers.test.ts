import { describe, expect, it } from 'vitest';
import { UsageError } from '../util/errors.js';
import { parseListenAddress } from './servers.js';

describe('parseListenAddress', () => {
  it.each([
    [':8081', { host: '0.0.0.0', port: 8081 }],
    ['8080', { host: '0.0.0.0', port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['', undefined],
    ['0', undefined],
  ])('%j -> %j', (text, expected) => {
    expect(parseListenAddress(text, '--probe-listen')).toEqual(expected);
  });

  it.each(['localhost', ':99999', 'a:b'])('rejects %j naming the flag', (text) => {
    expect(() => parseListenAddress(text, '--metrics-listen')).toThrow(UsageError);
    expect(() => parseListenAddress(text, '--metrics-listen')).toThrow(/--metrics-listen/);
  });
});
