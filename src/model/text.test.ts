import { describe, expect, it } from 'vitest';
import { hasCompatibilityCharacters, looksLike, mixesLookalikeScripts, normalizeEmail, normalizeName } from './text.js';

describe('normalizeEmail and normalizeName', () => {
  it.each([
    [' Alice@Acme.Example ', 'alice@acme.example'],
    ['\u212Aate@acme.example', 'kate@acme.example'], // Kelvin sign: NFKC makes it K
    ['\uff41lice@acme.example', 'alice@acme.example'], // fullwidth a
    ['alice@acme.example', 'alice@acme.example'],
    ['Alice@acme.example', 'alice@acme.example'], // a capital: not already normal
    ['alice@acme.example\t', 'alice@acme.example'], // a tab: not already normal
    ['a.b+c_d-e@[10.0.0.1]', 'a.b+c_d-e@[10.0.0.1]'],
  ])('normalizeEmail(%j) = %j', (email, expected) => {
    expect(normalizeEmail(email)).toBe(expected);
  });

  it('takes every printable ASCII email that is already its key as it is, exactly as the full normalisation would', () => {
    for (let code = 0; code < 128; code++) {
      const email = `a${String.fromCharCode(code)}b@acme.example`;
      expect(normalizeEmail(email)).toBe(email.normalize('NFKC').trim().toLowerCase());
    }
  });

  it.each([
    ['Admin ', 'admin'],
    ['  Support   Agent', 'support agent'],
  ])('normalizeName(%j) = %j', (name, expected) => {
    expect(normalizeName(name)).toBe(expected);
  });
});

describe('lookalikes', () => {
  it.each([
    ['alice@acme.example', false, false],
    ['\u0430lice@acme.example', true, false], // Cyrillic а among Latin letters
    ['\u212Aate@acme.example', false, true], // Kelvin sign
    ['\u0430\u043b\u0438\u0441\u0430@acme.example', true, false], // Cyrillic name at a Latin domain
  ])('%j: mixes scripts %s, compatibility characters %s', (text, mixed, compatibility) => {
    expect(mixesLookalikeScripts(text)).toBe(mixed);
    expect(hasCompatibilityCharacters(text)).toBe(compatibility);
  });

  it.each([
    ['\u0410dmin', 'admin', true], // Cyrillic А
    ['Adm\u0456n', 'admin', true], // Cyrillic і
    ['Admin', 'admin', false], // plain: compared by normalizeName, not here
    ['\u0410dmins', 'admin', false],
    ['\u0410nalyst', 'admin', false],
  ])('looksLike(%j, %j) = %s', (name, reserved, expected) => {
    expect(looksLike(name, reserved)).toBe(expected);
  });
});
