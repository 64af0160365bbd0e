/**
 * The command-line program: parses argv with commander and runs one command. Returns the exit
 * code; only cli.ts exits the process. Commands load lazily: `--version`,
 * `down` and `status` load neither execa nor bcryptjs (test/e2e/lazy.test.ts).
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type { Context } from './context.js';
import { ExitCode, formatUserError, isUserError } from './errors.js';
import { createOutput, safeWrite } from './log.js';
import {
  DEFAULT_JOBS,
  DEFAULT_MLFLOW_WORKERS,
  DEFAULT_NGINX_WORKERS,
  DEFAULT_PORT,
  DEFAULT_STATE_DIR,
  DEFAULT_TIMEOUT_SECONDS,
} from './defaults.js';
import { binOnPath, selfCommand, stateDirArg } from './invocation.js';
import { getPlatform } from './system/platform.js';
import { addGrantCommands } from './commands/grant-program.js';

function version(): string {
  try {
    // This file is src/main.ts or dist/main.js: package.json is one folder up.
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

const MIGRATE_HELP =
  'let MLflow migrate a server database (PostgreSQL, MySQL) to its schema; a SQLite one is copied first, always';

function stateDirOption(cmd: Command): Command {
  return cmd.option(
    '--state-dir <dir>',
    'folder with the generated config, password file, logs and stack record',
    DEFAULT_STATE_DIR,
  );
}

function stackOptions(cmd: Command): Command {
  stateDirOption(cmd);
  return cmd
    .option('--backend-store-uri <uri|path>', "MLflow's tracking store (default: sqlite:///<cwd>/mlflow.db)")
    .option(
      '--registry-store-uri <uri|path>',
      'model registry store (default: the backend store URI; always passed explicitly)',
    )
    .option(
      '--artifacts-destination <uri|path>',
      'where MLflow stores artifacts it serves (default: <cwd>/mlartifacts)',
    )
    .option('--host <addr>', 'address nginx listens on', '127.0.0.1')
    .option('--port <n|auto>', 'port nginx listens on; auto picks a free one', String(DEFAULT_PORT))
    .option(
      '--server-name <names>',
      'public host names, comma-separated (nginx server_name; accepted by MLflow in Host and Origin)',
    )
    .option(
      '--tls',
      'serve HTTPS (plain HTTP on the port redirects) with a certificate from a local CA made on first use',
    )
    .option('--no-tls', 'plain HTTP (for restart: turn HTTPS off)')
    .option(
      '--tls-cert <file>',
      'serve HTTPS with this PEM certificate (its chain after it), e.g. made by mkcert; needs --tls-key',
    )
    .option('--tls-key <file>', 'the unencrypted PEM private key of --tls-cert')
    .option('--user <name>', 'user to create when missing', 'admin')
    .addOption(
      new Option(
        '--hash <scheme>',
        "password hash scheme (default: bcrypt where this platform's nginx verifies it, else apr1)",
      ).choices(['bcrypt', 'apr1']),
    )
    .option('--bcrypt-cost <n>', 'bcrypt cost factor (4-14)')
    .option(
      '--nginx-workers <n|auto>',
      `nginx worker processes (default: ${DEFAULT_NGINX_WORKERS}; 1 on Windows, where nginx serves with one)`,
    )
    .option('--workers <n>', "MLflow's uvicorn worker processes (1-32)", String(DEFAULT_MLFLOW_WORKERS))
    .option(
      '--jobs <on|off>',
      "MLflow's background jobs (GenAI scoring, evaluation, trace archival); on POSIX `on` puts MLflow on a loopback TCP port",
      DEFAULT_JOBS ? 'on' : 'off',
    )
    .option('--timeout <seconds>', 'how long to wait for readiness', String(DEFAULT_TIMEOUT_SECONDS))
    .option('--mlflow <path>', 'the mlflow executable or its virtual environment (env: MLFLOW_SECURE_MLFLOW)')
    .option('--nginx <path>', 'the nginx executable (env: MLFLOW_SECURE_NGINX)')
    .option(
      '--upstream <url>',
      'put the password in front of an MLflow you already run (http(s)://host:port); starts nginx only',
    )
    .option(
      '--permissions',
      "MLflow's own permissions for the signed-in user (without it every user is an MLflow admin)",
    )
    .option('--no-permissions', "for restart: turn MLflow's permissions off (every user an admin again)")
    .option('--default-permission <perm>', 'with --permissions: READ (default), EDIT, MANAGE or NO_PERMISSIONS');
}

export function createProgram(ctx: Context, setCode: (code: number) => void): Command {
  const program = new Command('mlflow-secure')
    .description('Run MLflow behind an nginx that asks for a password; stop it all with one command.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => safeWrite(process.stdout, s), writeErr: (s) => safeWrite(ctx.stderr, s) });
  const run = (fn: () => Promise<number>) => async () => setCode(await fn());
  // A typed --state-dir goes into every hint the command prints, so that each works as printed.
  program.hook('preAction', (_program, action) => {
    const dir: unknown = action.opts().stateDir;
    if (action.getOptionValueSource('stateDir') === 'cli' && typeof dir === 'string')
      ctx.out.useStateDirArg(stateDirArg(dir, ctx.platform));
  });

  stackOptions(
    program
      .command('up')
      .description('start MLflow and nginx, prove they are healthy and that auth holds, and supervise them')
      .option('-d, --detach', 'return once healthy, leaving the stack running')
      .option('-q, --quiet', 'no progress line while starting (the summary and errors are still printed)')
      .option(
        '--password-stdin',
        'read the password from standard input (else MLFLOW_SECURE_PASSWORD, a prompt, or a generated one)',
      )
      .option('--dry-run', 'print the plan and start nothing (same as `mlflow-secure config`)')
      .option('--json', 'with --dry-run: the plan as JSON')
      .option('--open', 'open the URL in the default browser once the stack is up')
      .option('--migrate', MIGRATE_HELP),
  ).action(function (this: Command) {
    const o = this.opts();
    return run(async () =>
      o.dryRun ? (await import('./commands/config.js')).config(o, ctx) : (await import('./commands/up.js')).up(o, ctx),
    )();
  });

  stackOptions(
    program
      .command('restart')
      .description('down, then up -d with the options the running stack was started with (options given here win)')
      .option('--foreground', 'supervise the new stack here, like up without -d')
      .option('--password-stdin', 'read the password from standard input')
      .option('-q, --quiet', 'no progress line while starting')
      .option('--migrate', MIGRATE_HELP),
  ).action(function (this: Command) {
    // Only what was typed overrides the record: commander's defaults must not.
    const typed = Object.fromEntries(
      Object.entries(this.opts()).filter(([key]) => this.getOptionValueSource(key) === 'cli'),
    );
    return run(async () => (await import('./commands/restart.js')).restart(typed, ctx))();
  });

  stateDirOption(
    program.command('down').description('stop the stack recorded in the state folder (idempotent)'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/down.js')).down(this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('status')
      .alias('ps')
      .description('is the stack running and healthy? (exit 0 yes, 3 no)')
      .option('--json', 'as JSON'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/status.js')).status(this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('logs')
      .description("show the stack's logs")
      .argument('[which]', 'mlflow, nginx (error log) or access (nginx access log); default: mlflow and nginx')
      .option('-f, --follow', 'keep printing new lines until Ctrl+C')
      .option('-n, --lines <n>', 'how many lines from the end', '50'),
  ).action(function (this: Command, which: string | undefined) {
    return run(async () => (await import('./commands/logs.js')).logs(which, this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('user')
      .description('manage the users of the password file (in effect at once, no restart)')
      .argument('<action>', 'add, remove, list or passwd')
      .argument('[name]', 'user name')
      .addOption(new Option('--hash <scheme>', 'hash scheme for add/passwd').choices(['bcrypt', 'apr1']))
      .option('--bcrypt-cost <n>', 'bcrypt cost factor (4-14)')
      .option('--password-stdin', 'read the password from standard input')
      .option('--json', 'list as JSON')
      .option('--admin', 'add: an MLflow admin (after `up --permissions`)')
      .option('--mlflow <path>', "the MLflow whose Python edits MLflow's user table (after `up --permissions`)"),
  ).action(function (this: Command, action: string, name: string | undefined) {
    return run(async () => (await import('./commands/user.js')).user(action, name, this.opts(), ctx))();
  });

  addGrantCommands(program, ctx, setCode);

  stackOptions(
    program.command('config').description('print the full plan without starting anything').option('--json', 'as JSON'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/config.js')).config(this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('env')
      .description(
        'print lines that set MLFLOW_TRACKING_URI, _USERNAME and _PASSWORD (with HTTPS also _SERVER_CERT_PATH) for a shell (--save: keep them in a file)',
      )
      .addOption(
        new Option('--shell <shell>', 'bash, powershell or cmd (default: powershell on Windows, else bash)').choices([
          'bash',
          'powershell',
          'cmd',
        ]),
      )
      .option('--public', 'use the first --server-name URL instead of the local one')
      .option(
        '--save',
        "write user and password to ~/.mlflow/credentials (read by MLflow's Python client) and print only MLFLOW_TRACKING_URI",
      )
      .option('--dotenv <file>', 'with --save or --forget: that .env file instead (URI, user and password)')
      .option('--forget', 'remove what --save wrote'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/env.js')).env(this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('open')
      .description("open the running stack's URL in the default browser")
      .option('--public', 'the first --server-name URL instead of the local one'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/open.js')).open(this.opts(), ctx))();
  });

  stateDirOption(
    program
      .command('doctor')
      .description(
        'check MLflow, nginx (version, hash schemes), the port, the state folder and the stores; say how to fix problems',
      )
      .option('--mlflow <path>', 'the mlflow executable')
      .option('--nginx <path>', 'the nginx executable')
      .option('--host <addr>', 'address to check', '127.0.0.1')
      .option('--port <n>', 'port to check', String(DEFAULT_PORT))
      .option('--backend-store-uri <uri|path>', 'also check this store: its driver and a connection')
      .option('--registry-store-uri <uri|path>', 'also check this store')
      .option('--artifacts-destination <uri|path>', 'also check this destination (s3://: boto3 and the bucket)')
      .option('--json', 'as JSON'),
  ).action(function (this: Command) {
    return run(async () => (await import('./commands/doctor.js')).doctor(this.opts(), ctx))();
  });

  program
    .command('setup')
    .description(
      "install what up needs: the tested MLflow into mlflow-secure's data folder, and nginx (or the command for it)",
    )
    .option('--check', 'say what would be done, change nothing')
    .option('--force', 'rebuild the MLflow virtual environment from nothing')
    .option(
      '--python <path>',
      'the Python (3.10+) to build it with (default: py -3 then python on Windows, else python3 then python)',
    )
    .option(
      '--with <extras...>',
      'also install drivers: postgres (psycopg, PostgreSQL backend store), s3 (boto3, S3 artifacts destination)',
    )
    .action(function (this: Command) {
      return run(async () => (await import('./commands/setup.js')).setup(this.opts(), ctx))();
    });

  stateDirOption(
    program
      .command('export')
      .description(
        'write the same stack for an engine: a docker compose project or Kubernetes manifests (nginx, MLflow, PostgreSQL, optional MinIO)',
      )
      .argument('<target>', 'compose or kubernetes')
      .option('--out <dir>', 'folder to write (default: ./mlflow-secure-<target>)')
      .option('--force', 'write into a non-empty --out, replacing the files an export writes')
      .option('--s3', 'keep artifacts in a MinIO bucket instead of a volume')
      .option('--host <addr>', 'compose: host address the port is published on (default: 127.0.0.1)')
      .option(
        '--port <n>',
        'compose: published port; kubernetes: port of the Service mlflow-secure',
        String(DEFAULT_PORT),
      )
      .option(
        '--server-name <names>',
        'public host names, comma-separated (nginx server_name; accepted by MLflow in Host and Origin)',
      )
      .option('--nginx-workers <n|auto>', 'nginx worker processes', String(DEFAULT_NGINX_WORKERS))
      .option('--mlflow-workers <n>', 'MLflow server worker processes', '1'),
  ).action(function (this: Command, target: string) {
    return run(async () => (await import('./commands/export.js')).exportStack(target, this.opts(), ctx))();
  });

  return program;
}

export function defaultContext(): Context {
  const cwd = process.cwd();
  const env = process.env;
  const platform = getPlatform();
  const self = () => selfCommand({ script: process.argv[1], env, cwd, platform, onPath: binOnPath(env, platform) });
  return {
    cwd,
    env,
    platform,
    out: createOutput(process.stdout, process.stderr, { self }),
    stdin: process.stdin,
    stderr: process.stderr,
  };
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  let code: number = ExitCode.ok;
  const program = createProgram(ctx, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (isUserError(error)) {
      ctx.out.error(formatUserError(error));
      if (error.details) ctx.out.note(error.details);
      return error.exitCode;
    }
    const e = error as Error;
    ctx.out.error(`internal error: ${e.stack ?? String(e)}`);
    ctx.out.note('This is a bug in mlflow-secure; please report it with the lines above.');
    return ExitCode.bug;
  }
}
