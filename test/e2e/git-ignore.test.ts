/**
 * `up` in a user's own git project (real MLflow, real nginx, real git): the state folder, with
 * the plaintext generated password in it, stays out of `git status` and `git add -A`; a state
 * file git already tracks gets a warning line. And the hints `up` prints carry a `--state-dir`
 * given to it, so that they work when run exactly as printed.
 */
import { execa } from 'execa';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, cli, removeDir, tempDir, waitForNoStackProcesses } from './helpers.js';

const PASSWORD = `git-${Math.random().toString(36).slice(2)}-Pw`;
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'e2e',
  GIT_AUTHOR_EMAIL: 'e2e@example.com',
  GIT_COMMITTER_NAME: 'e2e',
  GIT_COMMITTER_EMAIL: 'e2e@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', args, { cwd, env: cleanEnv(GIT_ENV), extendEnv: false });
  return r.stdout;
}

/** A fresh project with one commit, as a user's own repository looks. */
async function gitProject(): Promise<string> {
  const cwd = await tempDir('mlflow-secure-git-');
  await git(cwd, 'init', '-q');
  await execa('sh', ['-c', 'echo "print(1)" > train.py'], { cwd });
  await git(cwd, 'add', 'train.py');
  await git(cwd, 'commit', '-qm', 'first');
  return cwd;
}

const ofState = (lines: string, state: string) =>
  lines
    .split('\n')
    .filter((l) => l.includes(state))
    .map((l) => l.trim());

describe('the state folder in a git project', () => {
  let cwd: string;
  let stateDir: string;
  afterEach(async () => {
    await cli(['down', '--state-dir', stateDir], { cwd });
    expect(await waitForNoStackProcesses(stateDir, [], 10_000)).toEqual([]);
    await removeDir(cwd);
  });

  it('up -d: git status shows nothing of .mlflow-secure, and git add -A takes nothing from it', async () => {
    cwd = await gitProject();
    stateDir = path.join(cwd, '.mlflow-secure');
    const up = await cli(['up', '-d', '--port', 'auto'], { cwd }); // a generated password, kept in the folder
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await readFile(path.join(stateDir, 'generated-password'), 'utf8')).toContain('password');
    expect(
      ofState(await git(cwd, 'status', '--porcelain', '--untracked-files=all', '--ignored=no'), '.mlflow-secure'),
    ).toEqual([]);
    await git(cwd, 'add', '-A');
    expect(ofState(await git(cwd, 'diff', '--cached', '--name-only'), '.mlflow-secure')).toEqual([]);
    expect(up.stderr).not.toMatch(/git (tracks|would add)/);
    expect(await readFile(path.join(stateDir, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('an older state folder gets its .gitignore at the next up; a state file git tracks gets a warning line', async () => {
    cwd = await gitProject();
    stateDir = path.join(cwd, '.mlflow-secure');
    // The folder as an older mlflow-secure left it: no .gitignore, the password file committed.
    const add = await cli(['user', 'add', 'admin', '--password-stdin'], { cwd, input: PASSWORD });
    expect(add.exitCode, add.stderr).toBe(0);
    await rm(path.join(stateDir, '.gitignore'), { force: true });
    await git(cwd, 'add', '.mlflow-secure');
    await git(cwd, 'commit', '-qm', 'oops');
    expect(await git(cwd, 'ls-files', '.mlflow-secure')).toBe('.mlflow-secure/htpasswd');

    const up = await cli(['up', '-d', '--port', 'auto'], { cwd, env: { MLFLOW_SECURE_PASSWORD: PASSWORD } });
    expect(up.exitCode, up.stderr).toBe(0);
    const warnings = up.stderr.split('\n').filter((l) => l.includes('git tracks'));
    expect(warnings).toEqual([
      `warning: git tracks htpasswd in the state folder ${stateDir}, which holds the password, its hashes and keys: untrack them with git -C ${stateDir} rm -r -q --cached -- htpasswd and commit; if they were ever pushed, change the passwords`,
    ]);
    expect(await readFile(path.join(stateDir, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
    // Everything else it wrote there (nginx.conf, logs, the record) stays out of git.
    expect(ofState(await git(cwd, 'status', '--porcelain', '--untracked-files=all'), '.mlflow-secure')).toEqual([]);
    // The command the warning gives does what it says.
    await git(stateDir, 'rm', '-r', '-q', '--cached', '--', 'htpasswd');
    expect(await git(cwd, 'ls-files', '.mlflow-secure')).toBe('');
  });
});

describe('hints after up --state-dir', () => {
  let root: string;
  let stateDir: string;
  afterEach(async () => {
    await cli(['down', '--state-dir', stateDir], { cwd: root });
    expect(await waitForNoStackProcesses(stateDir, [], 10_000)).toEqual([]);
    await removeDir(root);
  });

  it('from another folder: the printed env and down hints, run exactly as printed, work', async () => {
    root = await tempDir();
    const cwd = path.join(root, 'project');
    await mkdir(cwd);
    stateDir = path.join(root, "other's state"); // a quote and a space: the hint must quote it
    const given = path.join('..', "other's state");
    const up = await cli(['up', '-d', '--port', 'auto', '--state-dir', given], {
      cwd,
      env: { MLFLOW_SECURE_PASSWORD: PASSWORD },
    });
    expect(up.exitCode, up.stderr).toBe(0);
    const hint = (label: string) => {
      const line = up.stdout.split('\n').find((l) => l.trimStart().startsWith(`${label}:`));
      expect(line, up.stdout).toBeDefined();
      return line!
        .slice(line!.indexOf(':') + 1)
        .trim()
        .split('   ')[0]!;
    };
    const url = (JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as { url: string }).url;

    const clients = hint('clients');
    const env = await execa(
      'sh',
      ['-c', `${clients} && printf '%s\\n' "$MLFLOW_TRACKING_URI" "$MLFLOW_TRACKING_USERNAME"`],
      {
        cwd,
        env: cleanEnv(),
        extendEnv: false,
        reject: false,
      },
    );
    expect(env.exitCode, env.stderr).toBe(0);
    expect(env.stdout.split('\n')).toEqual([url, 'admin']);
    expect(clients).toContain(`--state-dir '../other'\\''s state'`);

    const down = await execa('sh', ['-c', hint('stop')], { cwd, env: cleanEnv(), extendEnv: false, reject: false });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/Stopped mlflow/);
    expect(await waitForNoStackProcesses(stateDir, [], 10_000)).toEqual([]);
  });
});
