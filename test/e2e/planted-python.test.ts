/**
 * A folder that ships json.py, csv.py and psycopg.py (a cloned repository can): Python started
 * with -c or -m puts its working folder first on sys.path, and uvicorn's workers (multiprocessing
 * spawn, `python -c`) import from it too. Every planted module writes a marker file when imported
 * and then hands over to the real module, so the programs go on as usual. `setup --check`,
 * `doctor --backend-store-uri postgresql://...`, `up -d` + a request through the proxy + `down`,
 * all run from that folder, must leave no marker. Relative experiment artifact locations land in
 * MLflow's own working folder inside the state folder, not in the user's folder.
 */
import { execa } from 'execa';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request } from '../../src/system/http.js';
import {
  cli,
  readStackRecord,
  removeDir,
  root,
  tempDir,
  venvPython,
  waitForNoStackProcesses,
  type StackRecordJson,
} from './helpers.js';

const PASSWORD = `planted-${Math.random().toString(36).slice(2)}-Pw`;
const PLANTED = ['json', 'csv', 'psycopg'];

/** Writes a marker named after the module and the pid, then becomes the real module. */
function plantedModule(markers: string): string {
  return [
    'import os, sys',
    `with open(os.path.join(${JSON.stringify(markers)}, "%s.%d" % (__name__, os.getpid())), "w") as f:`,
    '    f.write(" ".join(sys.argv))',
    'here = os.path.dirname(os.path.abspath(__file__))',
    'sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]',
    'del sys.modules[__name__]',
    'import importlib',
    'sys.modules[__name__] = importlib.import_module(__name__)',
    '',
  ].join('\n');
}

describe('Python never imports from the folder mlflow-secure runs in', () => {
  let tmp: string;
  let work: string;
  let markers: string;
  let data: string;
  let stateDir: string;
  let record: StackRecordJson | undefined;

  const planted = async () => (await readdir(markers)).sort();

  beforeAll(async () => {
    tmp = await tempDir('mlflow-secure-planted-e2e-');
    work = path.join(tmp, 'work');
    markers = path.join(tmp, 'markers');
    data = path.join(tmp, 'data');
    stateDir = path.join(work, '.mlflow-secure');
    await mkdir(work);
    await mkdir(markers);
    for (const name of PLANTED) await writeFile(path.join(work, `${name}.py`), plantedModule(markers));
    // setup's venv in the data folder: the checkout's .venv (setup --check only looks at it).
    await mkdir(path.join(data, 'mlflow-secure'), { recursive: true });
    await symlink(path.join(root, '.venv'), path.join(data, 'mlflow-secure', 'venv'));
  });

  // Each test sees only the markers of what it ran.
  beforeEach(async () => {
    if (!markers) return;
    await removeDir(markers);
    await mkdir(markers);
  });

  afterAll(async () => {
    if (!tmp) return;
    await cli(['down'], { cwd: work });
    expect(await waitForNoStackProcesses(stateDir, record ? [record.mlflow.pid, record.nginx.pid] : [])).toEqual([]);
    await removeDir(tmp);
  });

  it('the planted modules do run when Python is started in that folder (the test can fail)', async () => {
    await execa(venvPython, ['-c', 'import json, csv'], { cwd: work });
    expect(await planted()).toEqual(expect.arrayContaining([expect.stringMatching(/^json\./)]));
  });

  it('setup --check --with postgres,s3 imports nothing from it', async () => {
    const r = await cli(['setup', '--check', '--with', 'postgres,s3'], { cwd: work, env: { XDG_DATA_HOME: data } });
    expect(r.exitCode, r.stderr).toBe(0);
    // It looked into the venv (psycopg 3 is there): the probes ran.
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/psycopg 3 \(PostgreSQL backend store\): already installed/);
    expect(await planted()).toEqual([]);
  });

  it('doctor --backend-store-uri postgresql://... imports nothing from it', async () => {
    const r = await cli(['doctor', '--port', 'auto', '--backend-store-uri', 'postgresql://u@127.0.0.1:1/db'], {
      cwd: work,
    });
    // The check ran in MLflow's Python and reached the driver: the connection was refused.
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/refused|127\.0\.0\.1:1/);
    expect(await planted()).toEqual([]);
  });

  it('up -d, a request through the proxy and down import nothing from it; MLflow runs in <state>/mlflow-cwd', async () => {
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd: work, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode, r.stderr).toBe(0);
    record = await readStackRecord(stateDir);
    const url = new URL(record.url);
    const answer = await request({
      host: url.hostname,
      port: Number(url.port),
      method: 'POST',
      path: '/api/2.0/mlflow/experiments/search',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ max_results: 10 }),
      auth: { user: 'admin', password: PASSWORD },
    });
    expect(answer.status, answer.body).toBe(200);
    expect(await planted()).toEqual([]);
  });

  it("a relative artifact_location lands in MLflow's working folder in the state folder, never in the user's folder", async () => {
    expect(record).toBeDefined();
    const client = path.join(tmp, 'client');
    await mkdir(client, { recursive: true });
    const script = [
      'import json, mlflow',
      'exp = mlflow.create_experiment("relative-location", artifact_location="rel/x")',
      'with mlflow.start_run(experiment_id=exp) as run:',
      '    mlflow.log_text("hello", "hello.txt")',
      'relative = [mlflow.get_experiment(exp).artifact_location, run.info.artifact_uri]',
      // What the README advises instead: a proxied location, inside the artifacts destination.
      'proxied = mlflow.create_experiment("proxied-location", artifact_location="mlflow-artifacts:/rel/y")',
      'with mlflow.start_run(experiment_id=proxied) as run:',
      '    mlflow.log_text("hello", "hello.txt")',
      // MLflow prints "View run ..." lines too: the answer is the line that starts with RESULT.
      'print("RESULT " + json.dumps(relative + [run.info.run_id]))',
    ].join('\n');
    const r = await execa(venvPython, ['-c', script], {
      cwd: client,
      env: {
        MLFLOW_TRACKING_URI: record!.url,
        MLFLOW_TRACKING_USERNAME: 'admin',
        MLFLOW_TRACKING_PASSWORD: PASSWORD,
      },
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    const [location, artifactUri, proxiedRun] = JSON.parse(line!.slice(7)) as string[];
    const expected = path.join(stateDir, 'mlflow-cwd', 'rel', 'x');
    expect(location).toBe(expected);
    expect(artifactUri?.startsWith(`${expected}/`)).toBe(true);
    expect((await stat(path.join(artifactUri!, 'hello.txt'))).isFile()).toBe(true);
    await expect(stat(path.join(work, 'rel'))).rejects.toThrow(/ENOENT/);
    const proxied = path.join(work, 'mlartifacts', 'rel', 'y', proxiedRun!, 'artifacts', 'hello.txt');
    expect((await stat(proxied)).isFile()).toBe(true);
    expect(await planted()).toEqual([]);
  });

  it('down imports nothing from it either', async () => {
    expect(record).toBeDefined();
    const r = await cli(['down'], { cwd: work });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitForNoStackProcesses(stateDir, [record!.mlflow.pid, record!.nginx.pid])).toEqual([]);
    record = undefined;
    expect(await planted()).toEqual([]);
  });

  it("up refuses a json.py planted in MLflow's working folder (a cloned repo can ship .mlflow-secure/), in one line", async () => {
    const plantedFile = path.join(stateDir, 'mlflow-cwd', 'json.py');
    await writeFile(plantedFile, plantedModule(markers));
    const r = await cli(['up', '-d', '--port', 'auto'], { cwd: work, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(r.exitCode).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([
      `error: ${plantedFile} is a file in MLflow's working folder, which Python would import from. Move it out of ${path.dirname(plantedFile)} (mlflow-secure never puts files there), then run up again`,
    ]);
    expect(await waitForNoStackProcesses(stateDir)).toEqual([]);
    expect((await stat(plantedFile)).isFile()).toBe(true);
    expect(await planted()).toEqual([]);
  });
});
