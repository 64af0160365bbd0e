import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { getPlatform, SETUP_STAMP } from '../../../src/system/platform.js';
import {
  executableTest,
  findOnPath,
  lookupMlflow,
  lookupNginx,
  parseNginxVersion,
  requireFound,
  type IsExecutable,
  type Lookup,
} from '../../../src/system/tools.js';

const win32 = getPlatform('win32');
const linux = getPlatform('linux');

/** A fake file system: these files exist and run; every probe is recorded, in order. */
function fakeFs(existing: string[]): { isExecutable: IsExecutable; probes: string[] } {
  const probes: string[] = [];
  const set = new Set(existing);
  return {
    probes,
    isExecutable: async (file) => {
      probes.push(file);
      return set.has(file);
    },
  };
}

const WIN_ENV = { PATH: 'C:\\Tools;"C:\\Program Files\\bin";;C:\\Windows', PATHEXT: '.COM;.EXE;.BAT;.CMD' };

describe('findOnPath', () => {
  it('on Windows splits PATH on ;, strips quotes and tries each PATHEXT in each folder, in order', async () => {
    const fs = fakeFs(['C:\\Program Files\\bin\\tool.bat']);
    expect(await findOnPath('tool', WIN_ENV, win32, fs.isExecutable)).toBe('C:\\Program Files\\bin\\tool.bat');
    expect(fs.probes).toEqual([
      'C:\\Tools\\tool.com',
      'C:\\Tools\\tool.exe',
      'C:\\Tools\\tool.bat',
      'C:\\Tools\\tool.cmd',
      'C:\\Program Files\\bin\\tool.com',
      'C:\\Program Files\\bin\\tool.exe',
      'C:\\Program Files\\bin\\tool.bat',
    ]);
  });

  it('on Windows takes a name with an extension as it is', async () => {
    const fs = fakeFs(['C:\\Windows\\nginx.exe']);
    expect(await findOnPath('nginx.exe', WIN_ENV, win32, fs.isExecutable)).toBe('C:\\Windows\\nginx.exe');
    expect(fs.probes).toEqual(['C:\\Tools\\nginx.exe', 'C:\\Program Files\\bin\\nginx.exe', 'C:\\Windows\\nginx.exe']);
  });

  it('reads Path when PATH is absent (Windows spelling)', async () => {
    const fs = fakeFs(['D:\\bin\\nginx.exe']);
    expect(await findOnPath('nginx.exe', { Path: 'D:\\bin' }, win32, fs.isExecutable)).toBe('D:\\bin\\nginx.exe');
  });

  it('on POSIX splits on : and adds no extension', async () => {
    const fs = fakeFs(['/usr/bin/nginx']);
    expect(
      await findOnPath('nginx', { PATH: '/usr/local/bin:/usr/bin', PATHEXT: '.EXE' }, linux, fs.isExecutable),
    ).toBe('/usr/bin/nginx');
    expect(fs.probes).toEqual(['/usr/local/bin/nginx', '/usr/bin/nginx']);
  });

  it('returns undefined when nothing matches, or PATH is empty', async () => {
    expect(await findOnPath('nginx', WIN_ENV, win32, fakeFs([]).isExecutable)).toBeUndefined();
    const fs = fakeFs(['/nginx']);
    expect(await findOnPath('nginx', {}, linux, fs.isExecutable)).toBeUndefined();
    expect(fs.probes).toEqual([]);
  });
});

describe('lookupNginx', () => {
  it('on Windows: PATH first, then the usual folders, recording where it looked', async () => {
    const fs = fakeFs(['C:\\tools\\nginx\\nginx.exe']);
    const result = await lookupNginx({
      env: { ...WIN_ENV, ProgramFiles: 'C:\\Program Files' },
      platform: win32,
      isExecutable: fs.isExecutable,
      listDir: async () => [],
    });
    expect(result.found).toBe('C:\\tools\\nginx\\nginx.exe');
    expect(result.searched).toEqual([
      'nginx.exe on PATH',
      'C:\\nginx\\nginx.exe',
      'C:\\nginx-*\\nginx.exe',
      'C:\\Program Files\\nginx\\nginx.exe',
      'C:\\tools\\nginx\\nginx.exe',
    ]);
    // PATH was searched for nginx.exe, not for nginx.exe.com and friends.
    expect(fs.probes.slice(0, 3)).toEqual([
      'C:\\Tools\\nginx.exe',
      'C:\\Program Files\\bin\\nginx.exe',
      'C:\\Windows\\nginx.exe',
    ]);
  });

  it("on Windows: finds the newest versioned folder (unzipped nginx-1.27.10, Chocolatey's C:\\tools\\nginx-*)", async () => {
    const fs = fakeFs(['C:\\tools\\nginx-1.27.9\\nginx.exe', 'C:\\tools\\nginx-1.27.10\\nginx.exe']);
    const listDir = async (dir: string) => (dir === 'C:\\tools' ? ['nginx-1.27.9', 'nodejs', 'nginx-1.27.10'] : []);
    const result = await lookupNginx({ env: WIN_ENV, platform: win32, isExecutable: fs.isExecutable, listDir });
    expect(result.found).toBe('C:\\tools\\nginx-1.27.10\\nginx.exe');
    expect(result.searched.slice(-2)).toEqual(['C:\\tools\\nginx\\nginx.exe', 'C:\\tools\\nginx-1.27.10\\nginx.exe']);
  });

  it('stops at PATH when nginx is there', async () => {
    const fs = fakeFs(['C:\\Windows\\nginx.exe', 'C:\\nginx\\nginx.exe']);
    const result = await lookupNginx({ env: WIN_ENV, platform: win32, isExecutable: fs.isExecutable });
    expect(result).toEqual({ found: 'C:\\Windows\\nginx.exe', searched: ['nginx.exe on PATH'] });
  });

  it('searches every usual folder when nginx is nowhere', async () => {
    const result = await lookupNginx({
      env: { PATH: '/usr/bin' },
      platform: linux,
      isExecutable: fakeFs([]).isExecutable,
    });
    expect(result.found).toBeUndefined();
    expect(result.searched).toEqual(['nginx on PATH', ...linux.nginxSearchDirs({}).map((d) => `${d}/nginx`)]);
  });

  it('uses --nginx, then MLFLOW_SECURE_NGINX, without searching further', async () => {
    const fs = fakeFs(['D:\\my nginx\\nginx.exe', 'C:\\nginx\\nginx.exe']);
    expect(
      await lookupNginx({
        flag: 'D:\\my nginx\\nginx.exe',
        env: { MLFLOW_SECURE_NGINX: 'C:\\nginx\\nginx.exe' },
        platform: win32,
        isExecutable: fs.isExecutable,
      }),
    ).toEqual({
      found: 'D:\\my nginx\\nginx.exe',
      searched: ['D:\\my nginx\\nginx.exe (--nginx)'],
    });
    expect(
      await lookupNginx({
        env: { MLFLOW_SECURE_NGINX: 'C:\\nginx\\nginx.exe' },
        platform: win32,
        isExecutable: fs.isExecutable,
      }),
    ).toEqual({
      found: 'C:\\nginx\\nginx.exe',
      searched: ['C:\\nginx\\nginx.exe (MLFLOW_SECURE_NGINX)'],
    });
    // An explicit choice that does not exist is not replaced by a guess.
    expect(
      await lookupNginx({ flag: 'E:\\missing.exe', env: WIN_ENV, platform: win32, isExecutable: fs.isExecutable }),
    ).toEqual({
      searched: ['E:\\missing.exe (--nginx)'],
    });
  });
});

describe('lookupMlflow', () => {
  const base = { cwd: 'C:\\proj', root: 'C:\\ms', platform: win32 } as const;

  it('on Windows: venvs, PATH, then py -m mlflow and python -m mlflow', async () => {
    const fs = fakeFs(['C:\\Py\\python.exe']);
    const result = await lookupMlflow({
      ...base,
      env: { VIRTUAL_ENV: 'D:\\venv', PATH: 'C:\\Py', PATHEXT: '.EXE' },
      isExecutable: fs.isExecutable,
    });
    expect(result.found).toEqual({ file: 'C:\\Py\\python.exe', args: ['-m', 'mlflow'] });
    expect(result.searched).toEqual([
      'C:\\proj\\.venv\\Scripts\\mlflow.exe (./.venv)',
      "C:\\ms\\.venv\\Scripts\\mlflow.exe (mlflow-secure's own .venv)",
      'D:\\venv\\Scripts\\mlflow.exe (the active virtual environment ($VIRTUAL_ENV))',
      'mlflow.exe on PATH',
      'py -m mlflow',
      'python -m mlflow',
    ]);
    expect(fs.probes).toEqual([
      'C:\\proj\\.venv\\Scripts\\mlflow.exe',
      'C:\\ms\\.venv\\Scripts\\mlflow.exe',
      'D:\\venv\\Scripts\\mlflow.exe',
      'C:\\Py\\mlflow.exe',
      'C:\\Py\\py.exe',
      'C:\\Py\\python.exe',
    ]);
  });

  it('prefers ./.venv over everything after it', async () => {
    const fs = fakeFs([
      'C:\\proj\\.venv\\Scripts\\mlflow.exe',
      'C:\\ms\\.venv\\Scripts\\mlflow.exe',
      'C:\\Py\\mlflow.exe',
    ]);
    const result = await lookupMlflow({ ...base, env: { PATH: 'C:\\Py' }, isExecutable: fs.isExecutable });
    expect(result).toEqual({
      found: { file: 'C:\\proj\\.venv\\Scripts\\mlflow.exe', args: [] },
      searched: ['C:\\proj\\.venv\\Scripts\\mlflow.exe (./.venv)'],
    });
  });

  it('finds mlflow.exe on PATH before py -m mlflow', async () => {
    const fs = fakeFs(['C:\\Py\\mlflow.exe', 'C:\\Py\\py.exe']);
    const result = await lookupMlflow({ ...base, env: { PATH: 'C:\\Py' }, isExecutable: fs.isExecutable });
    expect(result.found).toEqual({ file: 'C:\\Py\\mlflow.exe', args: [] });
    expect(result.searched.at(-1)).toBe('mlflow.exe on PATH');
  });

  it('accepts a venv folder as --mlflow, and MLFLOW_SECURE_MLFLOW', async () => {
    const fs = fakeFs(['D:\\envs\\ml\\Scripts\\mlflow.exe']);
    expect(await lookupMlflow({ ...base, flag: 'D:\\envs\\ml', env: {}, isExecutable: fs.isExecutable })).toEqual({
      found: { file: 'D:\\envs\\ml\\Scripts\\mlflow.exe', args: [] },
      searched: ['D:\\envs\\ml (--mlflow)'],
    });
    expect(
      await lookupMlflow({ ...base, env: { MLFLOW_SECURE_MLFLOW: 'D:\\envs\\ml' }, isExecutable: fs.isExecutable }),
    ).toEqual({
      found: { file: 'D:\\envs\\ml\\Scripts\\mlflow.exe', args: [] },
      searched: ['D:\\envs\\ml (MLFLOW_SECURE_MLFLOW)'],
    });
    expect(
      await lookupMlflow({ ...base, flag: 'D:\\nothing', env: { PATH: 'C:\\Py' }, isExecutable: fs.isExecutable }),
    ).toEqual({
      searched: ['D:\\nothing (--mlflow)'],
    });
  });

  it("uses setup's venv in the data folder only once setup has stamped it finished", async () => {
    const env = { PATH: '/usr/bin', HOME: '/home/ana', VIRTUAL_ENV: '/work/venv' };
    const mlflow = '/home/ana/.local/share/mlflow-secure/venv/bin/mlflow';
    const stamp = `/home/ana/.local/share/mlflow-secure/venv/${SETUP_STAMP}`;
    const fs = fakeFs([mlflow, '/work/venv/bin/mlflow']);
    const base = { cwd: '/p', root: '/q', platform: linux, env, isExecutable: fs.isExecutable } as const;
    const finished = await lookupMlflow({ ...base, isFile: async (f) => f === stamp });
    expect(finished).toEqual({
      found: { file: mlflow, args: [] },
      searched: [
        '/p/.venv/bin/mlflow (./.venv)',
        "/q/.venv/bin/mlflow (mlflow-secure's own .venv)",
        `${mlflow} (installed by mlflow-secure setup)`,
      ],
    });
    // Half-made (no stamp): skipped, said so, and the search goes on to the active venv.
    const unfinished = await lookupMlflow({ ...base, isFile: async () => false });
    expect(unfinished.found).toEqual({ file: '/work/venv/bin/mlflow', args: [] });
    expect(unfinished.searched[2]).toBe(
      `${mlflow} (installed by mlflow-secure setup; unfinished, run mlflow-secure setup again)`,
    );
    // ./.venv still comes first.
    const local = await lookupMlflow({
      ...base,
      isExecutable: fakeFs(['/p/.venv/bin/mlflow', mlflow]).isExecutable,
      isFile: async () => true,
    });
    expect(local.found).toEqual({ file: '/p/.venv/bin/mlflow', args: [] });
  });

  it("on Windows finds setup's venv under %LOCALAPPDATA%", async () => {
    const mlflow = 'C:\\Users\\Ana\\AppData\\Local\\mlflow-secure\\venv\\Scripts\\mlflow.exe';
    const result = await lookupMlflow({
      ...base,
      env: { LOCALAPPDATA: 'C:\\Users\\Ana\\AppData\\Local', PATH: 'C:\\Py' },
      isExecutable: fakeFs([mlflow, 'C:\\Py\\mlflow.exe']).isExecutable,
      isFile: async (f) => f.endsWith(SETUP_STAMP),
    });
    expect(result.found).toEqual({ file: mlflow, args: [] });
  });

  it('never tries py on Linux', async () => {
    const result = await lookupMlflow({
      cwd: '/p',
      root: '/q',
      platform: linux,
      env: { PATH: '/usr/bin' },
      isExecutable: fakeFs([]).isExecutable,
    });
    expect(result.found).toBeUndefined();
    expect(result.searched).toEqual([
      '/p/.venv/bin/mlflow (./.venv)',
      "/q/.venv/bin/mlflow (mlflow-secure's own .venv)",
      'mlflow on PATH',
    ]);
  });
});

describe('requireFound', () => {
  it('returns what was found', () => {
    expect(requireFound({ found: 'C:\\nginx\\nginx.exe', searched: ['x'] }, 'nginx', win32)).toBe(
      'C:\\nginx\\nginx.exe',
    );
  });

  it('throws a UserError listing every place it looked, with an install hint', () => {
    const lookup: Lookup<string> = {
      searched: ['nginx.exe on PATH', 'C:\\nginx\\nginx.exe', 'C:\\Program Files\\nginx\\nginx.exe'],
    };
    let error: unknown;
    try {
      requireFound(lookup, 'nginx', win32);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    expect(e.message).toBe(
      'nginx not found (looked at: nginx.exe on PATH, C:\\nginx\\nginx.exe, C:\\Program Files\\nginx\\nginx.exe)',
    );
    expect(e.hint).toContain('--nginx');
    expect(e.hint).toContain('nginx.exe');
  });

  it('names mlflow-secure setup for a missing MLflow, on every platform', () => {
    const hintFor = (platform: typeof win32) => {
      try {
        requireFound({ searched: ['a', 'b'] }, 'MLflow', platform);
      } catch (e) {
        expect((e as UserError).message).toBe('MLflow not found (looked at: a, b)');
        return (e as UserError).hint;
      }
      throw new Error('expected a UserError');
    };
    for (const p of [win32, linux]) {
      expect(hintFor(p)).toMatch(/^Run mlflow-secure setup /);
      expect(hintFor(p)).toContain('--mlflow');
      expect(hintFor(p)).not.toContain('npm run setup');
    }
  });
});

describe('parseNginxVersion', () => {
  it.each([
    ['nginx version: nginx/1.22.1', [1, 22, 1]],
    ['nginx version: nginx/1.27.4 (Ubuntu)\n', [1, 27, 4]],
    ['nginx version: freenginx/1.27.2', [1, 27, 2]],
    ['', undefined],
    ['command not found', undefined],
  ] as const)('%j -> %j', (stderr, expected) => {
    expect(parseNginxVersion(stderr)).toEqual(expected);
  });
});

describe('executableTest', () => {
  it('needs the execute bit on POSIX, not on Windows (which has none)', async () => {
    const dir = await mkdtemp(nodePath.join(os.tmpdir(), 'ms-exec-'));
    try {
      const plain = nodePath.join(dir, 'plain.exe');
      const script = nodePath.join(dir, 'script');
      await writeFile(plain, '');
      await writeFile(script, '', { mode: 0o755 });
      expect(await executableTest(linux)(script)).toBe(true);
      expect(await executableTest(win32)(plain)).toBe(true);
      expect(await executableTest(win32)(dir)).toBe(false);
      expect(await executableTest(win32)(nodePath.join(dir, 'missing.exe'))).toBe(false);
      // Root may run anything with any x bit, but a file with none is refused even to root.
      if (process.platform !== 'win32') expect(await executableTest(linux)(plain)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
