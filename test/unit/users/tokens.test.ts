import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPIRES,
  hashToken,
  isExpired,
  parseExpires,
  parseTokenFile,
  renderTokenFile,
  tokenFromBytes,
  TOKEN_PATTERN,
  validateTokenName,
  type TokenRecord,
} from '../../../src/users/tokens.js';

const NOW = new Date('2026-12-02T06:00:00.000Z');
const RECORD: TokenRecord = {
  name: 'ci',
  user: 'alice',
  sha256: 'a'.repeat(64),
  created: '2026-12-02T06:00:00.000Z',
  expires: '2027-03-02T06:00:00.000Z',
  readOnly: false,
};

describe('a token', () => {
  it('is mlfs_ and 32 bytes of base64url, the form nginx lets past auth_basic', () => {
    const t = tokenFromBytes(new Uint8Array(32).fill(0xff));
    expect(t).toBe(`mlfs_${'_'.repeat(42)}8`);
    expect(t).toMatch(TOKEN_PATTERN);
    expect(() => tokenFromBytes(new Uint8Array(31))).toThrow(/32 random bytes/);
  });

  it('is kept as the SHA-256 hex of the whole token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('has a name like a user name, said in one line otherwise', () => {
    expect(validateTokenName('ci-2.main_x')).toBe('ci-2.main_x');
    for (const bad of ['', '-x', 'a b', 'a\nb', 'x'.repeat(65), 'a/b', 'é'])
      expect(() => validateTokenName(bad), bad).toThrow(/^bad token name /);
  });
});

describe('--expires', () => {
  it.each([
    ['45s', 45_000],
    ['30m', 30 * 60_000],
    ['12h', 12 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['3650d', 3650 * 86_400_000],
  ])('%s is that long from now', (value, ms) => {
    expect(parseExpires(value, NOW)?.getTime()).toBe(NOW.getTime() + ms);
  });

  it('never is null, and the default is 90 days', () => {
    expect(parseExpires('never', NOW)).toBeNull();
    expect(DEFAULT_EXPIRES).toBe('90d');
  });

  it.each(['', '0d', '30', 'd', '30y', '1.5h', '-1d', '3651d', ' 30d', '30D', 'Never', '99999999d'])(
    'refuses %j in one line naming the flag',
    (value) => {
      expect(() => parseExpires(value, NOW)).toThrow(/^--expires must be a count and a unit .* got '/);
    },
  );
});

describe('the token file', () => {
  it('reads back what it writes', () => {
    const two = [RECORD, { ...RECORD, name: 'ro', sha256: 'b'.repeat(64), expires: null, readOnly: true }];
    expect(parseTokenFile(renderTokenFile(two), 'tokens.json')).toEqual(two);
    expect(parseTokenFile(renderTokenFile([]), 'tokens.json')).toEqual([]);
  });

  const hostile: [string, string][] = [
    ['not JSON', '{'],
    ['a list', '[]'],
    ['null', 'null'],
    ['another version', JSON.stringify({ version: 2, tokens: [] })],
    ['an extra key', JSON.stringify({ version: 1, tokens: [{ ...RECORD, code: 'import os' }] })],
    ['a missing field', JSON.stringify({ version: 1, tokens: [{ ...RECORD, readOnly: undefined }] })],
    ['an upper-case hash', JSON.stringify({ version: 1, tokens: [{ ...RECORD, sha256: 'A'.repeat(64) }] })],
    ['a short hash', JSON.stringify({ version: 1, tokens: [{ ...RECORD, sha256: 'a'.repeat(63) }] })],
    ['a user with a line break', JSON.stringify({ version: 1, tokens: [{ ...RECORD, user: 'a\nb' }] })],
    ['a name with escape codes', JSON.stringify({ version: 1, tokens: [{ ...RECORD, name: '\u001b[2J' }] })],
    ['a time that is not ISO', JSON.stringify({ version: 1, tokens: [{ ...RECORD, expires: 'tomorrow' }] })],
    ['a time as a number', JSON.stringify({ version: 1, tokens: [{ ...RECORD, expires: 1e12 }] })],
    ['readOnly as a string', JSON.stringify({ version: 1, tokens: [{ ...RECORD, readOnly: 'false' }] })],
    ['two tokens of one name', JSON.stringify({ version: 1, tokens: [RECORD, { ...RECORD, sha256: 'b'.repeat(64) }] })],
    ['two of one hash', JSON.stringify({ version: 1, tokens: [RECORD, { ...RECORD, name: 'other' }] })],
    ['deep nesting', '['.repeat(10_000)],
  ];
  it.each(hostile)('refuses %s whole, in one line', (_, text) => {
    expect(() => parseTokenFile(text, '/s/tokens.json')).toThrow(
      /^\/s\/tokens\.json is not a token file mlflow-secure wrote$/,
    );
  });

  it('tells an expired token from a live one', () => {
    expect(isExpired(RECORD, NOW)).toBe(false);
    expect(isExpired(RECORD, new Date('2027-03-02T06:00:00.000Z'))).toBe(true);
    expect(isExpired({ ...RECORD, expires: null }, new Date('2999-01-01T00:00:00Z'))).toBe(false);
  });
});
