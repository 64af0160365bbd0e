/**
 * python/mlflow_secure_auth.py's token check, in MLflow's Python (./.venv) without MLflow running:
 * the token file and the password file are data, and anything unexpected in them refuses the
 * token (never a crash); expiry, the user's presence and the read-only allowlist.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashToken, renderTokenFile, type TokenRecord } from '../../../src/users/tokens.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');
const venvPython = path.join(root, '.venv', 'bin', 'python');
const DRIVER = path.join(root, 'test', 'fixtures', 'token_check.py');
const state = mkdtempSync(path.join(tmpdir(), 'token-check-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

const TOKEN = `mlfs_${'Q'.repeat(42)}w`;
const HTPASSWD = 'alice:$apr1$x$y\nbob:$2y$05$z\n';
const RECORD: TokenRecord = {
  name: 'ci',
  user: 'alice',
  sha256: hashToken(TOKEN),
  created: '2026-01-01T00:00:00.000Z',
  expires: '2999-01-01T00:00:00.000Z',
  readOnly: false,
};
interface Case {
  tokens: string | null;
  htpasswd?: string;
  token?: string;
  method?: string;
  path?: string;
}

function check(cases: Case[]): { user: string | null; reads_only: boolean }[] {
  const input = cases.map((c) => ({
    htpasswd: HTPASSWD,
    token: TOKEN,
    method: 'GET',
    path: '/api/2.0/mlflow/experiments/get',
    ...c,
  }));
  const r = spawnSync(venvPython, [DRIVER, state], { input: JSON.stringify(input), encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { user: string | null; reads_only: boolean }[];
}
const users = (cases: Case[]) => check(cases).map((r) => r.user);
const file = (...tokens: unknown[]) => JSON.stringify({ version: 1, tokens });

describe('the token check in MLflow', () => {
  it("finds a token's user, and refuses other tokens, expired ones and those of users gone", () => {
    expect(
      users([
        { tokens: renderTokenFile([RECORD]) },
        { tokens: renderTokenFile([RECORD]), token: `mlfs_${'R'.repeat(42)}w` },
        { tokens: renderTokenFile([RECORD]), token: `${TOKEN}x` },
        { tokens: renderTokenFile([{ ...RECORD, expires: '2020-01-01T00:00:00.000Z' }]) },
        { tokens: renderTokenFile([{ ...RECORD, expires: null }]) },
        { tokens: renderTokenFile([RECORD]), htpasswd: 'bob:$2y$05$z\n' },
        { tokens: renderTokenFile([RECORD]), htpasswd: 'alice\n' },
        { tokens: null },
        { tokens: renderTokenFile([RECORD]) },
      ]),
    ).toEqual(['alice', null, null, null, 'alice', null, null, null, 'alice']);
  });

  it('refuses every token when the file holds anything mlflow-secure would not write, without crashing', () => {
    const hostile = [
      '{',
      '[]',
      'null',
      '"x"',
      '['.repeat(100_000),
      '\ud800',
      JSON.stringify({ version: 2, tokens: [RECORD] }),
      JSON.stringify({ version: 1, tokens: {} }),
      file({ ...RECORD, user: 'a\nb' }),
      file({ ...RECORD, user: ['alice'] }),
      file({ ...RECORD, sha256: RECORD.sha256.toUpperCase() }),
      file({ ...RECORD, readOnly: 'no' }),
      file({ ...RECORD, expires: 'soon' }),
      file({ ...RECORD, expires: 4102444800 }),
      file({ ...RECORD, expires: '2999-13-45T00:00:00Z' }),
      file(RECORD, 'x'),
      file({ ...RECORD, name: '../x' }),
    ];
    expect(users(hostile.map((tokens) => ({ tokens })))).toEqual(hostile.map(() => null));
    // And it recovers once the file is good again.
    expect(users([{ tokens: '{' }, { tokens: renderTokenFile([RECORD]) }])).toEqual([null, 'alice']);
  });

  it('counts as reading: GET, HEAD and the searches MLflow takes by POST; nothing else', () => {
    const reads = (method: string, p: string) => check([{ tokens: null, method, path: p }])[0]?.reads_only;
    for (const [method, p] of <[string, string][]>[
      ['GET', '/api/2.0/mlflow/experiments/get-by-name'],
      ['HEAD', '/api/2.0/mlflow-artifacts/artifacts/a'],
      ['POST', '/api/2.0/mlflow/experiments/search'],
      ['POST', '/ajax-api/2.0/mlflow/runs/search'],
      ['POST', '/api/3.0/mlflow/traces/search'],
    ])
      expect(reads(method, p), `${method} ${p}`).toBe(true);
    for (const [method, p] of <[string, string][]>[
      ['POST', '/api/2.0/mlflow/experiments/create'],
      ['POST', '/api/2.0/mlflow/runs/log-batch'],
      ['POST', '/api/2.0/mlflow/experiments/search/x'],
      ['POST', '/api/3.0/mlflow/review-queues/get-or-create-user'],
      ['PUT', '/api/2.0/mlflow-artifacts/artifacts/a'],
      ['PATCH', '/api/2.0/mlflow/registered-models/update'],
      ['DELETE', '/api/2.0/mlflow/experiments/delete'],
    ])
      expect(reads(method, p), `${method} ${p}`).toBe(false);
  });
});
