/**
 * `mlflow-secure setup` with its programs faked (Python, pip, apt-get, sudo): which Python it
 * takes and why it refuses one, what it runs in which order, that a second run runs no pip,
 * that a failure leaves nothing looking finished, and the nginx command for each machine.
 * The real thing, from a packed tarball with real pip, is test/e2e/setup.test.ts.
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setup, type SetupDeps } from '../../../src/commands/setup.js';
import type { Context } from '../../../src/context.js';
import { UserError } from '../../../src/errors.js';
import { createOutput } from '../../../src/log.js';
import { getPlatform, SETUP_STAMP, type Platform } from '../../../src/system/platform.js';
import { parsePinnedMlflow } from '../../../src/setup/mlflow.js';
import { describePlan, manualInstallError, planNginxInstall, type MachineProbe } from '../../../src/setup/nginx.js';
import { choosePython, versionAtLeast } from '../../../src/setup/python.js';
import type { RunOptions, RunResult, Runner } from '../../../src/setup/runner.js';
import { sink } from '../sink.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const darwin = getPlatform('darwin');
const repoRoot = nodePath.resolve(import.meta.dirname, '..', '..', '..');

interface Call {
  cmd: string;
  o: RunOptions;
}

/** A runner that answers from `answer` and records each command line, with its options. */
function fakeRunner(
  answer: (file: string, args: readonly string[]) => Partial<RunResult> | Promise<Partial<RunResult>>,
): { run: Runner; calls: Call[]; lines: () => string[] } {
  const calls: Call[] = [];
  const run: Runner = async (file, args, o) => {
    calls.push({ cmd: [file, ...args].join(' '), o });
    const r = await answer(file, args);
    return { exitCode: 0, stdout: '', stderr: '', ...r };
  };
  return { run, calls, lines: () => calls.map((c) => c.cmd) };
}

const notFound: Partial<RunResult> = { exitCode: undefined, error: 'not found' };

describe('choosePython', () => {
  it('on Linux refuses a python3 older than 3.10, saying which, and takes python', async () => {
    const r = fakeRunner((file) =>
      file === 'python3' ? { stdout: '3.9.18\n/usr/bin/python3.9\n' } : { stdout: '3.12.1\n/opt/py/bin/python3.12\n' },
    );
    expect(await choosePython(linux.pythonCandidates, linux, r.run)).toEqual({
      file: '/opt/py/bin/python3.12',
      version: '3.12.1',
      via: 'python',
    });
    expect(r.lines()[0]).toMatch(/^python3 -c import sys; /);
    expect(r.lines()[1]).toMatch(/^python -c /);
  });

  it('on Windows asks the py launcher first (py -3), then python', async () => {
    const r = fakeRunner((file) => (file === 'py' ? notFound : { stdout: '3.13.0\r\nC:\\Python313\\python.exe\r\n' }));
    expect(await choosePython(win32.pythonCandidates, win32, r.run)).toEqual({
      file: 'C:\\Python313\\python.exe',
      version: '3.13.0',
      via: 'python',
    });
    expect(r.lines().map((l) => l.split(' -c ')[0])).toEqual(['py -3', 'python']);
  });

  it('stops at the first good one', async () => {
    const r = fakeRunner(() => ({ stdout: '3.10.0\nC:\\Py310\\python.exe\n' }));
    expect((await choosePython(win32.pythonCandidates, win32, r.run)).via).toBe('py -3');
    expect(r.calls).toHaveLength(1);
  });

  it('names every refusal in one line when none will do', async () => {
    // The Microsoft Store's python.exe alias runs nothing and exits 9009.
    const r = fakeRunner((file) =>
      file === 'py'
        ? notFound
        : { exitCode: 9009, stderr: 'Python was not found; run without arguments to install from the Microsoft Store' },
    );
    const error = await choosePython(win32.pythonCandidates, win32, r.run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(
      'no Python 3.10 or newer found (py -3: not found; python: not found (exit 9009))',
    );
    expect((error as UserError).hint).toMatch(/python\.org.*--python <path>/);
  });

  it('refuses output that is not a version', async () => {
    const r = fakeRunner(() => ({ stdout: 'hello\n' }));
    const failing = fakeRunner(() => ({
      exitCode: 1,
      stderr: 'Traceback (most recent call last):\nSyntaxError: invalid syntax\n',
    }));
    expect(
      ((await choosePython([{ file: 'python', args: [] }], linux, failing.run).catch((e: unknown) => e)) as UserError)
        .message,
    ).toBe('no Python 3.10 or newer found (python: did not run (exit 1: SyntaxError: invalid syntax))');
    const error = (await choosePython([{ file: 'python3', args: [] }], linux, r.run).catch(
      (e: unknown) => e,
    )) as UserError;
    expect(error.message).toBe('no Python 3.10 or newer found (python3: printed no Python version)');
    expect(error.hint).toContain('apt-get install python3 python3-venv');
  });

  it.each([
    ['3.10.0', true],
    ['3.9.18', false],
    ['3.13.0', true],
    ['4.0.0', true],
    ['2.7.18', false],
  ])('versionAtLeast(%s, 3.10) = %s', (v, ok) => {
    expect(versionAtLeast(v, [3, 10])).toBe(ok);
  });
});

describe('parsePinnedMlflow', () => {
  it("reads the package's own requirements.txt", async () => {
    expect(parsePinnedMlflow(await readFile(nodePath.join(repoRoot, 'requirements.txt'), 'utf8'))).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
  });

  it.each([
    ['mlflow==3.17.2\n', '3.17.2'],
    ['# c\n  MLflow == 3.18.0 ; python_version >= "3.10"\n', '3.18.0'],
    ['mlflow-skinny==3.1.0\n', undefined],
    ['mlflow>=3\n', undefined],
  ])('%j -> %s', (text, version) => {
    expect(parsePinnedMlflow(text)).toBe(version);
  });
});

function probe(o: { isRoot?: boolean; has?: string[]; sudo?: boolean }): MachineProbe & { sudoAsked: () => boolean } {
  let asked = false;
  return {
    isRoot: o.isRoot ?? false,
    has: async (name) => (o.has ?? []).includes(name),
    sudoWorks: async () => {
      asked = true;
      return o.sudo ?? false;
    },
    sudoAsked: () => asked,
  };
}

describe('planNginxInstall', () => {
  it('Linux as root: apt-get update, then apt-get install -y nginx', async () => {
    const plan = await planNginxInstall(linux, probe({ isRoot: true, has: ['apt-get', 'dnf'] }));
    expect(plan).toEqual({
      kind: 'auto',
      commands: [
        { file: 'apt-get', args: ['update'] },
        { file: 'apt-get', args: ['install', '-y', 'nginx'] },
      ],
    });
  });

  it('Linux, not root: through sudo -n only when sudo needs no password', async () => {
    const yes = probe({ has: ['dnf'], sudo: true });
    expect(describePlan(await planNginxInstall(linux, yes))).toBe('sudo -n dnf install -y nginx');
    const no = probe({ has: ['apt-get'], sudo: false });
    const plan = await planNginxInstall(linux, no);
    expect(no.sudoAsked()).toBe(true);
    expect(plan).toEqual({
      kind: 'manual',
      command: 'sudo apt-get install -y nginx',
      why: 'installing needs root, and sudo asks for a password',
    });
    const error = manualInstallError(plan as Extract<typeof plan, { kind: 'manual' }>);
    expect(error.message).toBe(
      'nginx is not installed, and setup cannot install it here (installing needs root, and sudo asks for a password)',
    );
    expect(error.hint).toBe('Run: sudo apt-get install -y nginx; then mlflow-secure setup again');
  });

  it('Linux as root never asks sudo', async () => {
    const p = probe({ isRoot: true, has: ['apt-get'] });
    await planNginxInstall(linux, p);
    expect(p.sudoAsked()).toBe(false);
  });

  it('Linux with another package manager: its one command, not run', async () => {
    expect(await planNginxInstall(linux, probe({ has: ['pacman'] }))).toMatchObject({
      kind: 'manual',
      command: 'sudo pacman -S nginx',
    });
    expect(await planNginxInstall(linux, probe({ isRoot: true, has: ['apk'] }))).toMatchObject({
      kind: 'manual',
      command: 'apk add nginx',
    });
    expect(await planNginxInstall(linux, probe({}))).toMatchObject({
      kind: 'manual',
      why: expect.stringContaining('no package manager'),
    });
  });

  it('macOS: brew install nginx, but not as root', async () => {
    expect(await planNginxInstall(darwin, probe({ has: ['brew'] }))).toEqual({
      kind: 'auto',
      commands: [{ file: 'brew', args: ['install', 'nginx'] }],
    });
    expect(await planNginxInstall(darwin, probe({ isRoot: true, has: ['brew'] }))).toMatchObject({
      kind: 'manual',
      why: 'Homebrew does not run as root',
    });
    expect(await planNginxInstall(darwin, probe({ has: ['port'] }))).toMatchObject({
      kind: 'manual',
      command: 'sudo port install nginx',
    });
    expect(await planNginxInstall(darwin, probe({}))).toMatchObject({
      kind: 'manual',
      command: expect.stringContaining('brew.sh'),
    });
  });

  it('Windows: scoop, else choco, else the zip; never run; says where nginx.exe lands', async () => {
    const scoop = await planNginxInstall(win32, probe({ has: ['scoop', 'choco', 'winget'] }));
    expect(scoop).toMatchObject({
      kind: 'manual',
      command: 'scoop install nginx',
      where: '%USERPROFILE%\\scoop\\apps\\nginx\\current',
    });
    expect(await planNginxInstall(win32, probe({ has: ['choco', 'winget'] }))).toMatchObject({
      kind: 'manual',
      command: expect.stringMatching(/^choco install nginx/),
      where: 'C:\\tools\\nginx-<version>',
    });
    const zip = await planNginxInstall(win32, probe({ isRoot: true, has: ['winget'] }));
    expect(zip).toMatchObject({ kind: 'manual', command: expect.stringContaining('nginx.org/en/download.html') });
    expect(manualInstallError(zip as Extract<typeof zip, { kind: 'manual' }>).hint).toContain(
      'where mlflow-secure looks',
    );
  });

  it('Windows: where each one puts nginx.exe is a folder the lookup searches', () => {
    const dirs = win32.nginxSearchDirs({ USERPROFILE: 'C:\\Users\\Ana' });
    expect(dirs).toContain('C:\\Users\\Ana\\scoop\\apps\\nginx\\current');
    expect(dirs).toContain('C:\\tools\\nginx-*');
    expect(dirs).toContain('C:\\nginx-*');
  });
});

/**
 * A machine for `setup` to work on: a real temporary data folder (the stamp, the venv folder),
 * with Python, pip, mlflow, sudo and apt-get faked. `state` is what those fakes have done.
 */
function machine(
  o: {
    platform?: Platform;
    pip?: Partial<RunResult>;
    venv?: Partial<RunResult>;
    nginx?: boolean;
    root?: boolean;
    sudo?: boolean;
  } = {},
) {
  const platform = o.platform ?? linux;
  const state = { venv: false, mlflow: '-', nginx: o.nginx ?? true };
  let data = '';
  const venvDir = () => nodePath.join(data, 'mlflow-secure', 'venv');
  const venvPython = () => platform.venvExecutable(venvDir(), 'python');
  const runner = fakeRunner(async (file, args) => {
    if (file === 'python3') return { stdout: '3.11.7\n/usr/bin/python3.11\n' };
    if (file.startsWith('/opt/')) return notFound;
    if (file === '/usr/bin/python3.11' && args[1] === 'venv') {
      if (o.venv) {
        await mkdir(args.at(-1)!, { recursive: true }); // what a failed venv leaves behind
        return o.venv;
      }
      await mkdir(args.at(-1)!, { recursive: true });
      state.venv = true;
      state.mlflow = '-';
      return {};
    }
    if (file === venvPython() && args[0] === '-c')
      return state.venv ? { stdout: `3.11.7\n23.2.1\n${state.mlflow}\n` } : notFound;
    if (file === venvPython() && args.slice(0, 3).join(' ') === '-m pip install') {
      if (o.pip) return o.pip;
      state.mlflow = '3.17.2';
      return { stdout: 'Successfully installed mlflow-3.17.2' };
    }
    if (file === platform.venvExecutable(venvDir(), 'mlflow')) return { stdout: `mlflow, version ${state.mlflow}\n` };
    if (file === 'sudo') return { exitCode: o.sudo ? 0 : 1, stderr: 'sudo: a password is required' };
    if (file === 'apt-get') {
      if (args[0] === 'install') state.nginx = true;
      return {};
    }
    throw new Error(`unexpected command: ${file} ${args.join(' ')}`);
  });
  const deps: SetupDeps = {
    run: runner.run,
    root: repoRoot,
    isRoot: o.root ?? false,
    isExecutable: async (f) =>
      (f === platform.venvExecutable(venvDir(), 'mlflow') && state.mlflow !== '-') ||
      f === '/usr/bin/apt-get' ||
      f === '/usr/bin/python3',
    lookupNginx: async () =>
      state.nginx
        ? { found: '/usr/sbin/nginx', searched: ['nginx on PATH'] }
        : { searched: ['nginx on PATH', '/usr/sbin/nginx'] },
    nginxVersion: async () => [1, 22, 1],
  };
  return {
    state,
    runner,
    deps,
    venvDir,
    stampFile: () => nodePath.join(venvDir(), SETUP_STAMP),
    setData: (dir: string) => {
      data = dir;
    },
  };
}

describe('setup (in-process, programs faked)', () => {
  let data: string;
  beforeEach(async () => {
    data = await mkdtemp(nodePath.join(os.tmpdir(), 'ms-setup-unit-'));
  });
  afterEach(async () => rm(data, { recursive: true, force: true }));

  function ctx(env: NodeJS.ProcessEnv = { XDG_DATA_HOME: data, PATH: '/usr/bin' }, platform: Platform = linux) {
    const stdout = sink();
    const stderr = sink();
    const c: Context = {
      cwd: data,
      env,
      platform,
      out: createOutput(stdout.stream, stderr.stream),
      stdin: process.stdin,
      stderr: stderr.stream,
    };
    return { ctx: c, stdout: stdout.text, stderr: stderr.text };
  }

  async function runSetup(
    m: ReturnType<typeof machine>,
    options: Parameters<typeof setup>[0] = {},
    env?: NodeJS.ProcessEnv,
  ) {
    m.setData(data);
    const c = ctx(env);
    const before = m.runner.calls.length;
    const result = await setup(options, c.ctx, m.deps).then(
      (code) => ({ code, error: undefined }),
      (error: unknown) => ({ code: undefined, error: error as UserError }),
    );
    return {
      ...result,
      stdout: c.stdout(),
      stderr: c.stderr(),
      calls: m.runner.lines().slice(before),
      options: m.runner.calls.slice(before).map((x) => x.o),
    };
  }

  const requirements = () => readFile(nodePath.join(repoRoot, 'requirements.txt'), 'utf8');

  it('installs into <data>/mlflow-secure/venv: venv, pip (shown), a check that mlflow runs, then the stamp', async () => {
    const m = machine();
    const r = await runSetup(m);
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    const venv = m.venvDir();
    expect(r.calls.map((c) => c.replace(/ -c [\s\S]*/, ' -c <probe>'))).toEqual([
      `${venv}/bin/python -c <probe>`,
      'python3 -c <probe>',
      `/usr/bin/python3.11 -m venv ${venv}`,
      `${venv}/bin/python -m pip install --disable-pip-version-check --no-input -r ${repoRoot}/requirements.txt`,
      `${venv}/bin/mlflow --version`,
    ]);
    // Only pip is shown to the user (inherits the terminal); the probes are quiet.
    expect(r.options.map((o) => o.show ?? false)).toEqual([false, false, false, true, false]);
    expect(await readFile(m.stampFile(), 'utf8')).toBe(await requirements());
    expect(r.stdout).toBe(
      `MLflow 3.17.2: installed (${venv}/bin/mlflow)\nnginx 1.22.1: ready (/usr/sbin/nginx)\nReady: run mlflow-secure up\n`,
    );
    expect(r.stderr).toContain('with Python 3.11.7 (/usr/bin/python3.11, found as python3)');
  });

  it('a second run sees the pin installed: one quick probe, no pip', async () => {
    const m = machine();
    await runSetup(m);
    const again = await runSetup(m);
    expect(again.code).toBe(0);
    expect(again.calls).toHaveLength(1);
    expect(again.calls[0]).toMatch(/bin\/python -c /);
    expect(again.stdout).toMatch(/^MLflow 3\.17\.2: already installed \(/);
  });

  it('a stamp from another pin (an upgraded mlflow-secure) reinstalls with pip, reusing the venv', async () => {
    const m = machine();
    await runSetup(m);
    await import('node:fs/promises').then((fs) => fs.writeFile(m.stampFile(), 'mlflow==3.16.0\n'));
    const r = await runSetup(m);
    expect(r.code).toBe(0);
    expect(r.calls.some((c) => c.includes(' -m venv '))).toBe(false);
    expect(r.calls.some((c) => c.includes(' -m pip install '))).toBe(true);
    expect(await readFile(m.stampFile(), 'utf8')).toBe(await requirements());
  });

  it('--force rebuilds the venv from nothing (venv --clear)', async () => {
    const m = machine();
    await runSetup(m);
    const r = await runSetup(m, { force: true });
    expect(r.calls).toContain(`/usr/bin/python3.11 -m venv --clear ${m.venvDir()}`);
  });

  it('a pip failure is one line, leaves no stamp, and the next run tries pip again in the same venv', async () => {
    const m = machine({
      pip: {
        exitCode: 1,
        stderr:
          'ERROR: Could not find a version that satisfies the requirement mlflow==3.17.2\nERROR: No matching distribution found for mlflow==3.17.2\n',
      },
    });
    const r = await runSetup(m);
    expect(r.error).toBeInstanceOf(UserError);
    expect(r.error!.message).toBe(
      'pip could not install MLflow 3.17.2 (exit 1: ERROR: No matching distribution found for mlflow==3.17.2)',
    );
    expect(r.error!.hint).toContain('run mlflow-secure setup again');
    await expect(stat(m.stampFile())).rejects.toThrow();
    const again = await runSetup(m);
    expect(again.calls.some((c) => c.includes(' -m venv '))).toBe(false);
    expect(again.calls.filter((c) => c.includes(' -m pip install '))).toHaveLength(1);
  });

  it("a Python without ensurepip (Debian's python3 without python3-venv): says which package, removes the half-made venv", async () => {
    const debian =
      'The virtual environment was not successfully created because ensurepip is not\navailable.  On Debian/Ubuntu systems, you need to install the python3-venv\npackage using the following command.\n\n    apt install python3.11-venv\n';
    const m = machine({ venv: { exitCode: 1, stdout: debian } });
    const r = await runSetup(m);
    expect(r.error!.message).toBe(
      'Python 3.11.7 (/usr/bin/python3.11) cannot create a virtual environment: its ensurepip module is missing',
    );
    expect(r.error!.hint).toBe(
      'Install it (Debian/Ubuntu: sudo apt-get install python3.11-venv), then run mlflow-secure setup again',
    );
    await expect(stat(m.venvDir())).rejects.toThrow();
    expect(r.calls.some((c) => c.includes('pip install'))).toBe(false);
  });

  it('--python takes that interpreter only', async () => {
    const m = machine();
    m.setData(data);
    const r = await runSetup(m, { python: '/opt/py/bin/python3' });
    // The fake knows only python3: the refusal names the path the user gave.
    expect(r.error!.message).toMatch(/^no Python 3\.10 or newer found \(\/opt\/py\/bin\/python3: /);
    expect(r.calls[1]).toMatch(/^\/opt\/py\/bin\/python3 -c /);
    // Refused before anything was made: not even the data folder.
    await expect(stat(nodePath.join(data, 'mlflow-secure'))).rejects.toThrow();
  });

  it('--check changes nothing and says what it would do', async () => {
    const m = machine({ nginx: false, root: true });
    const r = await runSetup(m, { check: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `MLflow 3.17.2: would install into ${m.venvDir()} (a new virtual environment, Python 3.11.7 from python3)\nnginx: would install it (apt-get update && apt-get install -y nginx)\n`,
    );
    expect(r.calls.some((c) => c.includes(' -m venv ') || c.includes('pip install') || c.startsWith('apt-get'))).toBe(
      false,
    );
    await expect(stat(nodePath.join(data, 'mlflow-secure'))).rejects.toThrow();
  });

  it('nginx missing, as root with apt-get: installs it without questions and finds it', async () => {
    const m = machine({ nginx: false, root: true });
    const r = await runSetup(m);
    expect(r.code).toBe(0);
    expect(r.calls.slice(-2)).toEqual(['apt-get update', 'apt-get install -y nginx']);
    const apt = r.options.at(-1)!;
    expect(apt.show).toBe(true);
    expect(apt.env?.DEBIAN_FRONTEND).toBe('noninteractive');
    expect(r.stdout).toContain('nginx 1.22.1: ready (/usr/sbin/nginx)');
  });

  it('nginx missing, not root, sudo wants a password: MLflow is still installed, then one line with the command', async () => {
    const m = machine({ nginx: false, sudo: false });
    const r = await runSetup(m);
    expect(r.error!.message).toBe(
      'nginx is not installed, and setup cannot install it here (installing needs root, and sudo asks for a password)',
    );
    expect(r.error!.hint).toBe('Run: sudo apt-get install -y nginx; then mlflow-secure setup again');
    expect(r.calls).toContain('sudo -n true');
    expect(r.calls.some((c) => c.startsWith('apt-get') || c.startsWith('sudo -n apt-get'))).toBe(false);
    expect(await readFile(m.stampFile(), 'utf8')).toBe(await requirements());
  });

  it('nginx missing, passwordless sudo: runs apt-get through sudo -n', async () => {
    const m = machine({ nginx: false, sudo: true });
    // The fake answers `sudo -n apt-get ...` with exit 0 but installs nothing.
    const r = await runSetup(m);
    expect(r.calls.slice(-2)).toEqual(['sudo -n apt-get update', 'sudo -n apt-get install -y nginx']);
    // Still not found afterwards: said plainly.
    expect(r.error!.message).toBe('nginx was installed but is not found (looked at: nginx on PATH, /usr/sbin/nginx)');
  });

  it('without a home folder in the environment: one line, nothing run', async () => {
    const m = machine();
    m.setData(data);
    const c = ctx({ PATH: '/usr/bin' });
    const error = (await setup({}, c.ctx, m.deps).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/neither XDG_DATA_HOME nor HOME is set/);
    expect(m.runner.calls).toEqual([]);
    const w = ctx({}, win32);
    expect(((await setup({}, w.ctx, m.deps).catch((e: unknown) => e)) as UserError).message).toMatch(
      /neither LOCALAPPDATA nor USERPROFILE/,
    );
  });
});
