import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { config } from '../../../src/commands/config.js';
import type { Context } from '../../../src/context.js';
import { createOutput } from '../../../src/log.js';
import { maskUriCredentials, uriSecrets } from '../../../src/stores/secrets.js';
import { getPlatform } from '../../../src/system/platform.js';
import { sink } from '../sink.js';

describe('maskUriCredentials', () => {
  it.each([
    ['postgresql://u:pw@host/db', 'postgresql://u:********@host/db'],
    ['postgresql://u:pw@host:5432/db?sslmode=require', 'postgresql://u:********@host:5432/db?sslmode=require'],
    ['postgresql+psycopg2://u:pw@host/db', 'postgresql+psycopg2://u:********@host/db'],
    [
      'mysql+pymysql://root:S3cret!@db.example.com:3306/mlflow',
      'mysql+pymysql://root:********@db.example.com:3306/mlflow',
    ],
    [
      'mssql+pyodbc://sa:Pa55w0rd@sqlhost/mlflow?driver=ODBC+Driver+18',
      'mssql+pyodbc://sa:********@sqlhost/mlflow?driver=ODBC+Driver+18',
    ],
    ['http://u:p@files.example.com/a', 'http://u:********@files.example.com/a'],
    // Percent-encoded and raw `@`: the whole password goes, the host stays.
    ['postgresql://u:p%40ss@host/db', 'postgresql://u:********@host/db'],
    ['postgresql://u:p@ss@host/db', 'postgresql://u:********@host/db'],
    ['postgresql://u:p@s@s@host/db', 'postgresql://u:********@host/db'],
    // SQLAlchemy takes raw / ? # in a password.
    ['postgresql://u:pa/ss@host/db', 'postgresql://u:********@host/db'],
    ['postgresql://u:p?w#d@host/db', 'postgresql://u:********@host/db'],
    // A user name with @ (Azure's user@server), a password-only user info.
    [
      'postgresql://ana@srv:pw@srv.postgres.database.azure.com/db',
      'postgresql://ana@srv:********@srv.postgres.database.azure.com/db',
    ],
    ['redis://:pw@host:6379/0', 'redis://:********@host:6379/0'],
    // IPv6 hosts, with and without a port; an empty host (a Unix socket in the query).
    ['postgresql://u:pw@[::1]:5432/db', 'postgresql://u:********@[::1]:5432/db'],
    ['postgresql://u:pw@[fe80::1%25eth0]/db', 'postgresql://u:********@[fe80::1%25eth0]/db'],
    ['mysql://u:pw@/db?unix_socket=/run/mysqld.sock', 'mysql://u:********@/db?unix_socket=/run/mysqld.sock'],
    // Not re-encoded, not lowercased: only the password changes.
    ['PostgreSQL://Ana:pw@DB.Example.COM/My%20DB?x=A%2FB', 'PostgreSQL://Ana:********@DB.Example.COM/My%20DB?x=A%2FB'],
    // An `@` later in the path does not move the end of the password.
    ['http://u:pw@host/path@v1', 'http://u:********@host/path@v1'],
    // A password in the query (libpq, most DBAPIs).
    [
      'postgresql://host/db?user=u&password=pw&sslmode=require',
      'postgresql://host/db?user=u&password=********&sslmode=require',
    ],
    ['postgresql://u@host/db?PassWord=pw', 'postgresql://u@host/db?PassWord=********'],
    ['mssql+pyodbc://host/db?UID=sa&PWD=pw', 'mssql+pyodbc://host/db?UID=sa&PWD=********'],
    ['postgresql://u:pw@host/db?password=pw2', 'postgresql://u:********@host/db?password=********'],
  ])('%s -> %s', (uri, masked) => {
    expect(maskUriCredentials(uri)).toBe(masked);
  });

  it.each([
    'sqlite:////home/ana/proj/mlflow.db',
    'sqlite:///C:/Users/Ana/mlflow.db',
    'file:///home/ana/mlruns',
    'file:///C:/Users/Ana%20B/mlartifacts',
    's3://bucket/path/to/artifacts',
    'gs://bucket/x@y',
    'postgresql://host/db',
    'postgresql://u@host/db',
    'postgresql://u@host:5432/db',
    'postgresql://u:@host/db', // an empty password: nothing to hide
    'postgresql://[::1]:5432/db',
    'http://[::1]:8080/a@b',
    'databricks',
    'databricks-uc',
    'postgresql://host/db?password=',
    '/home/ana/.mlflow-secure',
    '1',
    'true',
    '',
    'localhost,127.0.0.1,[::1],0.0.0.0,localhost:*,127.0.0.1:*,[[]::1]:*',
    'http://mlflow.example.com:5000,https://mlflow.example.com',
  ])('leaves %j unchanged (no credentials)', (value) => {
    expect(maskUriCredentials(value)).toBe(value);
    expect(uriSecrets(value)).toEqual([]);
  });
});

describe('uriSecrets', () => {
  it.each([
    ['postgresql://u:pw@host/db', ['pw']],
    ['postgresql://u:p%40ss%2Fx@host/db', ['p%40ss%2Fx', 'p@ss/x']],
    ['postgresql://u:p@ss@host/db', ['p@ss']],
    ['redis://:pass-word@host', ['pass-word']],
    ['mysql://u:100%@host/db', ['100%']], // a lone % is kept as written
    ['mysql://u:p%40ss%zz%@host/db', ['p%40ss%zz%', 'p@ss%zz%']], // decoded where it can be, as SQLAlchemy does
    ['postgresql://host/db?password=a+b%21', ['a+b%21', 'a b!']],
    ['postgresql://u:one@host/db?pwd=two', ['one', 'two']],
    ['s3://bucket/path', []],
  ])('%s -> %j', (uri, secrets) => {
    expect(uriSecrets(uri)).toEqual(secrets);
  });

  it('each secret is exactly what maskUriCredentials hides', () => {
    for (const uri of ['postgresql://u:Zq9%21xyz@h/db', 'http://u:p@ss@h/x@y', 'mysql://h/db?passwd=Zq9xyz']) {
      const masked = maskUriCredentials(uri);
      const [raw] = uriSecrets(uri);
      expect(masked).not.toContain(raw);
      expect(uri.replace(raw!, '********')).toBe(masked);
    }
  });
});

describe('config never shows a store credential', () => {
  const cwd = mkdtempSync(nodePath.join(os.tmpdir(), 'ms-secrets-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  // Short (below the logger's 4-character floor), percent-encoded, and with characters that
  // shell quoting or JSON escaping would change, so redaction alone could not catch them.
  const options = {
    backendStoreUri: 'postgresql+psycopg://ana:pw@db.example.com:5432/mlflow',
    registryStoreUri: 'mysql://reg:it\'s%40"x"@[::1]:3306/reg',
    artifactsDestination: 'http://art:Art-Secret-9@files.example.com/mlartifacts',
    stateDir: nodePath.join(cwd, 'state'),
    // Placeholders keep the test from starting or probing real programs.
    nginx: nodePath.join(cwd, 'no-nginx'),
    mlflow: nodePath.join(cwd, 'no-mlflow'),
  };
  const secrets = ['pw', 'it\'s%40"x"', 'it\'s@"x"', 'Art-Secret-9'];

  async function run(json: boolean): Promise<string> {
    const stdout = sink();
    const stderr = sink();
    const out = createOutput(stdout.stream, stderr.stream);
    const ctx: Context = {
      cwd,
      env: {},
      platform: getPlatform('linux'),
      out,
      stdin: process.stdin,
      stderr: stderr.stream,
    };
    expect(await config({ ...options, json }, ctx)).toBe(0);
    // Registered for redaction too, in both forms, for whatever else gets printed.
    expect(out.redact('mlflow said: Art-Secret-9 / it\'s@"x"')).toBe('mlflow said: ******** / ********');
    return stdout.text() + stderr.text();
  }

  /** Every place a password could hide: as is, JSON-escaped, shell-quoted. */
  function expectNoSecret(text: string): void {
    for (const s of secrets) {
      for (const form of [s, JSON.stringify(s).slice(1, -1), s.replace(/'/g, `'\\''`)]) {
        expect(text.includes(`:${form}@`) || text.includes(`=${form}`), `${form} in output`).toBe(false);
      }
    }
    expect(text).not.toContain('Art-Secret-9');
  }

  it('text', async () => {
    const text = await run(false);
    expect(text).toContain('backend store:  postgresql+psycopg://ana:********@db.example.com:5432/mlflow');
    expect(text).toContain('registry store: mysql://reg:********@[::1]:3306/reg');
    expect(text).toContain('artifacts:      http://art:********@files.example.com/mlartifacts');
    expectNoSecret(text);
  });

  it('--json, including MLflow argv and environment', async () => {
    const text = await run(true);
    const summary = JSON.parse(text.slice(0, text.lastIndexOf('}') + 1)) as {
      backendStoreUri: string;
      registryStoreUri: string;
      artifactsDestination: string;
      mlflow: { args: string[]; env: Record<string, string> };
    };
    expect(summary.backendStoreUri).toBe('postgresql+psycopg://ana:********@db.example.com:5432/mlflow');
    expect(summary.registryStoreUri).toBe('mysql://reg:********@[::1]:3306/reg');
    expect(summary.artifactsDestination).toBe('http://art:********@files.example.com/mlartifacts');
    const shown = [...summary.mlflow.args, ...Object.values(summary.mlflow.env)];
    // Wherever the plan puts the store URIs (argv or environment), they appear masked.
    expect(shown.filter((v) => v.includes('@db.example.com'))).toEqual([
      'postgresql+psycopg://ana:********@db.example.com:5432/mlflow',
    ]);
    expectNoSecret(text);
  });
});
