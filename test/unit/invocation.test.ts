import { describe, expect, it } from 'vitest';
import { nameCommands, selfCommand, shellWord, stateDirArg, type Invocation } from '../../src/invocation.js';
import { getPlatform } from '../../src/system/platform.js';
import { progressMode } from '../../src/progress.js';

const linux = getPlatform('linux');
const win = getPlatform('win32');
const base = (o: Partial<Invocation>): Invocation => ({
  script: '/home/ann/mlflow-secure/dist/cli.js',
  env: {},
  cwd: '/home/ann/mlflow-secure',
  platform: linux,
  onPath: () => false,
  ...o,
});

describe('selfCommand: the command the user types to run mlflow-secure again', () => {
  it('run by path from the project: node dist/cli.js (relative, as typed there)', () => {
    expect(selfCommand(base({}))).toBe('node dist/cli.js');
  });
  it('run by path from elsewhere: the absolute path, quoted when it needs it', () => {
    expect(selfCommand(base({ cwd: '/tmp/work' }))).toBe('node /home/ann/mlflow-secure/dist/cli.js');
    expect(selfCommand(base({ cwd: '/tmp', script: "/home/ann/my tools/it's/dist/cli.js" }))).toBe(
      `node '/home/ann/my tools/it'\\''s/dist/cli.js'`,
    );
  });
  it('npm start (an npm script of this package) and npx: npx mlflow-secure', () => {
    expect(selfCommand(base({ env: { npm_lifecycle_event: 'start', npm_package_name: 'mlflow-secure' } }))).toBe(
      'npx mlflow-secure',
    );
    expect(selfCommand(base({ env: { npm_command: 'exec' } }))).toBe('npx mlflow-secure');
    // Another package's npm script that runs us by path is not ours to rename.
    expect(selfCommand(base({ env: { npm_lifecycle_event: 'test', npm_package_name: 'other' }, cwd: '/tmp' }))).toBe(
      'node /home/ann/mlflow-secure/dist/cli.js',
    );
  });
  it('installed globally and on PATH: the bare name; installed but not on PATH: the path', () => {
    const script = '/usr/local/lib/node_modules/mlflow-secure/dist/cli.js';
    expect(selfCommand(base({ script, cwd: '/tmp', onPath: (n) => n === 'mlflow-secure' }))).toBe('mlflow-secure');
    expect(selfCommand(base({ script, cwd: '/tmp', onPath: () => false }))).toBe(`node ${script}`);
  });
  it("a project's dependency: npx finds it", () => {
    expect(selfCommand(base({ script: '/srv/app/node_modules/mlflow-secure/dist/cli.js', cwd: '/srv/app' }))).toBe(
      'npx mlflow-secure',
    );
  });
  it('Windows: the npm .cmd shim on PATH, else node with a double-quoted path', () => {
    const script = 'C:\\Users\\Ann\\AppData\\Roaming\\npm\\node_modules\\mlflow-secure\\dist\\cli.js';
    expect(selfCommand(base({ platform: win, script, cwd: 'C:\\work', onPath: () => true }))).toBe('mlflow-secure');
    expect(
      selfCommand(base({ platform: win, script: 'C:\\My Tools\\mlflow-secure\\dist\\cli.js', cwd: 'D:\\x' })),
    ).toBe('node "C:\\My Tools\\mlflow-secure\\dist\\cli.js"');
    expect(
      selfCommand(
        base({ platform: win, script: 'C:\\src\\mlflow-secure\\dist\\cli.js', cwd: 'C:\\src\\mlflow-secure' }),
      ),
    ).toBe('node dist\\cli.js');
  });
});

describe('nameCommands: hints rewritten to the working command', () => {
  it('rewrites `mlflow-secure <command>` wherever it stands', () => {
    expect(nameCommands('Stop it with `mlflow-secure down`, or use another --state-dir', 'npx mlflow-secure')).toBe(
      'Stop it with `npx mlflow-secure down`, or use another --state-dir',
    );
    expect(nameCommands('eval "$(mlflow-secure env)"', 'node dist/cli.js')).toBe('eval "$(node dist/cli.js env)"');
    expect(nameCommands('fix: mlflow-secure user passwd bob --hash apr1', 'node x.js')).toBe(
      'fix: node x.js user passwd bob --hash apr1',
    );
  });
  it('leaves the state folder, the probe user, prose and the bare name alone', () => {
    const text = 'in /srv/.mlflow-secure/stack.json: user mlflow-secure-probe-1a2b, a hash mlflow-secure did not write';
    expect(nameCommands(text, 'npx mlflow-secure')).toBe(text);
    expect(nameCommands('mlflow-secure down', 'mlflow-secure')).toBe('mlflow-secure down');
  });
});

describe('a --state-dir typed on the command line goes into every hint', () => {
  const arg = stateDirArg('../other/my state', linux);
  it("is quoted for the shell only when it needs it (sh; PowerShell's rules on Windows)", () => {
    expect(arg).toBe("--state-dir '../other/my state'");
    expect(stateDirArg('/srv/mlflow/.state', linux)).toBe('--state-dir /srv/mlflow/.state');
    expect(shellWord("it's ~/x;rm -rf", linux)).toBe(`'it'\\''s ~/x;rm -rf'`);
    expect(shellWord('a\\b', linux)).toBe(`'a\\b'`);
    expect(stateDirArg('D:\\Work\\state', win)).toBe('--state-dir D:\\Work\\state');
    expect(stateDirArg('C:\\My Work\\state', win)).toBe('--state-dir "C:\\My Work\\state"');
    expect(shellWord('C:\\a`b c', win)).toBe("'C:\\a`b c'");
  });
  it('after the command (after `user <action>`), for every command but setup', () => {
    expect(nameCommands('  stop:      mlflow-secure down', 'node dist/cli.js', arg)).toBe(
      "  stop:      node dist/cli.js down --state-dir '../other/my state'",
    );
    expect(nameCommands('eval "$(mlflow-secure env)"', 'mlflow-secure', arg)).toBe(
      `eval "$(mlflow-secure env --state-dir '../other/my state')"`,
    );
    expect(nameCommands('Read its log: mlflow-secure logs nginx', 'npx mlflow-secure', arg)).toBe(
      "Read its log: npx mlflow-secure logs --state-dir '../other/my state' nginx",
    );
    expect(nameCommands('reset it: mlflow-secure user passwd bob --hash apr1', 'mlflow-secure', arg)).toBe(
      "reset it: mlflow-secure user passwd --state-dir '../other/my state' bob --hash apr1",
    );
    expect(nameCommands('(mlflow-secure user list; user remove <name>)', 'mlflow-secure', arg)).toBe(
      "(mlflow-secure user list --state-dir '../other/my state'; user remove <name>)",
    );
    expect(nameCommands('then run mlflow-secure setup again', 'mlflow-secure', arg)).toBe(
      'then run mlflow-secure setup again',
    );
  });
  it('not twice, and not into the state folder, the probe user or prose', () => {
    expect(nameCommands('mlflow-secure down --state-dir x', 'mlflow-secure', arg)).toBe(
      'mlflow-secure down --state-dir x',
    );
    const text = 'in /srv/.mlflow-secure/stack.json: user mlflow-secure-probe-1a2b, a hash mlflow-secure did not write';
    expect(nameCommands(text, 'mlflow-secure', arg)).toBe(text);
  });
});

describe('progressMode', () => {
  const tty = { isTTY: true };
  it('a spinner only on a terminal that can take one', () => {
    expect(progressMode({ env: { TERM: 'xterm' }, stream: tty })).toBe('spinner');
    expect(progressMode({ env: {}, stream: {} })).toBe('plain');
    expect(progressMode({ env: { TERM: 'dumb' }, stream: tty })).toBe('plain');
    expect(progressMode({ env: { CI: 'true' }, stream: tty })).toBe('plain');
    expect(progressMode({ env: { NO_COLOR: '1' }, stream: tty })).toBe('plain');
    // no-color.org: an empty NO_COLOR does not count.
    expect(progressMode({ env: { NO_COLOR: '' }, stream: tty })).toBe('spinner');
    expect(progressMode({ quiet: true, env: {}, stream: tty })).toBe('none');
  });
});
