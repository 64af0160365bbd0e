import { describe, expect, it } from 'vitest';
import {
  bcryptCostOf,
  DEFAULT_BCRYPT_COST,
  generatePassword,
  hashPassword,
  parseHtpasswd,
  removeEntry,
  renderHtpasswd,
  schemeOf,
  upsertEntry,
  validatePassword,
  validateUserName,
  verifyPassword,
  type HtpasswdEntry,
} from '../../../src/users/htpasswd.js';
import type { HashScheme } from '../../../src/system/platform.js';
import { userErrorFrom } from '../user-error.js';

// Cost 4 (the minimum) keeps the bcrypt tests fast.
const COST = 4;

describe('validateUserName', () => {
  it.each(['admin', 'a', '1user', 'ana.maria', 'x_y-z', 'bob@example.com', 'a+b', 'A'.repeat(64)])(
    'accepts %j',
    (name) => {
      expect(validateUserName(name)).toBe(name);
    },
  );

  it.each(['a:b', '', ' x', 'x ', 'A'.repeat(65), '.x', '-x', '_x', 'a/b', 'a b', 'a\nb', 'émile', 'a#b'])(
    'refuses %j naming it',
    (name) => {
      const error = userErrorFrom(() => validateUserName(name));
      // Quoted as JSON: a line break stays visible and the message stays on one line.
      expect(error.message).toContain(JSON.stringify(name));
      expect(error.message).not.toContain('\n');
      expect(error.hint).toMatch(/1-64/);
    },
  );
});

describe('validatePassword', () => {
  it.each([
    ['Zq9!x', 'bcrypt', /too short/],
    ['Zq9!x', 'apr1', /too short/],
    ['Zq9!xyzW\nrest', 'bcrypt', /line break/],
    ['Zq9!xyzW\r\nrest', 'apr1', /line break/],
    ['Zq9!xyzW\0rest', 'apr1', /NUL/],
    ['Zq9!xyzW'.repeat(9) + 'K', 'bcrypt', /72 bytes/], // 73 ASCII bytes
    ['Жq'.repeat(25), 'bcrypt', /72 bytes/], // 50 characters, 75 UTF-8 bytes
  ] as const)('refuses %j for %s without repeating it', (password, scheme, message) => {
    const error = userErrorFrom(() => validatePassword(password, scheme));
    expect(error.message).toMatch(message);
    const shown = `${error.message} ${error.hint ?? ''} ${String(error.details ?? '')}`;
    expect(shown).not.toContain(password);
    // Not even a recognisable piece of it.
    expect(shown).not.toContain('Zq9!');
    expect(shown).not.toContain('Жq');
  });

  it.each([
    ['Zq9!xyzW', 'bcrypt'],
    ['a'.repeat(72), 'bcrypt'], // exactly bcrypt's limit
    ['Zq9!xyzW'.repeat(9) + 'K', 'apr1'], // apr1 has no 72-byte limit
    ['Жq'.repeat(25), 'apr1'],
    ['spaces are fine here', 'bcrypt'],
  ] as const)('accepts %j for %s', (password, scheme) => {
    expect(validatePassword(password, scheme)).toBe(password);
  });
});

describe('validatePassword: only blanks', () => {
  it.each([
    ['eight spaces', ' '.repeat(8)],
    ['tabs', '\t'.repeat(8)],
    ['spaces and tabs', ' \t \t \t \t \t'],
    ['72 spaces', ' '.repeat(72)],
    ['no-break and ideographic spaces', '\u00a0\u3000'.repeat(4)],
  ])('refuses %s for both schemes, in one line that does not echo it', (_label, password) => {
    for (const scheme of ['bcrypt', 'apr1'] as const) {
      const error = userErrorFrom(() => validatePassword(password, scheme));
      expect(error.message).toBe('the password is only blanks (spaces, tabs)');
      expect(error.hint).toMatch(/letters, digits or symbols/);
      expect(`${error.message}${error.hint ?? ''}`).not.toMatch(/\t|\u00a0|\u3000| {2}/);
    }
  });

  it('still accepts blanks around or between other characters', () => {
    for (const password of ['        x', ' Zq9 xyz ', '\tpass word\t'])
      expect(validatePassword(password, 'bcrypt')).toBe(password);
  });
});

describe('hashPassword / verifyPassword', () => {
  const password = 'correct horse battery';

  it('bcrypt: a $2b$ line with the given cost that verifies only the right password', () => {
    const hash = hashPassword(password, 'bcrypt', COST);
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(schemeOf(hash)).toBe('bcrypt');
    expect(bcryptCostOf(hash)).toBe(COST);
    expect(verifyPassword(password, hash)).toBe(true);
    expect(verifyPassword('correct horse batterY', hash)).toBe(false);
    expect(verifyPassword('', hash)).toBe(false);
  });

  it('bcrypt defaults to DEFAULT_BCRYPT_COST', () => {
    expect(bcryptCostOf(hashPassword(password, 'bcrypt'))).toBe(DEFAULT_BCRYPT_COST);
  });

  it('apr1: an $apr1$ line with an 8-character salt that verifies only the right password', () => {
    const hash = hashPassword(password, 'apr1');
    expect(hash).toMatch(/^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
    expect(schemeOf(hash)).toBe('apr1');
    expect(bcryptCostOf(hash)).toBeUndefined();
    expect(verifyPassword(password, hash)).toBe(true);
    expect(verifyPassword('correct horse batterY', hash)).toBe(false);
  });

  it.each(['bcrypt', 'apr1'] as HashScheme[])('%s: two hashes of the same password differ (random salt)', (scheme) => {
    const a = hashPassword(password, scheme, COST);
    const b = hashPassword(password, scheme, COST);
    expect(a).not.toBe(b);
    expect(verifyPassword(password, a)).toBe(true);
    expect(verifyPassword(password, b)).toBe(true);
  });

  it('apr1 salts vary across many hashes (drawn from a CSPRNG, not a constant)', () => {
    const salts = new Set(Array.from({ length: 20 }, () => hashPassword('x'.repeat(8), 'apr1').split('$')[2]));
    expect(salts.size).toBe(20);
  });

  it('round-trips non-ASCII passwords', () => {
    for (const scheme of ['bcrypt', 'apr1'] as const) {
      const p = 'pässwörd-日本語';
      expect(verifyPassword(p, hashPassword(p, scheme, COST)), scheme).toBe(true);
    }
  });

  // Vectors made by other implementations: what nginx (libc crypt / its own apr1) will check.
  it('verifies hashes written by other tools', () => {
    // crypt_blowfish's test vector (also what glibc/libxcrypt crypt() returns).
    expect(verifyPassword('U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW')).toBe(true);
    expect(verifyPassword('U*V', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW')).toBe(false);
    // `openssl passwd -apr1 -salt abcdefgh 'correct horse'`
    expect(verifyPassword('correct horse', '$apr1$abcdefgh$sIQmFnT1CuEXAsyjuXjUX/')).toBe(true);
    expect(verifyPassword('correct horsE', '$apr1$abcdefgh$sIQmFnT1CuEXAsyjuXjUX/')).toBe(false);
  });

  it('never verifies schemes it does not know, even with the stored string typed in', () => {
    expect(verifyPassword('{PLAIN}secret', '{PLAIN}secret')).toBe(false);
    expect(verifyPassword('secret', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=')).toBe(false);
    expect(verifyPassword('secret', 'secret')).toBe(false);
  });
});

describe('schemeOf / bcryptCostOf', () => {
  it.each([
    ['$2a$10$abc', 'bcrypt', 10],
    ['$2b$05$abc', 'bcrypt', 5],
    ['$2y$12$abc', 'bcrypt', 12],
    ['$2x$10$abc', 'other', undefined],
    ['$2b$5$abc', 'other', undefined],
    ['$apr1$abcdefgh$xyz', 'apr1', undefined],
    ['{SHA}abc', 'other', undefined],
    ['{SSHA}abc', 'other', undefined],
    ['$1$abc$def', 'other', undefined],
    ['', 'other', undefined],
  ] as const)('%j is %s (cost %s)', (hash, scheme, cost) => {
    expect(schemeOf(hash)).toBe(scheme);
    expect(bcryptCostOf(hash)).toBe(cost);
  });
});

describe('htpasswd file', () => {
  const entries: HtpasswdEntry[] = [
    { user: 'zoe', hash: '$apr1$aaaaaaaa$h1' },
    { user: 'admin', hash: '$2b$05$h2' },
    { user: 'bob', hash: '$apr1$bbbbbbbb$h3' },
  ];

  it('renders one user:hash line per entry, in order, newline-terminated', () => {
    expect(renderHtpasswd(entries)).toBe('zoe:$apr1$aaaaaaaa$h1\nadmin:$2b$05$h2\nbob:$apr1$bbbbbbbb$h3\n');
    expect(renderHtpasswd([])).toBe('');
  });

  it('parses what it renders', () => {
    expect(parseHtpasswd(renderHtpasswd(entries))).toEqual(entries);
  });

  it('parses CRLF, skips blank lines, comments and lines without a user', () => {
    const text = '# made by hand\r\nzoe:h1\r\n\r\n   \n:nouser\nno-colon-line\nadmin:h2:with:colons\n';
    expect(parseHtpasswd(text)).toEqual([
      { user: 'zoe', hash: 'h1' },
      { user: 'admin', hash: 'h2:with:colons' },
    ]);
  });

  it('upsert replaces a user in place and appends a new one, without mutating the input', () => {
    const before = structuredClone(entries);
    expect(upsertEntry(entries, { user: 'admin', hash: 'new' }).map((e) => `${e.user}:${e.hash}`)).toEqual([
      'zoe:$apr1$aaaaaaaa$h1',
      'admin:new',
      'bob:$apr1$bbbbbbbb$h3',
    ]);
    expect(upsertEntry(entries, { user: 'carl', hash: 'h4' }).map((e) => e.user)).toEqual([
      'zoe',
      'admin',
      'bob',
      'carl',
    ]);
    expect(entries).toEqual(before);
  });

  it('upsert matches user names exactly (case-sensitive, like nginx)', () => {
    expect(upsertEntry(entries, { user: 'Admin', hash: 'x' }).map((e) => e.user)).toEqual([
      'zoe',
      'admin',
      'bob',
      'Admin',
    ]);
  });

  it('remove drops only that user and keeps the order', () => {
    expect(removeEntry(entries, 'admin').map((e) => e.user)).toEqual(['zoe', 'bob']);
    expect(removeEntry(entries, 'nobody')).toEqual(entries);
    expect(entries.map((e) => e.user)).toEqual(['zoe', 'admin', 'bob']);
  });
});

describe('generatePassword', () => {
  it('is 24 base64url characters, different each time, and acceptable for both schemes', () => {
    const passwords = Array.from({ length: 50 }, generatePassword);
    for (const p of passwords) {
      expect(p).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(validatePassword(p, 'bcrypt')).toBe(p);
      expect(validatePassword(p, 'apr1')).toBe(p);
    }
    expect(new Set(passwords).size).toBe(50);
  });

  it('draws on the whole alphabet', () => {
    const chars = new Set(Array.from({ length: 200 }, generatePassword).join(''));
    expect(chars.size).toBeGreaterThan(55); // of 64
  });
});
