/**
 * Editing ~/.mlflow/credentials as text. What the result means is checked with Python's own
 * configparser, read the way MLflow's client reads it (mlflow/utils/credentials.py).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { iniValue, readCredentials, removeCredentials, setCredentials } from '../../../src/credentials/ini.js';
import { userErrorFrom } from '../user-error.js';

const python = path.resolve('.venv', 'bin', 'python');
const FILE = '/home/ana/.mlflow/credentials';

/** What MLflow's client reads from `text`: ConfigParser() (interpolation on), section [mlflow]. */
function mlflowReads(text: string): { user: string | null; password: string | null } {
  const script = [
    'import configparser, json, sys',
    'config = configparser.ConfigParser()',
    'config.read_string(sys.stdin.read())',
    'cfg = config["mlflow"] if "mlflow" in config else {}',
    'print(json.dumps({"user": cfg.get("mlflow_tracking_username"), "password": cfg.get("mlflow_tracking_password")}))',
  ].join('\n');
  return JSON.parse(execFileSync(python, ['-c', script], { input: text, encoding: 'utf8' })) as {
    user: string | null;
    password: string | null;
  };
}

const PASSWORDS = [
  'plain-password',
  'per%cent%%s %(user)s',
  'quo\'te"s',
  'back\\slash\\',
  '#not-a-comment',
  ';semi',
  '[bracket]',
  'a = b : c',
  'ünïcødé ✓ 日本語',
  '$HOME ${HOME} `x`',
];

describe('setCredentials', () => {
  it.each(PASSWORDS)('writes %j so that configparser reads it back exactly', (password) => {
    const { text } = setCredentials('', 'admin', password, FILE);
    expect(mlflowReads(text)).toEqual({ user: 'admin', password });
    expect(readCredentials(text)).toEqual({ user: 'admin', password });
  });

  it('makes a new file with one [mlflow] section', () => {
    expect(setCredentials('', 'admin', 'pw%1', FILE).text).toBe(
      '[mlflow]\nmlflow_tracking_username = admin\nmlflow_tracking_password = pw%%1\n',
    );
  });

  it('keeps other sections, comments and keys, and adds [mlflow] at the end', () => {
    const before = '# my settings\n[databricks]\nhost = https://example.test\n\n[DEFAULT]\ntimeout = 5'; // no final newline
    const { text } = setCredentials(before, 'admin', 'secret-1', FILE);
    expect(text).toBe(`${before}\n\n[mlflow]\nmlflow_tracking_username = admin\nmlflow_tracking_password = secret-1\n`);
    expect(mlflowReads(text)).toEqual({ user: 'admin', password: 'secret-1' });
  });

  it('replaces our keys inside an existing [mlflow] section, keeping its other keys and what follows', () => {
    const before = [
      '[mlflow]',
      'MLFLOW_TRACKING_USERNAME: old-user', // keys are case-insensitive, ':' is a delimiter too
      'mlflow_tracking_password = old-pass',
      '    continued', // a continuation line belongs to the old password
      'mlflow_tracking_insecure_tls = true',
      '',
      '; next',
      '[other]',
      'x = 1',
      '',
    ].join('\n');
    const r = setCredentials(before, 'admin', 'new-pass', FILE);
    expect(r.previousUser).toBe('old-user');
    expect(r.text).toBe(
      [
        '[mlflow]',
        'mlflow_tracking_insecure_tls = true',
        'mlflow_tracking_username = admin',
        'mlflow_tracking_password = new-pass',
        '',
        '; next',
        '[other]',
        'x = 1',
        '',
      ].join('\n'),
    );
    expect(mlflowReads(r.text)).toEqual({ user: 'admin', password: 'new-pass' });
  });

  it('reports no previous user when it was the same one, and keeps CRLF line endings', () => {
    const before = '[mlflow]\r\nmlflow_tracking_username = admin\r\nmlflow_tracking_password = a\r\n';
    const r = setCredentials(before, 'admin', 'b-password', FILE);
    expect(r.previousUser).toBeUndefined();
    expect(r.text).toBe('[mlflow]\r\nmlflow_tracking_username = admin\r\nmlflow_tracking_password = b-password\r\n');
  });

  it.each([
    ['a line before any section', 'stray = 1\n[mlflow]\n', /line 1 comes before any \[section\] header/],
    ['a line that is no key = value', '[mlflow]\nsecret-looking-line\n', /line 2 is neither/],
    ['a repeated section', '[mlflow]\na = 1\n[mlflow]\nb = 2\n', /line 3 repeats the section \[mlflow\]/],
    ['a repeated key', '[x]\na = 1\nA = 2\n', /line 3 repeats the key "a" in \[x\]/],
  ])('refuses a file configparser cannot read (%s), without quoting its lines', (_what, before, message) => {
    const e = userErrorFrom(() => setCredentials(before, 'admin', 'pw-12345', FILE));
    expect(e.message).toMatch(message);
    expect(e.message).toContain(FILE);
    expect(e.message).not.toContain('secret-looking-line');
  });

  it('refuses an edit that would change how a following indented line is read', () => {
    // `  [next]` after an option indented as deep is a header; after our unindented keys it
    // would continue our password.
    const before = '[mlflow]\n  a = 1\n  [next]\n  b = 2\n';
    expect(userErrorFrom(() => setCredentials(before, 'admin', 'pw-12345', FILE)).message).toMatch(
      /without changing how MLflow's client reads its other lines/,
    );
  });
});

describe('iniValue', () => {
  it('doubles % and refuses what configparser would change', () => {
    expect(iniValue('100%', 'password')).toBe('100%%');
    expect(userErrorFrom(() => iniValue(' lead', 'password')).message).toMatch(/starts or ends with a blank/);
    expect(userErrorFrom(() => iniValue('trail\t', 'password')).message).toMatch(/control character|blank/);
    expect(userErrorFrom(() => iniValue('two\nlines', 'password')).message).toMatch(/control character/);
    expect(userErrorFrom(() => iniValue('two\nlines', 'password')).message).not.toContain('lines');
  });
});

describe('removeCredentials', () => {
  it('undoes setCredentials exactly, keeping everything else', () => {
    const before = '# my settings\n[databricks]\nhost = https://example.test\n';
    const saved = setCredentials(before, 'admin', 'secret-1', FILE).text;
    const r = removeCredentials(saved, FILE);
    expect(r).toEqual({ text: before, removed: true, user: 'admin', empty: false });
  });

  it('keeps the [mlflow] section when other keys or comments are in it', () => {
    const r = removeCredentials(
      '[mlflow]\n# mine\nmlflow_tracking_username = a\nmlflow_tracking_password = b\n  b2\nother = 1\n',
      FILE,
    );
    expect(r.text).toBe('[mlflow]\n# mine\nother = 1\n');
    expect(r.empty).toBe(false);
  });

  it('says the file is empty when nothing else was in it, and changes nothing when our keys are absent', () => {
    expect(removeCredentials(setCredentials('', 'admin', 'x-password', FILE).text, FILE)).toEqual({
      text: '',
      removed: true,
      user: 'admin',
      empty: true,
    });
    expect(removeCredentials('[other]\na = 1\n', FILE)).toEqual({
      text: '[other]\na = 1\n',
      removed: false,
      empty: false,
    });
    expect(removeCredentials('', FILE)).toEqual({ text: '', removed: false, empty: true });
  });
});
