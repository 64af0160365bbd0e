/**
 * The store checks' pure parts: which stores are checked (none for SQLite and files), which
 * Python runs the check on Linux and Windows, the pip command a hint names, and what each
 * answer from the check or line from MLflow's log means, as one line with the password masked.
 * The real runs against PostgreSQL and moto are test/e2e/postgres.test.ts and s3.test.ts.
 */
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOutput } from '../../../src/log.js';
import { getPlatform } from '../../../src/system/platform.js';
import { resolveSettings } from '../../../src/stack/settings.js';
import {
  classifyDbError,
  describeDbUri,
  driverPackageFor,
  explainS3Answer,
  explainSqlAnswer,
  parseCheckAnswer,
  pipInstallCommand,
  pythonCandidatesFor,
  storeChecks,
  storeProblemInMlflowLog,
  type ExplainContext,
  type StoreCheck,
} from '../../../src/stores/checks.js';
import { findMlflowPython, runStoreChecks, startStoreChecks } from '../../../src/stores/run-checks.js';
import type { RunResult } from '../../../src/system/run-once.js';
import { sink } from '../sink.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const PG = 'postgresql://mlflow:S3cret-pw@db.example:5432/mlflow';
const pgCheck: StoreCheck = { kind: 'sql', role: 'backend and registry store', flag: '--backend-store-uri', uri: PG };
const s3Check: StoreCheck = {
  kind: 's3',
  role: 'artifacts destination',
  flag: '--artifacts-destination',
  uri: 's3://bucket/team',
};
const venvPython = { file: '/srv/venv/bin/python', args: [] };

function settings(
  o: { backendStoreUri?: string; registryStoreUri?: string; artifactsDestination?: string },
  platform = linux,
) {
  return resolveSettings(o, { cwd: platform.isWindows ? 'C:\\work' : '/work', platform });
}

describe('storeChecks: what is checked', () => {
  it('nothing for the defaults (SQLite, a local folder), a sqlite URI or a file store', () => {
    expect(storeChecks(settings({}))).toEqual([]);
    expect(
      storeChecks(settings({ backendStoreUri: 'sqlite:////data/mlflow.db', artifactsDestination: '/data/art' })),
    ).toEqual([]);
    expect(
      storeChecks(settings({ backendStoreUri: 'D:\\mlruns', artifactsDestination: 'file:///D:/art' }, win32)),
    ).toEqual([]);
  });

  it('one SQL check when backend and registry are the same database, two when they differ', () => {
    expect(storeChecks(settings({ backendStoreUri: PG }))).toEqual([pgCheck]);
    const two = storeChecks(settings({ backendStoreUri: PG, registryStoreUri: 'mysql+pymysql://u:p@h/reg' }));
    expect(two.map((c) => [c.role, c.flag])).toEqual([
      ['backend store', '--backend-store-uri'],
      ['registry store', '--registry-store-uri'],
    ]);
  });

  it('a SQLite backend with a PostgreSQL registry checks only the registry', () => {
    const checks = storeChecks(settings({ backendStoreUri: '/data/mlflow.db', registryStoreUri: PG }));
    expect(checks).toEqual([{ kind: 'sql', role: 'registry store', flag: '--registry-store-uri', uri: PG }]);
  });

  it('an s3:// artifacts destination is checked; other remote ones are not', () => {
    expect(storeChecks(settings({ artifactsDestination: 's3://bucket/team' }))).toEqual([s3Check]);
    expect(storeChecks(settings({ artifactsDestination: 'gs://bucket/team' }))).toEqual([]);
  });
});

describe("MLflow's Python", () => {
  it('POSIX: python, then python3, beside the mlflow executable', () => {
    expect(pythonCandidatesFor({ file: '/home/ana/.venv/bin/mlflow', args: [] }, linux)).toEqual([
      { file: '/home/ana/.venv/bin/python', args: [] },
      { file: '/home/ana/.venv/bin/python3', args: [] },
    ]);
  });

  it('Windows: python.exe beside mlflow.exe in Scripts; `py -3 -m mlflow` runs in `py -3`', () => {
    expect(pythonCandidatesFor({ file: 'C:\\Users\\ana\\venv\\Scripts\\mlflow.exe', args: [] }, win32)).toEqual([
      { file: 'C:\\Users\\ana\\venv\\Scripts\\python.exe', args: [] },
    ]);
    expect(pythonCandidatesFor({ file: 'py', args: ['-3', '-m', 'mlflow'] }, win32)).toEqual([
      { file: 'py', args: ['-3'] },
    ]);
    expect(pythonCandidatesFor({ file: 'python', args: ['-m', 'mlflow'] }, win32)).toEqual([
      { file: 'python', args: [] },
    ]);
  });

  it('findMlflowPython takes the first that exists, and a bare command as it is', async () => {
    const exists = new Set(['/opt/mlflow/bin/python3']);
    expect(
      await findMlflowPython({ file: '/opt/mlflow/bin/mlflow', args: [] }, linux, async (f) => exists.has(f)),
    ).toEqual({ file: '/opt/mlflow/bin/python3', args: [] });
    expect(
      await findMlflowPython({ file: '/opt/none/bin/mlflow', args: [] }, linux, async () => false),
    ).toBeUndefined();
    expect(await findMlflowPython({ file: 'py', args: ['-3', '-m', 'mlflow'] }, win32, async () => false)).toEqual({
      file: 'py',
      args: ['-3'],
    });
  });
});

describe('pipInstallCommand', () => {
  it('quotes an extra so zsh does not glob it, and a path only when it needs it', () => {
    expect(pipInstallCommand(venvPython, 'psycopg[binary]', linux)).toBe(
      '/srv/venv/bin/python -m pip install "psycopg[binary]"',
    );
    expect(pipInstallCommand({ file: "/home/o'neil/my venv/bin/python", args: [] }, 'boto3', linux)).toBe(
      `'/home/o'\\''neil/my venv/bin/python' -m pip install boto3`,
    );
  });

  it('Windows: PowerShell needs & before a quoted path; py -3 keeps its argument', () => {
    expect(
      pipInstallCommand({ file: 'C:\\Program Files\\venv\\Scripts\\python.exe', args: [] }, 'psycopg[binary]', win32),
    ).toBe('& "C:\\Program Files\\venv\\Scripts\\python.exe" -m pip install "psycopg[binary]"');
    expect(pipInstallCommand({ file: 'py', args: ['-3'] }, 'boto3', win32)).toBe('py -3 -m pip install boto3');
  });
});

describe('driverPackageFor: the default driver of each dialect under SQLAlchemy 2.1', () => {
  it.each([
    ['postgresql://h/db', 'psycopg[binary]'],
    ['postgresql+psycopg://h/db', 'psycopg[binary]'],
    ['postgresql+psycopg2://h/db', 'psycopg2-binary'],
    ['postgresql+pg8000://h/db', 'pg8000'],
    ['mysql://h/db', 'mysqlclient'],
    ['mysql+pymysql://h/db', 'PyMySQL'],
    ['mssql://h/db', 'pyodbc'],
    ['s3://bucket', 'boto3'],
    ['sqlite:///x.db', undefined],
  ])('%s -> %s', (uri, pkg) => expect(driverPackageFor(uri)).toBe(pkg));
});

describe('parseCheckAnswer', () => {
  it('takes the last JSON line (warnings may come before it) and refuses anything else', () => {
    expect(parseCheckAnswer('some warning\n{"ok": true, "driver": "psycopg"}\n')).toEqual(
      expect.objectContaining({ ok: true, driver: 'psycopg' }),
    );
    expect(parseCheckAnswer('Traceback (most recent call last):\n  ...')).toBeUndefined();
    expect(parseCheckAnswer('{"ok": "yes"}')).toBeUndefined();
    expect(parseCheckAnswer('{"ok": false, "kind": 7}')).toEqual(
      expect.objectContaining({ ok: false, kind: undefined }),
    );
  });
});

describe('classifyDbError: the texts drivers print', () => {
  it.each([
    [
      'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running',
      'refused',
    ],
    ["failed to resolve host 'db.invalid': [Errno -2] Name or service not known", 'unknown-host'],
    ['could not translate host name "db.invalid" to address: Name or service not known', 'unknown-host'],
    ['connection failed: connection to server at "10.0.0.9", port 5432 failed: timeout expired', 'timeout'],
    ['connection failed: ... failed: FATAL:  password authentication failed for user "mlflow"', 'auth'],
    ['FATAL:  database "nodb" does not exist', 'no-database'],
    ['FATAL:  role "ghost" does not exist', 'no-role'],
    ['(psycopg.errors.InsufficientPrivilege) permission denied for schema public', 'no-privilege'],
    ["(1045, \"Access denied for user 'u'@'localhost' (using password: YES)\")", 'auth'],
    ['(1049, "Unknown database \'nodb\'")', 'no-database'],
    ["(2003, \"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)\")", 'refused'],
  ])('%s', (text, problem) => expect(classifyDbError(text)?.problem).toBe(problem));

  it('something else is not guessed at', () =>
    expect(classifyDbError('SSL SYSCALL error: EOF detected')).toBeUndefined());
});

describe('describeDbUri', () => {
  it('host:port, database and user, decoded; the password never', () => {
    expect(describeDbUri('postgresql://ml%40flow:p%3Aw@db:5433/my%20db?sslmode=require')).toEqual({
      user: 'ml@flow',
      host: 'db:5433',
      database: 'my db',
    });
  });
});

describe('explainSqlAnswer: one line each, the password masked', () => {
  const c: ExplainContext = { platform: linux, python: venvPython };
  const explain = (answer: Parameters<typeof explainSqlAnswer>[1], ctx = c) => explainSqlAnswer(pgCheck, answer, ctx)!;

  it('passes say nothing', () => expect(explainSqlAnswer(pgCheck, { ok: true, driver: 'psycopg' }, c)).toBeUndefined());

  it('a missing psycopg: the package and the exact pip command for that Python', () => {
    const e = explain({ ok: false, kind: 'missing-module', module: 'psycopg' });
    expect(e.message).toBe(
      "the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow needs the Python module psycopg (package psycopg[binary]), which MLflow's Python (/srv/venv/bin/python) does not have",
    );
    expect(e.hint).toBe(`Install it into MLflow's environment: /srv/venv/bin/python -m pip install "psycopg[binary]"`);
  });

  it("setup's own venv also names setup --with", () => {
    expect(explain({ ok: false, kind: 'missing-module', module: 'psycopg' }, { ...c, setupVenv: true }).hint).toBe(
      'Install it: /srv/venv/bin/python -m pip install "psycopg[binary]" (or: mlflow-secure setup --with postgres)',
    );
  });

  it('MySQLdb (mysqlclient needs a compiler) also offers PyMySQL', () => {
    const e = explainSqlAnswer(
      { ...pgCheck, uri: 'mysql://u:pw@h/db' },
      { ok: false, kind: 'missing-module', module: 'MySQLdb' },
      c,
    )!;
    expect(e.hint).toBe(
      'Install mysqlclient (it builds against the MySQL client library), or use a mysql+pymysql:// URI with /srv/venv/bin/python -m pip install PyMySQL',
    );
  });

  it('psycopg without libpq (ImportError naming no module): the dialect decides the package', () => {
    const e = explain({ ok: false, kind: 'missing-module', module: '', message: 'no pq wrapper available' });
    expect(e.message).toContain('needs its driver (no pq wrapper available) (package psycopg[binary])');
  });

  it('refused, wrong password, missing database, unknown kind', () => {
    expect(
      explain({
        ok: false,
        kind: 'connect',
        type: 'OperationalError',
        message: 'connection failed: connection to server at "db.example", port 5432 failed: Connection refused',
      }),
    ).toEqual({
      message:
        'cannot reach the database server of the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow (Connection refused)',
      hint: 'Start the database server, or fix the host and port (db.example:5432) in --backend-store-uri',
    });
    expect(
      explain({ ok: false, kind: 'connect', message: 'FATAL:  password authentication failed for user "mlflow"' })
        .message,
    ).toBe(
      'the database server refused the login for the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow (password authentication failed for user "mlflow")',
    );
    expect(explain({ ok: false, kind: 'connect', message: 'FATAL:  database "mlflow" does not exist' }).hint).toBe(
      'Create it (PostgreSQL: CREATE DATABASE mlflow OWNER mlflow;), or fix the database name in --backend-store-uri',
    );
    expect(
      explain({
        ok: false,
        kind: 'connect',
        type: 'OperationalError',
        message: 'SSL SYSCALL error: EOF detected\nmore',
      }),
    ).toEqual({
      message:
        'cannot connect to the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow (OperationalError: SSL SYSCALL error: EOF detected)',
      hint: 'Check the server and --backend-store-uri',
    });
  });

  it('no line holds the password', () => {
    for (const answer of [
      { ok: false, kind: 'missing-module' as const, module: 'psycopg' },
      { ok: false, kind: 'connect' as const, message: 'Connection refused' },
      { ok: false, kind: 'bad-uri' as const, type: 'ArgumentError', message: 'Could not parse' },
    ]) {
      const e = explain(answer);
      expect(`${e.message} ${e.hint}`).not.toContain('S3cret-pw');
    }
  });
});

describe('explainS3Answer', () => {
  const c: ExplainContext = { platform: linux, python: venvPython, s3Endpoint: 'http://127.0.0.1:9000' };
  const explain = (answer: Parameters<typeof explainS3Answer>[1], ctx = c) => explainS3Answer(s3Check, answer, ctx)!;

  it('no boto3: the pip command', () => {
    expect(explain({ ok: false, kind: 'missing-module', module: 'boto3' }).hint).toBe(
      "Install it into MLflow's environment: /srv/venv/bin/python -m pip install boto3",
    );
  });

  it('missing bucket (ListObjectsV2 and HEAD spellings), with the command that makes it', () => {
    for (const code of ['NoSuchBucket', '404']) {
      expect(explain({ ok: false, kind: 'client-error', code, endpoint: 'http://127.0.0.1:9000' })).toEqual({
        message:
          "the bucket 'bucket' of the artifacts destination s3://bucket/team does not exist at http://127.0.0.1:9000",
        hint: 'Create it (aws s3 mb s3://bucket --endpoint-url http://127.0.0.1:9000), or fix the bucket in --artifacts-destination',
      });
    }
  });

  it('bad keys, access denied, unreachable, no credentials; AWS itself when no endpoint is set', () => {
    expect(
      explain({
        ok: false,
        kind: 'client-error',
        code: 'InvalidAccessKeyId',
        message: 'The AWS Access Key Id you provided does not exist in our records.',
        endpoint: 'http://127.0.0.1:9000',
      }).message,
    ).toBe(
      'the S3 service at http://127.0.0.1:9000 refused the credentials for the artifacts destination s3://bucket/team (InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.)',
    );
    expect(
      explain(
        {
          ok: false,
          kind: 'client-error',
          code: 'AccessDenied',
          message: 'Access Denied',
          endpoint: 'https://s3.amazonaws.com',
        },
        { platform: linux, python: venvPython, s3Endpoint: undefined },
      ).hint,
    ).toMatch(/^Grant them s3:ListBucket/);
    expect(
      explain({
        ok: false,
        kind: 'unreachable',
        endpoint: 'http://127.0.0.1:9000',
        message: 'Could not connect to the endpoint URL: "http://127.0.0.1:9000/bucket"',
      }).message,
    ).toBe(
      'cannot reach the S3 endpoint http://127.0.0.1:9000 (MLFLOW_S3_ENDPOINT_URL) for the artifacts destination s3://bucket/team: Could not connect to the endpoint URL: "http://127.0.0.1:9000/bucket"',
    );
    expect(
      explain(
        { ok: false, kind: 'unreachable', endpoint: 'https://s3.amazonaws.com', message: 'x' },
        { platform: linux, s3Endpoint: undefined },
      ).message,
    ).toContain('(no MLFLOW_S3_ENDPOINT_URL, so AWS itself)');
    expect(explain({ ok: false, kind: 'no-credentials' }).hint).toMatch(
      /^Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
  });
});

describe("storeProblemInMlflowLog: MLflow's own failures while it starts", () => {
  const c = { platform: linux, python: venvPython };
  it('the retry loop on a refused login stops `up` at the first such line', () => {
    const line =
      '(psycopg.OperationalError) connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "mlflow"';
    const e = storeProblemInMlflowLog(line, [pgCheck], c)!;
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/^MLflow could not use its database: the database server refused the login for .*\*{8}@/);
  });

  it('a migration without privileges, and a driver missing in the Python MLflow really runs in', () => {
    expect(
      storeProblemInMlflowLog(
        'sqlalchemy.exc.ProgrammingError: (psycopg.errors.InsufficientPrivilege) permission denied for schema public',
        [pgCheck],
        c,
      )?.message,
    ).toContain("may not create MLflow's tables");
    expect(
      storeProblemInMlflowLog("2026/11/23 22:24:05 ERROR mlflow.cli: No module named 'psycopg'", [pgCheck], c)?.message,
    ).toMatch(/^MLflow exited: .* needs the Python module psycopg/);
  });

  it('ordinary lines, and any line when no database store is checked, mean nothing', () => {
    expect(storeProblemInMlflowLog('INFO:     Started server process [1]', [pgCheck], c)).toBeUndefined();
    expect(storeProblemInMlflowLog('Connection refused', [pgCheck], c)).toBeUndefined();
    expect(
      storeProblemInMlflowLog('FATAL:  password authentication failed for user "x"', [s3Check], c),
    ).toBeUndefined();
  });
});

describe('runStoreChecks and startStoreChecks (the check programs faked)', () => {
  const ctx = {
    env: { HOME: '/home/ana', AWS_SECRET_ACCESS_KEY: 'aws-Secret-Key-1', MLFLOW_SECURE_PASSWORD: 'stack-pw-1' },
    platform: linux,
  };
  const found = { file: '/srv/venv/bin/mlflow', args: [] };
  const isExecutable = async (f: string) => f === '/srv/venv/bin/python';

  it('runs one check per store, at once, with the URI in the environment and never in argv; no stack password', async () => {
    const seen: { args: readonly string[]; env: NodeJS.ProcessEnv }[] = [];
    const run = async (_file: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv }): Promise<RunResult> => {
      seen.push({ args, env: o.env! });
      return { exitCode: 0, stdout: '{"ok": true, "driver": "psycopg"}\n', stderr: '' };
    };
    const { results } = await runStoreChecks([pgCheck, s3Check], found, ctx, { run, isExecutable });
    expect(results.map((r) => r.passed)).toEqual(['connected (psycopg)', 'bucket answers at AWS S3']);
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.args.join(' ')).not.toContain('S3cret-pw');
      expect(s.env.MLFLOW_SECURE_CHECK_URI).toMatch(/^(postgresql|s3):/);
      expect(s.env.MLFLOW_SECURE_PASSWORD).toBeUndefined();
      expect(s.env.PGCONNECT_TIMEOUT).toBe('10');
    }
  });

  it("runs the checks in an empty folder of their own, never in the user's folder, and removes it", async () => {
    const dirs: string[] = [];
    const run = async (_file: string, _args: readonly string[], o: { cwd?: string }): Promise<RunResult> => {
      dirs.push(o.cwd!);
      expect(await readdir(o.cwd!)).toEqual([]);
      return { exitCode: 0, stdout: '{"ok": true}\n', stderr: '' };
    };
    await runStoreChecks([pgCheck, s3Check], found, ctx, { run, isExecutable });
    expect(dirs).toHaveLength(2);
    expect(path.dirname(dirs[0]!)).toBe(os.tmpdir());
    expect(dirs[0]).not.toBe(process.cwd());
    await expect(stat(dirs[0]!)).rejects.toThrow(/ENOENT/);
  });

  it('a check that times out is a problem; one that crashes is only said (it never blocks a start)', async () => {
    const timedOut = await runStoreChecks([pgCheck], found, ctx, {
      run: async () => ({ exitCode: undefined, stdout: '', stderr: '', error: 'timed out after 45 s' }),
      isExecutable,
    });
    expect(timedOut.results[0]!.problem?.message).toBe(
      'checking the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow did not finish within 45 s',
    );
    const crashed = await runStoreChecks([pgCheck], found, ctx, {
      run: async () => ({ exitCode: 1, stdout: '', stderr: 'Segmentation fault\n' }),
      isExecutable,
    });
    expect(crashed.results[0]!.notChecked).toBe(
      'could not check the backend and registry store postgresql://mlflow:********@db.example:5432/mlflow with /srv/venv/bin/python (exit 1: Segmentation fault)',
    );
  });

  it('startStoreChecks: the progress line names what is checked; a failed check is the UserError up throws', async () => {
    const out = createOutput(sink().stream, sink().stream);
    const c = { ...ctx, cwd: '/work', out, stdin: process.stdin, stderr: sink().stream };
    const answer = (stdout: string) => async (): Promise<RunResult> => ({ exitCode: 0, stdout, stderr: '' });
    const deps = { isExecutable: async (f: string) => f === '/srv/venv/bin/mlflow' || f === '/srv/venv/bin/python' };
    const both = startStoreChecks(
      settings({ backendStoreUri: PG, artifactsDestination: 's3://bucket/team' }),
      { mlflow: '/srv/venv/bin/mlflow' },
      c,
      { ...deps, run: answer('{"ok": true}') },
    );
    expect(both.pending).toBe('the database and the artifact store');
    await both.verified();
    const s3 = startStoreChecks(
      settings({ artifactsDestination: 's3://bucket/team' }),
      { mlflow: '/srv/venv/bin/mlflow' },
      c,
      { ...deps, run: answer('{"ok": false, "kind": "client-error", "code": "NoSuchBucket"}') },
    );
    expect(s3.pending).toBe('the artifact store');
    await expect(s3.verified()).rejects.toThrow(
      "the bucket 'bucket' of the artifacts destination s3://bucket/team does not exist at AWS S3",
    );
  });

  it('startStoreChecks: registers the AWS secret key for redaction; runs nothing for SQLite', async () => {
    const out = createOutput(sink().stream, sink().stream);
    let runs = 0;
    const up = startStoreChecks(
      settings({}),
      {},
      { ...ctx, cwd: '/work', out, stdin: process.stdin, stderr: sink().stream },
      { run: async () => (runs++, { exitCode: 0, stdout: '', stderr: '' }) },
    );
    expect(up.pending).toBeUndefined();
    await up.verified();
    expect(runs).toBe(0);
    expect(out.redact('key aws-Secret-Key-1 here')).toBe('key ******** here');
  });
});
