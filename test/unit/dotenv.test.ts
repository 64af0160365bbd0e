/**
 * Editing a .env file as text. What the result means is checked with python-dotenv itself (the
 * reader of `mlflow --env-file`), from MLflow's virtual environment.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { needsPythonEscapes, quoteDotenv, removeDotenv, setDotenv } from '../../src/plan/dotenv.js';
import { userErrorFrom } from './user-error.js';

const python = path.resolve('.venv', 'bin', 'python');

/** What python-dotenv's load_dotenv() sets from `text` (interpolation on, as MLflow's CLI uses it). */
function dotenvReads(text: string): Record<string, string | null> {
  const script = [
    'import io, json, sys',
    'from dotenv import dotenv_values',
    'print(json.dumps(dotenv_values(stream=io.StringIO(sys.stdin.read()))))',
  ].join('\n');
  return JSON.parse(
    execFileSync(python, ['-c', script], {
      input: text,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' },
    }),
  ) as Record<string, string | null>;
}

const VALUES = [
  'plain',
  "it's",
  "''",
  '"double"',
  'back\\slash\\',
  "\\'",
  '$HOME $x',
  '#hash',
  ' lead and trail ',
  'ünïcødé ✓ 日本語',
  'mix\'"$`\\!%^&|<>',
  'p@ss:w0rd/with?query=1&x#frag',
];

const entry = (key: string, value: string) => ({ key, value, what: key });

describe('quoteDotenv', () => {
  it.each(VALUES)('quotes %j so that python-dotenv reads it back exactly', (value) => {
    expect(dotenvReads(`K=${quoteDotenv(value, 'value')}\n`)).toEqual({ K: value });
  });

  it('refuses what python-dotenv would change or the line could not hold, without echoing the value', () => {
    const e = userErrorFrom(() => quoteDotenv('a${HOME}b', 'password'));
    expect(e.message).toMatch(/expands as a variable/);
    expect(e.message).not.toContain('a${HOME}b');
    expect(userErrorFrom(() => quoteDotenv('two\nlines', 'password')).message).toMatch(/control character/);
  });

  it("flags values a shell's `. file` would read differently", () => {
    expect(needsPythonEscapes('plain$x')).toBe(false);
    expect(needsPythonEscapes("it's")).toBe(true);
    expect(needsPythonEscapes('a\\b')).toBe(true);
  });
});

describe('setDotenv', () => {
  const ours = [
    entry('MLFLOW_TRACKING_URI', 'http://127.0.0.1:5000'),
    entry('MLFLOW_TRACKING_USERNAME', 'admin'),
    entry('MLFLOW_TRACKING_PASSWORD', "pa'ss\\word"),
  ];

  it('appends to a file without them, keeping the other lines as they were', () => {
    const before = '# project settings\nDEBUG=1\nexport NAME="x y"'; // no final newline
    const text = setDotenv(before, ours);
    expect(text).toBe(
      `${before}\nMLFLOW_TRACKING_URI='http://127.0.0.1:5000'\nMLFLOW_TRACKING_USERNAME='admin'\nMLFLOW_TRACKING_PASSWORD='pa\\'ss\\\\word'\n`,
    );
    expect(dotenvReads(text)).toEqual({
      DEBUG: '1',
      NAME: 'x y',
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000',
      MLFLOW_TRACKING_USERNAME: 'admin',
      MLFLOW_TRACKING_PASSWORD: "pa'ss\\word",
    });
  });

  it('replaces earlier values where they were, whatever their form (export, spaces, multi-line quotes)', () => {
    const before = [
      'A=1',
      "export MLFLOW_TRACKING_PASSWORD = 'old",
      "NOT_A_KEY=inside-the-quotes'", // part of the quoted value above, so it goes with it
      'MLFLOW_TRACKING_USERNAME="old-user" # comment',
      'B=2',
      '',
    ].join('\n');
    const text = setDotenv(before, ours);
    expect(text.split('\n')).toEqual([
      'A=1',
      "MLFLOW_TRACKING_URI='http://127.0.0.1:5000'",
      "MLFLOW_TRACKING_USERNAME='admin'",
      "MLFLOW_TRACKING_PASSWORD='pa\\'ss\\\\word'",
      'B=2',
      '',
    ]);
    expect(dotenvReads(text)).toMatchObject({ A: '1', B: '2', MLFLOW_TRACKING_PASSWORD: "pa'ss\\word" });
  });

  it('keeps CRLF line endings', () => {
    expect(setDotenv('A=1\r\n', [entry('K', 'v')])).toBe("A=1\r\nK='v'\r\n");
  });
});

describe('removeDotenv', () => {
  it('undoes setDotenv, keeping the other lines, and says which keys it removed', () => {
    const before = '# settings\nDEBUG=1\n';
    const keys = ['MLFLOW_TRACKING_URI', 'MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD'];
    const saved = setDotenv(
      before,
      keys.map((k) => entry(k, `${k}-value`)),
    );
    expect(removeDotenv(saved, keys)).toEqual({ text: before, removed: keys, empty: false });
  });

  it('says when nothing else is left, and removes nothing that is not there', () => {
    expect(removeDotenv("K='v'\n\n", ['K'])).toEqual({ text: '\n', removed: ['K'], empty: true });
    expect(removeDotenv('A=1\n', ['K'])).toEqual({ text: 'A=1\n', removed: [], empty: false });
  });
});
