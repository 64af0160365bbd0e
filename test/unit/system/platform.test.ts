import nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { getPlatform, SETUP_STAMP } from '../../../src/system/platform.js';

const linux = getPlatform('linux');
const win32 = getPlatform('win32');
const darwin = getPlatform('darwin');

describe('getPlatform', () => {
  it('knows which is Windows and uses its path flavour', () => {
    expect(win32.isWindows).toBe(true);
    expect(win32.path).toBe(nodePath.win32);
    expect(linux.isWindows).toBe(false);
    expect(linux.path).toBe(nodePath.posix);
    expect(darwin.path).toBe(nodePath.posix);
    expect([linux.name, win32.name, darwin.name]).toEqual(['linux', 'win32', 'darwin']);
  });

  it('defaults to the running platform', () => {
    expect(getPlatform().name).toBe(process.platform);
  });

  it.each([
    ['win32', 'nginx', 'nginx.exe'],
    ['win32', 'nginx.exe', 'nginx.exe'],
    ['win32', 'NGINX.EXE', 'NGINX.EXE'],
    ['win32', 'mlflow.cmd', 'mlflow.cmd'],
    ['linux', 'nginx', 'nginx'],
    ['darwin', 'nginx', 'nginx'],
  ] as const)('%s: exeName(%s) = %s', (name, base, expected) => {
    expect(getPlatform(name).exeName(base)).toBe(expected);
  });

  it('uses PATHEXT (lower-cased) on Windows and no extension elsewhere', () => {
    expect(win32.executableExtensions({})).toEqual(['.com', '.exe', '.bat', '.cmd']);
    expect(win32.executableExtensions({ PATHEXT: '.EXE;.PS1;' })).toEqual(['.exe', '.ps1']);
    expect(linux.executableExtensions({ PATHEXT: '.EXE' })).toEqual(['']);
  });

  it('offers bcrypt only where nginx can verify it, apr1 everywhere', () => {
    expect(linux.hashSchemes).toEqual(['bcrypt', 'apr1']);
    expect(win32.hashSchemes).toEqual(['apr1']);
    expect(darwin.hashSchemes).toEqual(['apr1']);
    for (const p of [linux, win32, darwin]) expect(p.hashRefusal('apr1'), p.name).toBeUndefined();
    expect(linux.hashRefusal('bcrypt')).toBeUndefined();
    expect(win32.hashRefusal('bcrypt')).toMatch(/crypt\(\).*typed password/);
    expect(win32.hashRefusal('bcrypt')).toContain('--hash apr1');
    expect(darwin.hashRefusal('bcrypt')).toMatch(/macOS/);
  });

  it('gives nginx forward slashes on Windows and leaves POSIX paths alone', () => {
    expect(win32.toNginxPath('C:\\Program Files\\nginx\\conf\\x.conf')).toBe('C:/Program Files/nginx/conf/x.conf');
    expect(win32.toNginxPath('\\\\server\\share\\x')).toBe('//server/share/x');
    expect(win32.toNginxPath('D:/already/forward')).toBe('D:/already/forward');
    // A backslash is an ordinary file-name character on POSIX.
    expect(linux.toNginxPath('/srv/odd\\name')).toBe('/srv/odd\\name');
  });

  it('removes ngx_unique, in any case, from the child environment on Windows only', () => {
    const env = { ngx_unique: '1', NGX_UNIQUE: '2', Ngx_Unique: '3', PATH: 'C:\\bin', NGX_UNIQUE_NOT: 'keep' };
    expect(win32.childEnv(env)).toEqual({ PATH: 'C:\\bin', NGX_UNIQUE_NOT: 'keep' });
    expect(linux.childEnv(env)).toEqual(env);
    expect(env.ngx_unique).toBe('1'); // the input is not mutated
    expect(linux.childEnv(env)).not.toBe(env);
  });

  it('kills a tree with taskkill /pid N /T /F on Windows, with process groups elsewhere', () => {
    expect(win32.treeKillCommand(1234)).toEqual({ file: 'taskkill', args: ['/pid', '1234', '/T', '/F'] });
    expect(win32.treeKillCommand(1234)?.args).not.toContain('/IM');
    expect(linux.treeKillCommand(1234)).toBeUndefined();
    expect(win32.usesProcessGroups).toBe(false);
    expect(linux.usesProcessGroups).toBe(true);
    expect(darwin.usesProcessGroups).toBe(true);
  });

  it('writes a user directive only for root on POSIX', () => {
    expect(linux.nginxUserDirective({ uid: 0, username: 'root' })).toBe('user root;');
    expect(linux.nginxUserDirective({ uid: 0, username: 'root', groupName: 'wheel' })).toBe('user root wheel;');
    expect(darwin.nginxUserDirective({ uid: 0, username: 'root', groupName: 'wheel' })).toBe('user root wheel;');
    expect(linux.nginxUserDirective({ uid: 1000, username: 'ana' })).toBeUndefined();
    expect(win32.nginxUserDirective({ uid: 0, username: 'Administrator' })).toBeUndefined();
    expect(win32.nginxUserDirective({ uid: -1, username: 'ana' })).toBeUndefined();
  });

  it('searches the usual nginx folders: Windows honours ProgramFiles, Chocolatey and Scoop', () => {
    expect(
      win32.nginxSearchDirs({
        ProgramFiles: 'E:\\Apps',
        SCOOP: 'D:\\scoop',
        ChocolateyInstall: 'D:\\choco',
        ChocolateyToolsLocation: 'D:\\tools',
      }),
    ).toEqual([
      'C:\\nginx',
      'C:\\nginx-*',
      'E:\\Apps\\nginx',
      'D:\\tools\\nginx',
      'D:\\tools\\nginx-*',
      'D:\\choco\\bin',
      'D:\\scoop\\apps\\nginx\\current',
      'D:\\scoop\\shims',
      'C:\\ProgramData\\scoop\\apps\\nginx\\current',
    ]);
    const defaults = win32.nginxSearchDirs({ USERPROFILE: 'C:\\Users\\Ana' });
    expect(defaults[0]).toBe('C:\\nginx');
    expect(defaults).toContain('C:\\Program Files\\nginx');
    expect(defaults).toContain('C:\\Users\\Ana\\scoop\\shims');
    expect(linux.nginxSearchDirs({})[0]).toBe('/usr/sbin');
    expect(darwin.nginxSearchDirs({})).toContain('/opt/homebrew/bin');
  });
});

describe('dataDir', () => {
  it('on Linux: $XDG_DATA_HOME/mlflow-secure, else ~/.local/share/mlflow-secure', () => {
    expect(linux.dataDir({ XDG_DATA_HOME: '/data/ana', HOME: '/home/ana' })).toBe('/data/ana/mlflow-secure');
    expect(linux.dataDir({ HOME: '/home/ana' })).toBe('/home/ana/.local/share/mlflow-secure');
    expect(darwin.dataDir({ HOME: '/Users/ana' })).toBe('/Users/ana/.local/share/mlflow-secure');
  });

  it('ignores an empty or relative XDG_DATA_HOME, as the XDG spec says', () => {
    expect(linux.dataDir({ XDG_DATA_HOME: '', HOME: '/home/ana' })).toBe('/home/ana/.local/share/mlflow-secure');
    expect(linux.dataDir({ XDG_DATA_HOME: 'data', HOME: '/home/ana' })).toBe('/home/ana/.local/share/mlflow-secure');
  });

  it("on Windows: %LOCALAPPDATA%\\mlflow-secure, else the profile's AppData\\Local", () => {
    expect(
      win32.dataDir({ LOCALAPPDATA: 'C:\\Users\\Ana\\AppData\\Local', USERPROFILE: 'D:\\x', XDG_DATA_HOME: '/nope' }),
    ).toBe('C:\\Users\\Ana\\AppData\\Local\\mlflow-secure');
    expect(win32.dataDir({ USERPROFILE: 'C:\\Users\\Ana' })).toBe('C:\\Users\\Ana\\AppData\\Local\\mlflow-secure');
    // Windows ignores HOME; a POSIX box ignores LOCALAPPDATA.
    expect(win32.dataDir({ HOME: '/home/ana' })).toBeUndefined();
    expect(linux.dataDir({ LOCALAPPDATA: 'C:\\Users\\Ana\\AppData\\Local' })).toBeUndefined();
  });

  it('is undefined when the environment names no home', () => {
    expect(linux.dataDir({})).toBeUndefined();
    expect(linux.dataDir({ HOME: 'relative' })).toBeUndefined();
    expect(win32.dataDir({})).toBeUndefined();
    expect(win32.dataDir({ LOCALAPPDATA: 'AppData\\Local' })).toBeUndefined();
  });

  it('puts venv programs in bin/ or Scripts\\ with .exe', () => {
    expect(linux.venvExecutable('/d/venv', 'python')).toBe('/d/venv/bin/python');
    expect(win32.venvExecutable('C:\\d\\venv', 'mlflow')).toBe('C:\\d\\venv\\Scripts\\mlflow.exe');
  });

  it('tries the py launcher first on Windows, python3 first elsewhere', () => {
    expect(win32.pythonCandidates).toEqual([
      { file: 'py', args: ['-3'] },
      { file: 'python', args: [] },
    ]);
    expect(linux.pythonCandidates).toEqual([
      { file: 'python3', args: [] },
      { file: 'python', args: [] },
    ]);
    expect(darwin.pythonCandidates).toEqual(linux.pythonCandidates);
  });
});

describe('mlflowCandidates', () => {
  const env = { VIRTUAL_ENV: '/venvs/active', CONDA_PREFIX: '/opt/conda' };

  it('on Linux: ./.venv, the package .venv, VIRTUAL_ENV, CONDA_PREFIX, then PATH', () => {
    const list = linux.mlflowCandidates({ cwd: '/home/ana/proj', packageRoot: '/opt/mlflow-secure', env });
    expect(list).toEqual([
      { kind: 'file', file: '/home/ana/proj/.venv/bin/mlflow', args: [], label: './.venv' },
      { kind: 'file', file: '/opt/mlflow-secure/.venv/bin/mlflow', args: [], label: "mlflow-secure's own .venv" },
      { kind: 'file', file: '/venvs/active/bin/mlflow', args: [], label: expect.stringContaining('VIRTUAL_ENV') },
      { kind: 'file', file: '/opt/conda/bin/mlflow', args: [], label: expect.stringContaining('CONDA_PREFIX') },
      { kind: 'path', name: 'mlflow', args: [], label: 'PATH' },
    ]);
  });

  it('on Windows: Scripts\\mlflow.exe in the same order, then PATH, py -m mlflow, python -m mlflow', () => {
    const list = win32.mlflowCandidates({
      cwd: 'C:\\proj',
      packageRoot: 'C:\\ms',
      env: { VIRTUAL_ENV: 'D:\\venv', CONDA_PREFIX: 'D:\\conda' },
    });
    expect(list.map((c) => (c.kind === 'file' ? c.file : `${c.name} ${c.args.join(' ')}`.trim()))).toEqual([
      'C:\\proj\\.venv\\Scripts\\mlflow.exe',
      'C:\\ms\\.venv\\Scripts\\mlflow.exe',
      'D:\\venv\\Scripts\\mlflow.exe',
      'D:\\conda\\Scripts\\mlflow.exe',
      'mlflow',
      'py -m mlflow',
      'python -m mlflow',
    ]);
  });

  it("puts setup's venv (with its stamp) after the project's and the package's .venv, before VIRTUAL_ENV and PATH", () => {
    const list = linux.mlflowCandidates({ cwd: '/p', packageRoot: '/q', env: { ...env, XDG_DATA_HOME: '/data' } });
    expect(list.map((c) => (c.kind === 'file' ? c.file : c.name))).toEqual([
      '/p/.venv/bin/mlflow',
      '/q/.venv/bin/mlflow',
      '/data/mlflow-secure/venv/bin/mlflow',
      '/venvs/active/bin/mlflow',
      '/opt/conda/bin/mlflow',
      'mlflow',
    ]);
    expect(list[2]).toEqual({
      kind: 'file',
      file: '/data/mlflow-secure/venv/bin/mlflow',
      args: [],
      label: 'installed by mlflow-secure setup',
      stamp: `/data/mlflow-secure/venv/${SETUP_STAMP}`,
    });
    // Only that one needs a stamp: the others are made by people, not by setup.
    expect(list.filter((c) => c.kind === 'file' && c.stamp !== undefined)).toHaveLength(1);
    const win = win32.mlflowCandidates({ cwd: 'C:\\p', packageRoot: 'C:\\q', env: { LOCALAPPDATA: 'C:\\L' } });
    expect(win[2]).toMatchObject({
      file: 'C:\\L\\mlflow-secure\\venv\\Scripts\\mlflow.exe',
      stamp: `C:\\L\\mlflow-secure\\venv\\${SETUP_STAMP}`,
    });
  });

  it('lists a folder once when the active venv is ./.venv, and skips unset variables', () => {
    const list = linux.mlflowCandidates({ cwd: '/p', packageRoot: '/p', env: { VIRTUAL_ENV: '/p/.venv' } });
    expect(list.map((c) => c.label)).toEqual(['./.venv', 'PATH']);
  });

  it('never tries py/python -m mlflow off Windows', () => {
    for (const p of [linux, darwin]) {
      const names = p
        .mlflowCandidates({ cwd: '/p', packageRoot: '/q', env: {} })
        .flatMap((c) => (c.kind === 'path' ? [c.name] : []));
      expect(names, p.name).toEqual(['mlflow']);
    }
  });
});
