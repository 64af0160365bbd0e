/**
 * A stack record is data a stranger can write (a cloned repository can ship `.mlflow-secure/`):
 * `down`, `status` and `env` must never signal, run or print what it says without checking.
 *
 * Every case that hands `down` a hostile pid runs inside its own pid namespace
 * (`unshare --pid --fork --mount-proc`) and session (`setsid`), next to a sentinel process:
 * without the fix, pid -1 means "every process you may signal", and only the namespace keeps
 * that from reaching the rest of the machine. The sentinel tells whether anything was hit.
 */
import { execa } from 'execa';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, cli, cliPath, removeDir, tempDir } from './helpers.js';

const hasUnshare = await execa('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { reject: false }).then(
  (r) => r.exitCode === 0,
);

/**
 * A record valid in every field but the ones overridden, in the version-1 shape older releases
 * wrote and trusted (commands and patterns included), so each case is also the attack that
 * worked on them. The current code reads such a record for its pids only.
 */
function record(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    phase: 'running',
    supervisorPid: null,
    startedAt: '2026-01-01T00:00:00.000Z',
    url: 'http://127.0.0.1:5999',
    publicUrls: [],
    user: 'admin',
    host: '127.0.0.1',
    port: 5999,
    mlflowPort: 5998,
    hash: 'bcrypt',
    backendStoreUri: 'sqlite:////x/mlflow.db',
    registryStoreUri: 'sqlite:////x/mlflow.db',
    artifactsDestination: 'file:///x/mlartifacts',
    ...over,
  };
}

/** A process entry as version 1 wrote it: identity [] matched any process there. */
const legacy = (pid: unknown) => ({ pid, group: true, file: '/bin/true', args: [], quitArgs: [], identity: [] });

interface Contained {
  exitCode: number;
  stdout: string;
  stderr: string;
  sentinelAlive: boolean;
}

/**
 * Runs `mlflow-secure <args>` inside a fresh pid namespace and session with a sentinel `sleep`
 * beside it. `SENTINEL` in the record text is replaced with the sentinel's pid (as the
 * namespace numbers it), so a record can point at a live process that is not ours.
 */
async function contained(
  cwd: string,
  recordText: string,
  args: string[],
  o: { sentinelArgv0?: string } = {},
): Promise<Contained> {
  const stateDir = path.join(cwd, '.mlflow-secure');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const script = [
    `exec -a ${JSON.stringify(o.sentinelArgv0 ?? 'sleep')} sleep 300 & s=$!`,
    'sleep 0.1',
    // The record is written inside the namespace, where the sentinel's pid is known.
    `printf '%s' "$RECORD" | sed "s/SENTINEL/$s/g" > ${JSON.stringify(path.join(stateDir, 'stack.json'))}`,
    `"$NODE" ${JSON.stringify(cliPath)} "$@" > "$OUT" 2> "$ERR"; echo "exit=$?" > "$OUT.status"`,
    'if kill -0 "$s" 2>/dev/null; then echo sentinel=alive >> "$OUT.status"; fi',
    'kill -9 "$s" 2>/dev/null; exit 0',
  ].join('\n');
  const out = path.join(cwd, 'out.txt');
  const err = path.join(cwd, 'err.txt');
  await execa('unshare', ['--pid', '--fork', '--mount-proc', 'setsid', 'bash', '-c', script, 'bash', ...args], {
    cwd,
    env: cleanEnv({ RECORD: recordText, NODE: process.execPath, OUT: out, ERR: err }),
    extendEnv: false,
    reject: false,
    timeout: 60_000,
    stdin: 'ignore',
  });
  const read = (f: string) => readFile(f, 'utf8').catch(() => '');
  const status = await read(`${out}.status`);
  return {
    exitCode: Number(/exit=(\d+)/.exec(status)?.[1] ?? -1),
    stdout: await read(out),
    stderr: await read(err),
    sentinelAlive: status.includes('sentinel=alive'),
  };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'));

describe.skipIf(!hasUnshare)('down never signals what a hostile record names (inside a pid namespace)', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await tempDir('mlflow-secure-hostile-');
  });
  afterAll(async () => {
    await removeDir(cwd);
  });

  const refused = [
    ['pid -1 (every process you may signal)', { mlflow: legacy(-1) }],
    ['pid 0 (our own process group)', { nginx: legacy(0) }],
    ['pid 1 (init)', { mlflow: legacy(1) }],
    ['a pid at the system limit', { mlflow: legacy(2 ** 31) }],
    ['a pid that is a string', { mlflow: legacy('SENTINEL') }],
    ['a fractional pid', { nginx: legacy(2.5) }],
    ['a negative supervisor pid', { supervisorPid: -1, mlflow: legacy(999_999) }],
    ['a user name with a newline', { user: 'admin\necho INJECTED', nginx: legacy(999_999) }],
    ['a URL that is not http://host:port', { url: 'http://evil.example:80/x?y', nginx: legacy(999_999) }],
    ['a record of an unknown version', { version: 99, nginx: legacy(999_999) }],
  ] as const;
  for (const [what, over] of refused) {
    it(`refuses ${what}: one line, exit 1, nothing signalled, the record kept`, async () => {
      const r = await contained(cwd, JSON.stringify(record(over)), ['down']);
      expect(r.sentinelAlive, `${r.stdout}\n${r.stderr}`).toBe(true);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/is not one mlflow-secure wrote .*nothing was stopped or signalled/);
      expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
      expect(await stat(path.join(cwd, '.mlflow-secure', 'stack.json')).then(() => true)).toBe(true);
    });
  }

  it('handles malformed records ({"pid":2}, an entry without identity, "identity":"x", not JSON) with at most one line, never a stack trace', async () => {
    const texts = [
      '{"pid":2}',
      JSON.stringify({ ...record(), mlflow: { pid: 2 } }),
      JSON.stringify({ ...record(), mlflow: { ...legacy(999_999), identity: 'x' } }),
      '{not json',
    ];
    for (const text of texts) {
      const r = await contained(cwd, text, ['down']);
      expect([0, 1], `${text}: ${r.stderr}`).toContain(r.exitCode);
      expect(r.stderr, text).not.toMatch(/internal error|TypeError/);
      expect(errorLines(r.stderr).length, text).toBeLessThanOrEqual(1);
      expect(r.sentinelAlive, text).toBe(true);
    }
  });

  it('runs no command from the record: an old-style nginx entry naming /bin/sh runs nothing, and a live pid that is not ours is left alone', async () => {
    const pwned = path.join(cwd, 'PWNED');
    const text = JSON.stringify({
      ...record({ version: 1 }),
      nginx: {
        pid: 'SENTINEL',
        group: true,
        file: '/bin/sh',
        args: [],
        quitArgs: ['-c', `touch ${pwned}`],
        identity: [],
      },
      mlflow: { pid: 'SENTINEL', group: true, file: '/bin/sh', args: [], identity: [] },
    }).replace(/"SENTINEL"/g, 'SENTINEL');
    const r = await contained(cwd, text, ['down']);
    expect(r.sentinelAlive, r.stderr).toBe(true);
    expect(
      await stat(pwned).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    expect(r.stderr).toMatch(/is not nginx from this stack/);
    expect(r.stderr).toMatch(/is not mlflow from this stack/);
  });

  it('matches identity by whole words: a process whose command line merely contains the pieces is not ours', async () => {
    // Looks like an mlflow on port 59981, and carries " up" like a supervisor: neither is ours.
    const text = JSON.stringify(
      record({
        mlflow: { ...legacy('SENTINEL'), identity: ['mlflow', '--port 5998'] },
        mlflowPort: 5998,
        supervisorPid: 'SENTINEL',
      }),
    ).replace(/"SENTINEL"/g, 'SENTINEL');
    const r = await contained(cwd, text, ['down'], { sentinelArgv0: 'mlflow ui --port 59981 up' });
    expect(r.sentinelAlive, r.stderr).toBe(true);
    expect(r.stderr).toMatch(/is not mlflow from this stack/);
  });

  it('does not signal a live supervisor pid: down no longer sends anything to `up` (it leaves a stop request)', async () => {
    const text = JSON.stringify(record({ supervisorPid: 'SENTINEL' })).replace(/"SENTINEL"/g, 'SENTINEL');
    const r = await contained(cwd, text, ['down'], { sentinelArgv0: 'node dist/cli.js up' });
    expect(r.sentinelAlive, r.stderr).toBe(true);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('status refuses a hostile record the same way, and env prints nothing from it', async () => {
    const s = await contained(cwd, JSON.stringify(record({ mlflow: legacy(-1) })), ['status']);
    expect(s.exitCode).toBe(1);
    expect(s.sentinelAlive).toBe(true);
    const e = await contained(
      cwd,
      JSON.stringify(record({ user: 'admin\necho INJECTED', nginx: legacy('SENTINEL') })).replace(
        /"SENTINEL"/g,
        'SENTINEL',
      ),
      ['env'],
      { sentinelArgv0: 'nginx' },
    );
    expect(e.exitCode).toBe(1);
    expect(e.stdout).toBe('');
    expect(errorLines(e.stderr)).toHaveLength(1);
  });
});

describe('down when the stack belongs to another user', () => {
  it('reports the permission error, exits non-zero and keeps the record (it used to print "Stopped" and delete it)', async () => {
    const cwd = await tempDir('mlflow-secure-eperm-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    await mkdir(stateDir, { mode: 0o700 });
    const owner = 4242; // the account running `down`, with no passwd entry needed
    // A process of a different user (65534) that looks exactly like this state's nginx.
    const conf = path.join(stateDir, 'nginx.conf');
    // detached: it leads its own process group, as the real nginx master does.
    const other = execa(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'bash',
        '-c',
        `exec -a "nginx: master process /usr/sbin/nginx -c ${conf}" sleep 60`,
      ],
      { reject: false, detached: true },
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      await writeFile(
        path.join(stateDir, 'stack.json'),
        JSON.stringify(record({ nginx: { ...legacy(other.pid), identity: [`-c ${conf}`] } })),
      );
      await chown(path.join(stateDir, 'stack.json'), owner, owner);
      await chown(stateDir, owner, owner);
      await chmod(cwd, 0o755);
      const r = await execa(
        'setpriv',
        [`--reuid=${owner}`, `--regid=${owner}`, '--clear-groups', process.execPath, cliPath, 'down'],
        { cwd, env: cleanEnv({ HOME: cwd }), extendEnv: false, reject: false, timeout: 30_000 },
      );
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/cannot stop nginx \(pid \d+\): it belongs to another user/);
      expect(r.stdout).not.toMatch(/Stopped/);
      expect(other.exitCode).toBeNull();
      expect(await stat(path.join(stateDir, 'stack.json')).then(() => true)).toBe(true);
    } finally {
      other.kill('SIGKILL');
      await other;
      await removeDir(cwd);
    }
  });

  it('a state folder of another user is refused by down, status and env with one line', async () => {
    const cwd = await tempDir('mlflow-secure-other-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    await mkdir(stateDir, { mode: 0o700 });
    await writeFile(path.join(stateDir, 'stack.json'), JSON.stringify(record({ nginx: legacy(999_999) })));
    await chown(stateDir, 65534, 65534);
    try {
      for (const cmd of ['down', 'status', 'env']) {
        const r = await cli([cmd], { cwd });
        expect(r.exitCode, `${cmd}: ${r.stderr}`).toBe(1);
        expect(errorLines(r.stderr), cmd).toHaveLength(1);
      }
    } finally {
      await removeDir(cwd);
    }
  });
});

describe('a state folder that came with a cloned repository', () => {
  it('up refuses its password file (0644: not one mlflow-secure wrote) with one line, starting nothing and changing nothing', async () => {
    const cwd = await tempDir('mlflow-secure-cloned-');
    const stateDir = path.join(cwd, '.mlflow-secure');
    await mkdir(stateDir, { mode: 0o755 });
    await chmod(stateDir, 0o755);
    // What `git clone` produces: files 0644, owned by the user who cloned.
    const htpasswd = 'admin:$apr1$abcdefgh$0123456789abcdefghijkl\nbackdoor:{PLAIN}letmein\n';
    await writeFile(path.join(stateDir, 'htpasswd'), htpasswd, { mode: 0o644 });
    await writeFile(path.join(stateDir, 'generated-password'), '{"user":"admin","password":"attacker-knows-1"}\n', {
      mode: 0o644,
    });
    try {
      const r = await cli(['up', '-d', '--port', 'auto'], { cwd });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/htpasswd is open to other users \(mode 0644\); mlflow-secure writes it owner-only/);
      expect(await readFile(path.join(stateDir, 'htpasswd'), 'utf8')).toBe(htpasswd);
      await expect(stat(path.join(stateDir, 'stack.json'))).rejects.toThrow(/ENOENT/);
      // env never hands out the planted password either.
      const env = await cli(['env'], { cwd });
      expect(env.exitCode).toBe(1);
      expect(env.stdout).not.toContain('attacker-knows-1');
    } finally {
      await removeDir(cwd);
    }
  });
});
