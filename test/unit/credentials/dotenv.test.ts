/**
 * Editing a .env file as text. What the result means is checked with python-dotenv itself (the
 * reader of `mlflow --env-file`), from MLflow's virtual environment.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveDotenv, forgetDotenv } from '../../../src/credentials/files.js';
import { getPlatform } from '../../../src/system/platform.js';
import {
  checkOnlyOurs,
  needsPythonEscapes,
  parseDotenv,
  quoteDotenv,
  removeDotenv,
  setDotenv,
} from '../../../src/credentials/dotenv.js';
import { userErrorFrom } from '../user-error.js';

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

const pyEnv = { PATH: process.env.PATH ?? '', HOME: '/nonexistent' };

/** What python-dotenv's dotenv_values(<file>) gives: it opens the file itself (universal newlines). */
function dotenvFileReads(file: string): Record<string, string | null> {
  const script = 'import json, sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1])))';
  return JSON.parse(execFileSync(python, ['-c', script, file], { encoding: 'utf8', env: pyEnv })) as Record<
    string,
    string | null
  >;
}

/** python-dotenv's own parse_stream over each text, as given (no newline translation). */
function pythonParses(texts: string[]): { key: string | null; value: string | null; raw: string; error: boolean }[][] {
  const script = [
    'import io, json, sys',
    'from dotenv.parser import parse_stream',
    'texts = json.loads(sys.stdin.read())',
    "print(json.dumps([[{'key': b.key, 'value': b.value, 'raw': b.original.string, 'error': b.error}",
    "  for b in parse_stream(io.StringIO(t, newline=''))] for t in texts]))",
  ].join('\n');
  return JSON.parse(
    execFileSync(python, ['-c', script], { input: JSON.stringify(texts), encoding: 'utf8', env: pyEnv }),
  ) as { key: string | null; value: string | null; raw: string; error: boolean }[][];
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mlflow-secure-dotenv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

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

describe('parseDotenv', () => {
  const TEXTS = [
    'A=1\nB=2\n',
    'A=1\rB=2\r',
    'A=1\r\nB=2\r\n',
    'MLFLOW_TRACKING_USERNAME=old\nPROJECT=demo\rMLFLOW_TRACKING_URI=http://attacker.example:8000\n',
    'A=\'multi\rline\'\rB="x\\"y\\n"\r\n  export   C = plain # note\r\rD',
    "\ufeffA=1\n# comment\rB=#x\nC= #y\n'quoted key'=v\n",
    'A=1\x1cB=2\n\x85C=3\u2028D=4\u00a0\n',
    'not a binding\rA=2\n=x\rB="unterminated\nC=3\n',
    "A='x' trailing\rB=2 \t\r\n\r\n\n   ",
    'export\rA=1\nexport B=2\x0bC=3\n',
  ];

  it("reads every statement as python-dotenv's parse_stream does (keys, values, text, errors)", () => {
    const expected = pythonParses(TEXTS);
    TEXTS.forEach((text, i) => {
      const ours = parseDotenv(text).map((s) => ({
        key: s.key ?? null,
        value: s.value ?? null,
        raw: s.raw,
        error: s.error,
      }));
      expect(ours, JSON.stringify(text)).toEqual(expected[i]);
    });
  });
});

describe("the issue's reproduction: a lone CR in .env", () => {
  const REPRO = 'MLFLOW_TRACKING_USERNAME=old\nPROJECT=demo\rMLFLOW_TRACKING_URI=http://attacker.example:8000\n';
  const linux = getPlatform('linux');
  const save = [
    entry('MLFLOW_TRACKING_URI', 'http://127.0.0.1:5000'),
    entry('MLFLOW_TRACKING_USERNAME', 'admin'),
    entry('MLFLOW_TRACKING_PASSWORD', 'pw-1234'),
  ];

  it.runIf(process.platform !== 'win32')(
    'env --save --dotenv replaces the statement after the CR: dotenv_values(file) gives our URI',
    async () => {
      const file = path.join(tmp, 'repro.env');
      writeFileSync(file, REPRO);
      await saveDotenv(file, save, linux);
      expect(dotenvFileReads(file)).toEqual({
        PROJECT: 'demo',
        MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000',
        MLFLOW_TRACKING_USERNAME: 'admin',
        MLFLOW_TRACKING_PASSWORD: 'pw-1234',
      });
      expect(readFileSync(file, 'utf8')).not.toContain('attacker');
    },
  );

  it.runIf(process.platform !== 'win32')('env --forget --dotenv removes it too', async () => {
    const file = path.join(tmp, 'forget.env');
    writeFileSync(file, REPRO);
    const keys = save.map((e) => e.key);
    expect((await forgetDotenv(file, keys, linux)).removed).toEqual([
      'MLFLOW_TRACKING_URI',
      'MLFLOW_TRACKING_USERNAME',
    ]);
    expect(dotenvFileReads(file)).toEqual({ PROJECT: 'demo' });
  });

  it('refuses, in one line, a result where a statement not ours sets one of our keys', () => {
    const ours = ["MLFLOW_TRACKING_URI='http://127.0.0.1:5000'"];
    const uri = [entry('MLFLOW_TRACKING_URI', 'http://127.0.0.1:5000')];
    expect(() => checkOnlyOurs(`A=1\n${ours[0]}\n`, uri, new Set(ours))).not.toThrow();
    for (const text of [
      `${ours[0]}\nPROJECT=demo\rMLFLOW_TRACKING_URI=http://attacker.example:8000\n`,
      `${ours[0]}\nMLFLOW_TRACKING_URI\n`, // a bare key: dotenv_values gives None
      `MLFLOW_TRACKING_URI='http://other'\n`,
    ]) {
      const e = userErrorFrom(() => checkOnlyOurs(text, uri, new Set(ours)));
      expect(e.message).toMatch(/^python-dotenv would read MLFLOW_TRACKING_URI from a statement .* did not write/);
      expect(`${e.message}. ${e.hint}`).not.toContain('\n');
    }
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
