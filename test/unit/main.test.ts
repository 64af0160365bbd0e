/**
 * The command-line declaration: every command keeps the options it had before the options were
 * declared once per shared flag (the lists below were read from main.ts before that change), its
 * help lists them, and the checks commander makes for the commands keep their exit codes.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgram, main } from '../../src/main.js';
import { createOutput } from '../../src/log.js';
import { DEFAULT_STATE_DIR } from '../../src/defaults.js';
import { getPlatform } from '../../src/system/platform.js';
import { sink } from './sink.js';

function context() {
  const stdout = sink();
  const stderr = sink();
  const ctx = {
    cwd: process.cwd(),
    env: {},
    platform: getPlatform('linux'),
    out: createOutput(stdout.stream, stderr.stream),
    stdin: Readable.from([]),
    stderr: stderr.stream,
  };
  return { ctx, stderr: stderr.text };
}

const STACK =
  '--state-dir --backend-store-uri --registry-store-uri --artifacts-destination --host --port --server-name --tls --no-tls --tls-cert --tls-key --user --hash --bcrypt-cost --nginx-workers --workers --jobs --timeout --mlflow --nginx --upstream --permissions --no-permissions --default-permission';
/** Each command's options, in help order, as main.ts declared them before (issue 14 added the permission ones). */
const BEFORE: Record<string, string> = {
  up: `--detach --quiet --password-stdin --dry-run --json --open --migrate ${STACK}`,
  restart: `--foreground --password-stdin --quiet --migrate ${STACK}`,
  down: '--state-dir',
  status: '--json --state-dir',
  logs: '--follow --lines --state-dir',
  user: '--hash --bcrypt-cost --password-stdin --json --admin --mlflow --state-dir',
  config: `--json ${STACK}`,
  env: '--shell --public --save --dotenv --forget --state-dir',
  open: '--public --state-dir',
  doctor:
    '--mlflow --nginx --host --port --backend-store-uri --registry-store-uri --artifacts-destination --json --state-dir',
  setup: '--check --force --python --with',
  export: '--out --force --s3 --host --port --server-name --nginx-workers --mlflow-workers --state-dir',
  grant: '--backend-store-uri --state-dir --mlflow',
  revoke: '--backend-store-uri --state-dir --mlflow',
  grants: '--json --state-dir --mlflow',
  token: '--user --expires --read-only --json --state-dir',
};

const commands = () => createProgram(context().ctx, () => undefined).commands;
const command = (name: string) => commands().find((c) => c.name() === name)!;
const option = (cmd: string, long: string) => command(cmd).options.find((o) => o.long === long);

describe('every command keeps its options', () => {
  it('the same commands, each with the options it had, in the same order', () => {
    expect(Object.fromEntries(commands().map((c) => [c.name(), c.options.map((o) => o.long).join(' ')]))).toEqual(
      BEFORE,
    );
  });

  it.each(Object.keys(BEFORE))('the help of %s lists every option it declares', (name) => {
    const cmd = command(name);
    const help = cmd.helpInformation();
    for (const o of cmd.options) expect(help).toContain(o.flags);
  });

  const having = (long: string) => Object.keys(BEFORE).filter((c) => BEFORE[c]!.split(' ').includes(long));

  it('--state-dir reads the same on every command that has it, with the same default', () => {
    expect(having('--state-dir')).toHaveLength(15);
    for (const c of having('--state-dir'))
      expect([c, option(c, '--state-dir')?.description, option(c, '--state-dir')?.defaultValue]).toEqual([
        c,
        'folder with the generated config, password file, logs and stack record',
        DEFAULT_STATE_DIR,
      ]);
  });

  it('--hash offers bcrypt and apr1, --bcrypt-cost says its range, wherever they are', () => {
    expect(having('--hash')).toEqual(['up', 'restart', 'user', 'config']);
    for (const c of having('--hash')) {
      expect([c, option(c, '--hash')?.argChoices]).toEqual([c, ['bcrypt', 'apr1']]);
      expect([c, option(c, '--bcrypt-cost')?.description]).toEqual([c, 'bcrypt cost factor (4-14)']);
    }
  });

  it('--server-name, --migrate and --password-stdin keep one help text; --host its default where it had one', () => {
    for (const c of ['up', 'restart', 'config', 'export'])
      expect([c, option(c, '--server-name')?.description]).toEqual([
        c,
        'public host names, comma-separated (nginx server_name; accepted by MLflow in Host and Origin)',
      ]);
    for (const c of ['up', 'restart'])
      expect(option(c, '--migrate')?.description).toBe(
        'let MLflow migrate a server database (PostgreSQL, MySQL) to its schema; a SQLite one is copied first, always',
      );
    for (const c of ['restart', 'user'])
      expect(option(c, '--password-stdin')?.description).toBe('read the password from standard input');
    expect(option('up', '--password-stdin')?.description).toMatch(/^read the password from standard input \(else/);
    for (const c of ['up', 'restart', 'config', 'doctor']) expect(option(c, '--host')?.defaultValue).toBe('127.0.0.1');
    expect(option('export', '--host')?.defaultValue).toBeUndefined();
  });
});

describe('what commander checks for the commands exits as when they checked it', () => {
  it.each([
    [['user', 'bogus'], 1, /argument 'action'.*Allowed choices are add, remove, list, passwd/],
    [['export', 'swarm'], 1, /argument 'target'.*Allowed choices are compose, kubernetes/],
    [['env', '--save', '--forget'], 1, /option '--save' cannot be used with option '--forget'/],
    [['env', '--shell', 'fish'], 2, /Allowed choices are bash, powershell, cmd/],
    [['up', '--hash', 'md5'], 2, /Allowed choices are bcrypt, apr1/],
    [['user'], 2, /missing required argument 'action'/],
  ])('%j: exit %i, one error line', async (argv, code, message) => {
    const { ctx, stderr } = context();
    expect(await main(argv, ctx)).toBe(code);
    const errors = stderr()
      .split('\n')
      .filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });
});
