/**
 * Real store servers for the end-to-end tests, each in a temporary folder and removed after:
 * - a PostgreSQL cluster made with Debian's initdb/pg_ctl, run as `nobody` (initdb refuses
 *   root), on a free port on 127.0.0.1 only, with scram-sha-256 password auth for every user;
 * - moto's standalone S3 server (`moto_server`), from its own venv (.venv-moto, made on first
 *   use: moto brings Flask and many AWS service packages that have no place in MLflow's venv).
 */
import { execa, type ResultPromise } from 'execa';
import getPort from 'get-port';
import { chown, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeDir, root } from './helpers.js';

const isRoot = process.getuid?.() === 0;

/** Debian's newest /usr/lib/postgresql/<version>/bin/initdb, or undefined (then the PostgreSQL tests skip). */
export async function findInitdb(): Promise<string | undefined> {
  const base = '/usr/lib/postgresql';
  const versions = (await readdir(base).catch(() => [] as string[])).sort((a, b) =>
    b.localeCompare(a, 'en', { numeric: true }),
  );
  for (const v of versions) {
    const initdb = path.join(base, v, 'bin', 'initdb');
    if (
      await stat(initdb).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return initdb;
  }
  return undefined;
}

export interface PgCluster {
  port: number;
  /** Runs SQL as the superuser (fed on stdin: no password in argv); returns psql's unaligned output. */
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startPgCluster(initdb: string): Promise<PgCluster> {
  const bin = path.dirname(initdb);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlflow-secure-pg-'));
  const data = path.join(dir, 'data');
  const superPassword = `pg-super-${Math.random().toString(36).slice(2)}`;
  // As root the server runs as `nobody`, who must own the folder; otherwise as ourselves.
  const asServer = isRoot ? ['runuser', '-u', 'nobody', '--'] : [];
  if (isRoot) {
    const uid = Number((await execa('id', ['-u', 'nobody'])).stdout);
    const gid = Number((await execa('id', ['-g', 'nobody'])).stdout);
    await chown(dir, uid, gid);
    await writeFile(path.join(dir, 'pw'), superPassword, { mode: 0o600 });
    await chown(path.join(dir, 'pw'), uid, gid);
  } else {
    await writeFile(path.join(dir, 'pw'), superPassword, { mode: 0o600 });
  }
  const server = (file: string, args: string[]) => {
    const argv = [...asServer, path.join(bin, file), ...args];
    return execa(argv[0]!, argv.slice(1), { stdin: 'ignore', timeout: 120_000 });
  };
  await server('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    `--pwfile=${path.join(dir, 'pw')}`,
    '-A',
    'scram-sha-256',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  const port = await getPort({ host: '127.0.0.1' });
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off`;
  await server('pg_ctl', [
    '-D',
    data,
    '-l',
    path.join(dir, 'server.log'),
    '-w',
    '-t',
    '60',
    '-o',
    options,
    'start',
  ]).catch(async (error: Error) => {
    const log = await readFile(path.join(dir, 'server.log'), 'utf8').catch(() => '');
    throw new Error(`pg_ctl start failed: ${error.message}\n${log}`);
  });
  return {
    port,
    async psql(sql, database = 'postgres') {
      const r = await execa(
        path.join(bin, 'psql'),
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          database,
          '-v',
          'ON_ERROR_STOP=1',
          '-At',
          '-f',
          '-',
        ],
        {
          input: sql,
          env: { PGPASSWORD: superPassword, PGCONNECT_TIMEOUT: '10' },
          timeout: 60_000,
        },
      );
      return r.stdout;
    },
    async stop() {
      await server('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await removeDir(dir);
    },
  };
}

const MOTO_REQUIREMENT = 'moto[server]==5.2.5';
const motoVenv = path.join(root, '.venv-moto');

/** moto_server from .venv-moto, installed with pip the first time (stamped with its pin when done). */
export async function ensureMoto(): Promise<string> {
  const stamp = path.join(motoVenv, '.mlflow-secure-moto');
  const motoServer = path.join(motoVenv, 'bin', 'moto_server');
  if ((await readFile(stamp, 'utf8').catch(() => '')) === MOTO_REQUIREMENT) return motoServer;
  await execa('python3', ['-m', 'venv', '--clear', motoVenv], { stdin: 'ignore' });
  await execa(
    path.join(motoVenv, 'bin', 'python'),
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', MOTO_REQUIREMENT],
    { stdin: 'ignore', timeout: 900_000 },
  );
  await writeFile(stamp, MOTO_REQUIREMENT);
  return motoServer;
}

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * moto's S3 (and IAM) on a free loopback port. INITIAL_NO_AUTH_ACTION_COUNT: the first 4
 * requests (s3_admin.py's set-up) pass unsigned; every later one must be signed with a key
 * moto's IAM knows, so wrong keys are refused as by real S3.
 */
export async function startMoto(motoServer: string): Promise<Moto> {
  const port = await getPort({ host: '127.0.0.1' });
  const child: ResultPromise = execa(motoServer, ['-H', '127.0.0.1', '-p', String(port)], {
    env: { INITIAL_NO_AUTH_ACTION_COUNT: '4' },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`${endpoint}/moto-api/`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`moto_server did not start on ${endpoint}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    endpoint,
    async stop() {
      child.kill('SIGTERM');
      await child;
    },
  };
}
