/**
 * The command-line program: parses argv with commander and runs one command. Returns the exit
 * code; only cli.ts exits the process. Commands load lazily: `--version`,
 * `down` and `status` load neither execa nor bcryptjs (test/e2e/lazy.test.ts).
 */
import { Argument, Command, CommanderError, Option, type OptionValues } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import type { SetupOptions } from './commands/setup.js';
import type { GrantOptions } from './commands/grant.js';
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
import { SHELLS } from './credentials/shell.js';
import { getPlatform } from './system/platform.js';

function version(): string {
  try {
    // This file is src/main.ts or dist/main.js: package.json is one folder up.
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

const HASH_SCHEMES = ['bcrypt', 'apr1'] as const;
const USER_ACTIONS = ['add', 'remove', 'list', 'passwd'] as const;
const TOKEN_ACTIONS = ['create', 'list', 'revoke'] as const;
const EXPORT_TARGETS = ['compose', 'kubernetes'] as const;
const MIGRATE_HELP =
  'let MLflow migrate a server database (PostgreSQL, MySQL) to its schema; a SQLite one is copied first, always';
const SERVER_NAME_HELP =
  'public host names, comma-separated (nginx server_name; accepted by MLflow in Host and Origin)';

/** Options more than one command takes, each with its help, choices or default in one place. */
const option = {
  stateDir: () =>
    new Option('--state-dir <dir>', 'folder with the generated config, password file, logs and stack record').default(
      DEFAULT_STATE_DIR,
    ),
  host: (description: string) => new Option('--host <addr>', description),
  serverName: () => new Option('--server-name <names>', SERVER_NAME_HELP),
  hash: (description: string) => new Option('--hash <scheme>', description).choices(HASH_SCHEMES),
  bcryptCost: () => new Option('--bcrypt-cost <n>', 'bcrypt cost factor (4-14)'),
  passwordStdin: (description = 'read the password from standard input') => new Option('--password-stdin', description),
  migrate: () => new Option('--migrate', MIGRATE_HELP),
  json: (description = 'as JSON') => new Option('--json', description),
};

/** What `up`, `restart` and `config` share: where the stack's parts are, how it listens, who may sign in. */
function stackOptions<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(
  cmd: Command<Args, Opts, Globals>,
) {
  return cmd
    .addOption(option.stateDir())
    .option('--backend-store-uri <uri|path>', "MLflow's tracking store (default: sqlite:///<cwd>/mlflow.db)")
    .option(
      '--registry-store-uri <uri|path>',
      'model registry store (default: the backend store URI; always passed explicitly)',
    )
    .option(
      '--artifacts-destination <uri|path>',
      'where MLflow stores artifacts it serves (default: <cwd>/mlartifacts)',
    )
    .addOption(option.host('address nginx listens on').default('127.0.0.1'))
    .option('--port <n|auto>', 'port nginx listens on; auto picks a free one', String(DEFAULT_PORT))
    .addOption(option.serverName())
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
    .addOption(option.hash("password hash scheme (default: bcrypt where this platform's nginx verifies it, else apr1)"))
    .addOption(option.bcryptCost())
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

/** A command's handler: its arguments, its options, then the context. */
type Handler<Args extends unknown[]> = (...args: [...Args, Context]) => Promise<number>;

export function createProgram(ctx: Context, setCode: (code: number) => void) {
  /**
   * The action of a command whose module loads only when it runs: `--version`, `status` and
   * `down` load neither execa nor bcryptjs (test/e2e/lazy.test.ts). commander hands the action
   * the arguments, the options and itself; the handler gets the arguments, the options and ctx.
   */
  const lazy =
    <Args extends unknown[]>(load: () => Promise<Handler<Args>>) =>
    async (...given: [...Args, Command<unknown[]>]) => {
      const args = given.slice(0, -1) as Args;
      setCode(await (await load())(...args, ctx));
    };

  const program = new Command('mlflow-secure')
    .description('Run MLflow behind an nginx that asks for a password; stop it all with one command.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => safeWrite(process.stdout, s), writeErr: (s) => safeWrite(ctx.stderr, s) });
  // A typed --state-dir goes into every hint the command prints, so that each works as printed.
  program.hook('preAction', (_program, action) => {
    const dir: unknown = action.opts().stateDir;
    if (action.getOptionValueSource('stateDir') === 'cli' && typeof dir === 'string')
      ctx.out.useStateDirArg(stateDirArg(dir, ctx.platform));
  });

  const up = lazy(async () => (await import('./commands/up.js')).up);
  const config = lazy(async () => (await import('./commands/config.js')).config);
  stackOptions(
    program
      .command('up')
      .description('start MLflow and nginx, prove they are healthy and that auth holds, and supervise them')
      .option('-d, --detach', 'return once healthy, leaving the stack running')
      .option('-q, --quiet', 'no progress line while starting (the summary and errors are still printed)')
      .addOption(
        option.passwordStdin(
          'read the password from standard input (else MLFLOW_SECURE_PASSWORD, a prompt, or a generated one)',
        ),
      )
      .option('--dry-run', 'print the plan and start nothing (same as `mlflow-secure config`)')
      .addOption(option.json('with --dry-run: the plan as JSON'))
      .option('--open', 'open the URL in the default browser once the stack is up')
      .addOption(option.migrate()),
  ).action((o, cmd) => (o.dryRun ? config(o, cmd) : up(o, cmd)));

  const restart = lazy(async () => (await import('./commands/restart.js')).restart);
  stackOptions(
    program
      .command('restart')
      .description('down, then up -d with the options the running stack was started with (options given here win)')
      .option('--foreground', 'supervise the new stack here, like up without -d')
      .addOption(option.passwordStdin())
      .option('-q, --quiet', 'no progress line while starting')
      .addOption(option.migrate()),
  ).action((o, cmd) => {
    // Only what was typed overrides the record: commander's defaults must not.
    const typed: Partial<typeof o> = Object.fromEntries(
      Object.entries(o).filter(([key]) => cmd.getOptionValueSource(key) === 'cli'),
    );
    return restart(typed, cmd);
  });

  program
    .command('down')
    .description('stop the stack recorded in the state folder (idempotent)')
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/down.js')).down));

  program
    .command('status')
    .alias('ps')
    .description('is the stack running and healthy? (exit 0 yes, 3 no)')
    .addOption(option.json())
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/status.js')).status));

  program
    .command('logs')
    .description("show the stack's logs")
    .argument('[which]', 'mlflow, nginx (error log) or access (nginx access log); default: mlflow and nginx')
    .option('-f, --follow', 'keep printing new lines until Ctrl+C')
    .option('-n, --lines <n>', 'how many lines from the end', '50')
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/logs.js')).logs));

  program
    .command('user')
    .description('manage the users of the password file (in effect at once, no restart)')
    .addArgument(new Argument('<action>', 'what to do').choices(USER_ACTIONS))
    .argument('[name]', 'user name')
    .addOption(option.hash('hash scheme for add/passwd'))
    .addOption(option.bcryptCost())
    .addOption(option.passwordStdin())
    .addOption(option.json('list as JSON'))
    .option('--admin', 'add: an MLflow admin (after `up --permissions`)')
    .option('--mlflow <path>', "the MLflow whose Python edits MLflow's user table (after `up --permissions`)")
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/user.js')).user));

  const GRANT_MLFLOW_HELP = "the MLflow whose Python edits MLflow's permissions (the one `up --permissions` runs)";
  const LOOKUP_HELP = "where an experiment name is looked up (default: the running stack's)";
  const grantModule = () => import('./commands/grant.js');
  program
    .command('grant')
    .description("give a user MLflow's permission on an experiment or registered model (after `up --permissions`)")
    .argument('<user>', 'a user of the password file')
    .argument('<kind>', 'experiment or registered-model')
    .argument('<resource>', "the experiment's name or id, or the registered model's name")
    .argument('<permission>', 'READ, EDIT, MANAGE or NO_PERMISSIONS')
    .option('--backend-store-uri <uri|path>', LOOKUP_HELP)
    .addOption(option.stateDir())
    .option('--mlflow <path>', GRANT_MLFLOW_HELP)
    .action(
      lazy(async () => {
        const { grant } = await grantModule();
        return (user: string, kind: string, resource: string, permission: string, o: GrantOptions, c: Context) =>
          grant('grant', { user, kind, resource, permission }, o, c);
      }),
    );
  program
    .command('revoke')
    .description("take back a user's own permission on an experiment or registered model (the default applies)")
    .argument('<user>', 'a user of the password file')
    .argument('<kind>', 'experiment or registered-model')
    .argument('<resource>', "the experiment's name or id, or the registered model's name")
    .option('--backend-store-uri <uri|path>', LOOKUP_HELP)
    .addOption(option.stateDir())
    .option('--mlflow <path>', GRANT_MLFLOW_HELP)
    .action(
      lazy(async () => {
        const { grant } = await grantModule();
        return (user: string, kind: string, resource: string, o: GrantOptions, c: Context) =>
          grant('revoke', { user, kind, resource }, o, c);
      }),
    );
  program
    .command('grants')
    .description("list MLflow's per-resource permissions (all users, or one)")
    .argument('[user]', 'only this user')
    .addOption(option.json())
    .addOption(option.stateDir())
    .option('--mlflow <path>', GRANT_MLFLOW_HELP)
    .action(lazy(async () => (await grantModule()).grants));

  program
    .command('token')
    .description('tokens for scripts and CI: MLFLOW_TRACKING_TOKEN (after `up --permissions`)')
    .addArgument(new Argument('<action>', 'what to do').choices(TOKEN_ACTIONS))
    .argument('[name]', 'token name')
    .option('--user <user>', 'create: the user the token acts as (default: the only user)')
    .option('--expires <time>', 'create: 30m, 12h, 30d, ... or never (default 90d)')
    .option('--read-only', 'create: only reads (GET, and the searches MLflow does by POST)')
    .addOption(option.json('list as JSON'))
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/token.js')).token));

  stackOptions(
    program.command('config').description('print the full plan without starting anything').addOption(option.json()),
  ).action(config);

  program
    .command('env')
    .description(
      'print lines that set MLFLOW_TRACKING_URI, _USERNAME and _PASSWORD (with HTTPS also _SERVER_CERT_PATH) for a shell (--save: keep them in a file)',
    )
    .addOption(
      new Option('--shell <shell>', 'bash, powershell or cmd (default: powershell on Windows, else bash)').choices(
        SHELLS,
      ),
    )
    .option('--public', 'use the first --server-name URL instead of the local one')
    .addOption(
      new Option(
        '--save',
        "write user and password to ~/.mlflow/credentials (read by MLflow's Python client) and print only MLFLOW_TRACKING_URI",
      ).conflicts('forget'),
    )
    .option('--dotenv <file>', 'with --save or --forget: that .env file instead (URI, user and password)')
    .option('--forget', 'remove what --save wrote')
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/env.js')).env));

  program
    .command('open')
    .description("open the running stack's URL in the default browser")
    .option('--public', 'the first --server-name URL instead of the local one')
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/open.js')).open));

  program
    .command('doctor')
    .description(
      'check MLflow, nginx (version, hash schemes), the port, the state folder and the stores; say how to fix problems',
    )
    .option('--mlflow <path>', 'the mlflow executable')
    .option('--nginx <path>', 'the nginx executable')
    .addOption(option.host('address to check').default('127.0.0.1'))
    .option('--port <n>', 'port to check', String(DEFAULT_PORT))
    .option('--backend-store-uri <uri|path>', 'also check this store: its driver and a connection')
    .option('--registry-store-uri <uri|path>', 'also check this store')
    .option('--artifacts-destination <uri|path>', 'also check this destination (s3://: boto3 and the bucket)')
    .addOption(option.json())
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/doctor.js')).doctor));

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
    // setup's third parameter is for tests (what it runs, who we are): the CLI passes none.
    .action(lazy<[SetupOptions]>(async () => (await import('./commands/setup.js')).setup));

  program
    .command('export')
    .description(
      'write the same stack for an engine: a docker compose project or Kubernetes manifests (nginx, MLflow, PostgreSQL, optional MinIO)',
    )
    .addArgument(new Argument('<target>', 'the engine').choices(EXPORT_TARGETS))
    .option('--out <dir>', 'folder to write (default: ./mlflow-secure-<target>)')
    .option('--force', 'write into a non-empty --out, replacing the files an export writes')
    .option('--s3', 'keep artifacts in a MinIO bucket instead of a volume')
    .addOption(option.host('compose: host address the port is published on (default: 127.0.0.1)'))
    .option(
      '--port <n>',
      'compose: published port; kubernetes: port of the Service mlflow-secure',
      String(DEFAULT_PORT),
    )
    .addOption(option.serverName())
    .option('--nginx-workers <n|auto>', 'nginx worker processes', String(DEFAULT_NGINX_WORKERS))
    .option('--mlflow-workers <n>', 'MLflow server worker processes', '1')
    .addOption(option.stateDir())
    .action(lazy(async () => (await import('./commands/export.js')).exportStack));

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
    signals: process,
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
    if (error instanceof CommanderError) return commanderExitCode(error);
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

/**
 * commander's errors are usage errors (exit 2), but for two it checks for the commands: an
 * argument outside its choices (`user`, `export`) and options that exclude each other
 * (`env --save --forget`). Those are bad values, exit 1, as when the commands checked them.
 */
function commanderExitCode(error: CommanderError): number {
  if (error.exitCode === 0) return ExitCode.ok;
  const badArgument = error.code === 'commander.invalidArgument' && error.message.startsWith('error: command-argument');
  return badArgument || error.code === 'commander.conflictingOption' ? ExitCode.userError : ExitCode.usage;
}
