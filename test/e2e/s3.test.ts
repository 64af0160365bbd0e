/**
 * An S3 artifacts destination on a real S3-compatible server (moto's standalone server, with
 * IAM key checks on): a 50 MB artifact from the real MLflow client, which holds no storage
 * keys, lands in the bucket and comes back byte-identical. Each way S3 goes wrong ends in one
 * line before anything starts, the secret key never shown, nothing left running: no boto3 in
 * MLflow's Python, endpoint unreachable, bucket missing, wrong secret key, unknown access key.
 */
import { execa } from 'execa';
import getPort from 'get-port';
import { copyFile, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  readStackRecord,
  removeDir,
  root,
  stackProcesses,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
  type StackRecordJson,
} from './helpers.js';
import { ensureMoto, startMoto, type Moto } from './store-servers.js';

const ADMIN_PASSWORD = `s3-e2e-${Math.random().toString(36).slice(2)}-Pw`;
const BUCKET = 'mlflow-e2e';
const PREFIX = 'team/artifacts';
const SIZE = 50 * 1024 * 1024;

describe('S3 artifacts destination (moto server)', () => {
  let moto: Moto;
  let keys: { id: string; secret: string };
  let cwd: string;
  let stateDir: string;
  let s3Env: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto(await ensureMoto());
    const admin = await execa(venvPython, [path.join(root, 'test', 'fixtures', 's3_admin.py'), 'setup', BUCKET], {
      env: { MLFLOW_S3_ENDPOINT_URL: moto.endpoint },
    });
    keys = JSON.parse(admin.stdout) as { id: string; secret: string };
    s3Env = {
      MLFLOW_S3_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: keys.id,
      AWS_SECRET_ACCESS_KEY: keys.secret,
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    cwd = await tempDir('mlflow-secure-s3-e2e-');
    stateDir = path.join(cwd, '.mlflow-secure');
  }, 900_000);

  afterAll(async () => {
    if (cwd) {
      await cli(['down'], { cwd });
      expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
      await removeDir(cwd);
    }
    await moto?.stop();
  });

  /** `up -d -q` that must fail before anything runs: exactly one line, no secret in it. */
  async function failingUp(env: Record<string, string | undefined>, extra: string[] = []): Promise<string> {
    const r = await cli(
      ['up', '-d', '-q', '--port', 'auto', '--artifacts-destination', `s3://${BUCKET}/${PREFIX}`, ...extra],
      { cwd, env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD, ...s3Env, ...env } },
    );
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    for (const secret of [keys.secret, ADMIN_PASSWORD, 'Wrong-secret-key-123']) expect(r.stderr).not.toContain(secret);
    expect(await stackProcesses(stateDir)).toEqual([]);
    await expect(stat(path.join(stateDir, 'stack.json'))).rejects.toThrow();
    return lines[0]!;
  }

  it('a 50 MB artifact through the proxy lands in the bucket and comes back byte-identical; the client holds no keys', async () => {
    const up = await cli(['up', '-d', '--port', 'auto', '--artifacts-destination', `s3://${BUCKET}/${PREFIX}`], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD, ...s3Env },
    });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(`${up.stdout}${up.stderr}`).not.toContain(keys.secret);
    expect(up.stderr).toContain('Checking the artifact store...');
    const record = await readStackRecord(stateDir);
    try {
      await uploadAndCheck(record);
    } finally {
      await cli(['down'], { cwd });
    }
    expect(await waitForNoStackProcesses(stateDir, [record.mlflow.pid, record.nginx.pid])).toEqual([]);
  });

  async function uploadAndCheck(record: StackRecordJson): Promise<void> {
    const recordText = await readFile(path.join(stateDir, 'stack.json'), 'utf8');
    expect(recordText).not.toContain(keys.secret);
    expect(recordText).toContain(`s3://${BUCKET}/${PREFIX}`);

    // Only the tracking variables: no AWS_*, no endpoint. Whatever reaches S3 is the server.
    // MLflow 3.17's client would otherwise fetch downloads straight from the S3 endpoint with a
    // presigned URL (the server's /server-info advertises it for an S3 destination), past the
    // proxy; moto with IAM checks on answers those with a 500. The README says so.
    const clientEnv = {
      MLFLOW_TRACKING_URI: record.url,
      MLFLOW_TRACKING_USERNAME: 'admin',
      MLFLOW_TRACKING_PASSWORD: ADMIN_PASSWORD,
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
      MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD: 'false',
    };
    const c = await execa(venvPython, [path.join(root, 'test', 'fixtures', 'artifact_client.py'), String(SIZE)], {
      env: clientEnv,
      extendEnv: false,
      reject: false,
      timeout: 300_000,
    });
    expect(c.exitCode, c.stderr).toBe(0);
    const got = JSON.parse(c.stdout.trim().split('\n').at(-1)!) as {
      run_id: string;
      experiment_id: string;
      artifact_uri: string;
      size: number;
      sha_sent: string;
      sha_got: string;
    };
    expect(got.size).toBe(SIZE);
    expect(got.sha_got).toBe(got.sha_sent);
    // Proxied: the client sees mlflow-artifacts:, never the bucket.
    expect(got.artifact_uri).toMatch(/^mlflow-artifacts:/);

    // Both ways through nginx, whole: the upload (one PUT) and the download (one GET).
    const access = await readFile(path.join(stateDir, 'logs', 'nginx-access.log'), 'utf8');
    const artifactPath = `/api/2.0/mlflow-artifacts/artifacts/${got.experiment_id}/${got.run_id}/artifacts/blob.bin`;
    expect(access).toMatch(new RegExp(`"PUT ${artifactPath} HTTP/1\\.1" 200 `));
    // Sent chunked: the body bytes nginx counts include the chunk framing.
    const sent = new RegExp(`"GET ${artifactPath} HTTP/1\\.1" 200 (\\d+) `).exec(access)?.[1];
    expect(Number(sent)).toBeGreaterThanOrEqual(SIZE);

    const listed = await execa(
      venvPython,
      [path.join(root, 'test', 'fixtures', 's3_admin.py'), 'objects', BUCKET, PREFIX],
      { env: { ...s3Env } },
    );
    const objects = JSON.parse(listed.stdout) as { key: string; size: number; sha256: string }[];
    expect(objects).toEqual([
      { key: `${PREFIX}/${got.experiment_id}/${got.run_id}/artifacts/blob.bin`, size: SIZE, sha256: got.sha_sent },
    ]);
  }

  it('no boto3 in the Python beside mlflow: names boto3 and the pip command for that environment', async () => {
    // A venv with no packages, holding a copy of the real mlflow entry point: the Python
    // beside it (the one checked) lacks boto3, as a user's MLflow venv would.
    const bare = path.join(cwd, 'bare-venv');
    await execa('python3', ['-m', 'venv', '--without-pip', bare]);
    await copyFile(path.join(root, '.venv', 'bin', 'mlflow'), path.join(bare, 'bin', 'mlflow'));
    const line = await failingUp({}, ['--mlflow', bare]);
    expect(line).toBe(
      `error: the artifacts destination s3://${BUCKET}/${PREFIX} needs the Python module boto3 (package boto3), which MLflow's Python (${bare}/bin/python) does not have. ` +
        `Install it into MLflow's environment: ${bare}/bin/python -m pip install boto3`,
    );
    await removeDir(bare);
  });

  it('endpoint unreachable: a closed port', async () => {
    const closed = `http://127.0.0.1:${await getPort({ host: '127.0.0.1' })}`;
    const line = await failingUp({ MLFLOW_S3_ENDPOINT_URL: closed });
    expect(line).toMatch(
      new RegExp(
        `^error: cannot reach the S3 endpoint ${closed} \\(MLFLOW_S3_ENDPOINT_URL\\) for the artifacts destination s3://${BUCKET}/${PREFIX}: Could not connect to the endpoint URL`,
      ),
    );
    expect(line).toMatch(/\. Start the S3 service, or fix MLFLOW_S3_ENDPOINT_URL$/);
  });

  it('bucket missing: says which, at which endpoint, and how to create it', async () => {
    const r = await cli(['up', '-d', '-q', '--port', 'auto', '--artifacts-destination', 's3://no-such-bucket/x'], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: ADMIN_PASSWORD, ...s3Env },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(
      `error: the bucket 'no-such-bucket' of the artifacts destination s3://no-such-bucket/x does not exist at ${moto.endpoint}. ` +
        `Create it (aws s3 mb s3://no-such-bucket --endpoint-url ${moto.endpoint}), or fix the bucket in --artifacts-destination`,
    );
    expect(await stackProcesses(stateDir)).toEqual([]);
  });

  it('a wrong secret key is refused (moto checks signatures), and never shown', async () => {
    const line = await failingUp({ AWS_SECRET_ACCESS_KEY: 'Wrong-secret-key-123' });
    expect(line).toMatch(
      /^error: the S3 service at \S+ refused the credentials for the artifacts destination \S+ \(SignatureDoesNotMatch: .*\)\. Fix AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
  });

  it('an unknown access key is refused', async () => {
    const line = await failingUp({ AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN000000000' });
    expect(line).toContain('(InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.)');
  });

  it('doctor checks the destination: ok with the keys, the fix without any', async () => {
    const good = await cli(['doctor', '--port', 'auto', '--artifacts-destination', `s3://${BUCKET}/${PREFIX}`], {
      cwd,
      env: s3Env,
    });
    expect(good.stdout).toContain(
      `ok  artifacts destination s3://${BUCKET}/${PREFIX}: bucket answers at ${moto.endpoint}`,
    );
    // No keys at all (and no ~/.aws to find them in).
    const none = await cli(['doctor', '--port', 'auto', '--artifacts-destination', `s3://${BUCKET}/${PREFIX}`], {
      cwd,
      env: {
        MLFLOW_S3_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_CONFIG_FILE: path.join(cwd, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(cwd, 'none'),
      },
    });
    expect(none.exitCode).toBe(1);
    expect(none.stdout).toContain(
      `FAIL  no S3 credentials were found for the artifacts destination s3://${BUCKET}/${PREFIX}`,
    );
    expect(none.stdout).toMatch(/^ {6}fix: Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/m);
  });
});
