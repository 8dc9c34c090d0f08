// Which store a DSN names, and that a password never shows in messages.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStoreDsn, redactDsn, storeDsnFrom, StoreError } from './store.js';

describe('parseStoreDsn', () => {
  it.each([
    [undefined, { dialect: 'sqlite', path: resolve('/srv/app', '.gatehouse/gatehouse.db') }],
    ['', { dialect: 'sqlite', path: resolve('/srv/app', '.gatehouse/gatehouse.db') }],
    ['sqlite::memory:', { dialect: 'sqlite', path: ':memory:' }],
    [':memory:', { dialect: 'sqlite', path: ':memory:' }],
    ['sqlite:data/store.db', { dialect: 'sqlite', path: '/srv/app/data/store.db' }],
    ['sqlite:///var/lib/gatehouse.db', { dialect: 'sqlite', path: '/var/lib/gatehouse.db' }],
    ['/var/lib/gatehouse.db', { dialect: 'sqlite', path: '/var/lib/gatehouse.db' }],
    ['store.db', { dialect: 'sqlite', path: '/srv/app/store.db' }],
    ['postgres://u:p@db:5432/gatehouse', { dialect: 'postgres', url: 'postgres://u:p@db:5432/gatehouse' }],
    ['postgresql://db/gatehouse?sslmode=require', { dialect: 'postgres', url: 'postgresql://db/gatehouse?sslmode=require' }],
  ])('%s', (dsn, expected) => {
    expect(parseStoreDsn(dsn, '/srv/app')).toEqual(expected);
  });

  it('refuses other schemes, naming the forms it takes, without the password', () => {
    expect(() => parseStoreDsn('mysql://root:secret@db/x')).toThrow(StoreError);
    expect(() => parseStoreDsn('mysql://root:secret@db/x')).toThrow(/unknown store "mysql:\/\/root:\*\*\*@db\/x": use postgres:\/\//);
    expect(() => parseStoreDsn('sqlite:')).toThrow(/names no file/);
  });
});

describe('storeDsnFrom', () => {
  it('takes the flag, else GATEHOUSE_STORE, else nothing (the default file)', () => {
    expect(storeDsnFrom('a.db', { GATEHOUSE_STORE: 'b.db' })).toBe('a.db');
    expect(storeDsnFrom(undefined, { GATEHOUSE_STORE: 'b.db' })).toBe('b.db');
    expect(storeDsnFrom(undefined, { GATEHOUSE_STORE: '' })).toBeUndefined();
    expect(storeDsnFrom(undefined, {})).toBeUndefined();
  });
});

describe('redactDsn', () => {
  it('hides the password', () => {
    expect(redactDsn('postgres://gatehouse:hunter2@db:5432/gh')).toBe('postgres://gatehouse:***@db:5432/gh');
    expect(redactDsn('postgres://db/gh')).toBe('postgres://db/gh');
  });
});
