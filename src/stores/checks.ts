/**
 * Checks of the stores MLflow will use, before it starts: a database backend (PostgreSQL,
 * MySQL, SQL Server) must have its driver in MLflow's Python and must accept a connection; an
 * S3 artifacts destination needs boto3 and a bucket that answers. Without them MLflow either
 * exits with a traceback (a missing driver), retries for minutes (a refused login: MLflow
 * 3.17 logs "SQLAlchemy engine could not be created ... will be retried"), or starts and fails
 * at the first artifact upload (a missing bucket). Here: which checks a set of stores needs,
 * what each answer of their Python (python/store_check_*.py) means, as one line. Pure.
 */
import { z } from 'zod';
import { StackError, UserError } from '../errors.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { maskUriCredentials } from './secrets.js';
import type { Settings } from '../stack/settings.js';
import { quoteBash } from '../credentials/shell.js';

/** The store URI reaches the check's Python through its environment: argv is readable by every local user. */
export const CHECK_URI_ENV = 'MLFLOW_SECURE_CHECK_URI';

export type StoreRole = 'backend store' | 'registry store' | 'backend and registry store' | 'artifacts destination';

export interface StoreCheck {
  kind: 'sql' | 's3';
  role: StoreRole;
  /** The flag that sets it, for hints. */
  flag: string;
  uri: string;
}

const SQL_SCHEMES = /^(postgresql|mysql|mariadb|mssql)(\+[a-z0-9_]+)?:\/\//i;

/** What `up` and `doctor` check for these settings: nothing at all for SQLite, files and folders. */
export function storeChecks(settings: Pick<Settings, 'backend' | 'registry' | 'artifacts'>): StoreCheck[] {
  const checks: StoreCheck[] = [];
  const { backend, registry, artifacts } = settings;
  const same = backend.uri === registry.uri;
  if (SQL_SCHEMES.test(backend.uri))
    checks.push({
      kind: 'sql',
      role: same ? 'backend and registry store' : 'backend store',
      flag: '--backend-store-uri',
      uri: backend.uri,
    });
  if (!same && SQL_SCHEMES.test(registry.uri))
    checks.push({ kind: 'sql', role: 'registry store', flag: '--registry-store-uri', uri: registry.uri });
  if (/^s3:\/\//i.test(artifacts.uri))
    checks.push({ kind: 's3', role: 'artifacts destination', flag: '--artifacts-destination', uri: artifacts.uri });
  return checks;
}

/**
 * The Python that runs MLflow, as far as it can be known without reading a script: `py -m
 * mlflow` runs in `py`; a `mlflow` executable (its links resolved by the caller) is a venv's
 * or an install's entry point, with its Python beside it. Candidates in order; the caller
 * takes the first that exists.
 */
export function pythonCandidatesFor(mlflow: CommandSpec, platform: Platform): CommandSpec[] {
  const n = mlflow.args.length;
  if (n >= 2 && mlflow.args[n - 2] === '-m' && mlflow.args[n - 1] === 'mlflow')
    return [{ file: mlflow.file, args: mlflow.args.slice(0, -2) }];
  const dir = platform.path.dirname(mlflow.file);
  const names = platform.isWindows ? ['python.exe'] : ['python', 'python3'];
  return names.map((name) => ({ file: platform.path.join(dir, name), args: [] }));
}

/** Python module -> the pip requirement that brings it. */
const PACKAGE_OF: Record<string, string> = {
  psycopg: 'psycopg[binary]',
  psycopg_binary: 'psycopg[binary]',
  psycopg2: 'psycopg2-binary',
  pg8000: 'pg8000',
  asyncpg: 'asyncpg',
  MySQLdb: 'mysqlclient',
  pymysql: 'PyMySQL',
  mysql: 'mysql-connector-python',
  mariadb: 'mariadb',
  pyodbc: 'pyodbc',
  pymssql: 'pymssql',
  boto3: 'boto3',
  botocore: 'boto3',
};

/** The requirement for a dialect's driver when Python named no module (an ImportError inside it). */
export function driverPackageFor(uri: string): string | undefined {
  const m = SQL_SCHEMES.exec(uri);
  if (!m) return /^s3:/i.test(uri) ? 'boto3' : undefined;
  const dialect = m[1]!.toLowerCase();
  const driver = m[2]?.slice(1).toLowerCase();
  // SQLAlchemy 2.1's default drivers: postgresql -> psycopg (3), mysql/mariadb -> mysqlclient,
  // mssql -> pyodbc (https://docs.sqlalchemy.org/en/21/changelog/migration_21.html).
  const byDriver: Record<string, string> = {
    psycopg: 'psycopg',
    psycopg2: 'psycopg2',
    pg8000: 'pg8000',
    asyncpg: 'asyncpg',
    mysqldb: 'MySQLdb',
    pymysql: 'pymysql',
    mysqlconnector: 'mysql',
    mariadbconnector: 'mariadb',
    pyodbc: 'pyodbc',
    pymssql: 'pymssql',
  };
  const defaults: Record<string, string> = {
    postgresql: 'psycopg',
    mysql: 'MySQLdb',
    mariadb: 'MySQLdb',
    mssql: 'pyodbc',
  };
  const module = driver ? byDriver[driver] : defaults[dialect];
  return module ? PACKAGE_OF[module] : undefined;
}

/** A command line the user can paste: `<python> -m pip install "<requirement>"`, quoted for the platform's shell. */
export function pipInstallCommand(python: CommandSpec, requirement: string, platform: Platform): string {
  const plain = /^[\w@%+=:,./\\-]+$/;
  const quoteFile = (f: string) => (plain.test(f) ? f : platform.isWindows ? `& "${f}"` : quoteBash(f));
  // Double quotes keep zsh from globbing [binary] and are read the same by bash, PowerShell and cmd.
  const req = plain.test(requirement) ? requirement : `"${requirement}"`;
  return [quoteFile(python.file), ...python.args, '-m', 'pip', 'install', req].join(' ');
}

/** A field the answer may lack, or give in another type: then taken as absent. */
const optionalText = z.string().optional().catch(undefined);
const optionalKind = z
  .enum(['missing-module', 'bad-uri', 'connect', 'no-credentials', 'unreachable', 'client-error', 'other'])
  .optional()
  .catch(undefined);

/**
 * The check's answer (its last JSON line), as python/store_check_sql.py and store_check_s3.py
 * print it: a boolean `ok` is all it must have.
 */
export const CheckAnswer = z.object({
  ok: z.boolean(),
  kind: optionalKind,
  module: optionalText,
  type: optionalText,
  code: optionalText,
  message: optionalText,
  endpoint: optionalText,
  driver: optionalText,
});
export type CheckAnswer = z.infer<typeof CheckAnswer>;

/** The last line of `stdout` that is a JSON object with a boolean `ok`; anything else is no answer. */
export function parseCheckAnswer(stdout: string): CheckAnswer | undefined {
  for (const line of stdout.split(/\r?\n/).reverse()) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const r = CheckAnswer.safeParse(JSON.parse(line));
      return r.success ? r.data : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export type DbProblem = 'refused' | 'unknown-host' | 'timeout' | 'auth' | 'no-database' | 'no-privilege' | 'no-role';

/**
 * What a database error says, from the texts PostgreSQL (libpq), MySQL and SQL Server drivers
 * print. Measured with psycopg 3.3 against PostgreSQL 15: `... failed: Connection refused`,
 * `failed to resolve host 'x'`, `FATAL:  password authentication failed for user "u"`,
 * `FATAL:  database "x" does not exist`, and for MLflow's migrations as a user who may not
 * create tables `permission denied for schema public`.
 */
export function classifyDbError(text: string): { problem: DbProblem; detail: string } | undefined {
  const pick = (re: RegExp) => re.exec(text)?.[0];
  let m: string | undefined;
  if (
    (m = pick(
      /password authentication failed for user "[^"]*"|Access denied for user '[^']*'@'[^']*'|Login failed for user '[^']*'/,
    ))
  )
    return { problem: 'auth', detail: m };
  if ((m = pick(/role "[^"]*" does not exist/))) return { problem: 'no-role', detail: m };
  if ((m = pick(/database "[^"]*" does not exist|Unknown database '[^']*'|Cannot open database "[^"]*"/)))
    return { problem: 'no-database', detail: m };
  if ((m = pick(/permission denied for (schema|database|table|relation) \S+|CREATE command denied to user '[^']*'/)))
    return { problem: 'no-privilege', detail: m };
  if (
    (m = pick(
      /failed to resolve host '[^']*'|could not translate host name "[^"]*" to address|Unknown (MySQL )?server host '[^']*'|Name or service not known|nodename nor servname provided/,
    ))
  ) {
    return { problem: 'unknown-host', detail: m };
  }
  if ((m = pick(/Connection refused|Can't connect to (MySQL|MariaDB) server on '[^']*'|actively refused/i)))
    return { problem: 'refused', detail: m };
  if ((m = pick(/timeout expired|timed out|Connection timed out|No route to host|Network is unreachable/i)))
    return { problem: 'timeout', detail: m };
  return undefined;
}

/** `postgresql://u:p@host:5432/db?x` -> what the hints name: host:port, the database, the user. */
export function describeDbUri(uri: string): { host?: string; database?: string; user?: string } {
  const m = /^[^:]+:\/\/(?:([^:@/]*)(?::[^@]*)?@)?([^/?#]*)(?:\/([^?#]*))?/.exec(uri);
  if (!m) return {};
  const decode = (s: string | undefined) => {
    if (!s) return undefined;
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { user: decode(m[1]), host: m[2] || undefined, database: decode(m[3]) };
}

export interface Explained {
  message: string;
  hint: string;
}

/** The hint part for a missing Python package: the exact pip command, and `setup --with` where that venv is setup's. */
function installHint(
  python: CommandSpec | undefined,
  requirement: string,
  platform: Platform,
  setupExtra: string | undefined,
): string {
  if (!python) return `Install the Python package ${requirement} where MLflow runs`;
  const pip = pipInstallCommand(python, requirement, platform);
  return setupExtra
    ? `Install it: ${pip} (or: mlflow-secure setup --with ${setupExtra})`
    : `Install it into MLflow's environment: ${pip}`;
}

export interface ExplainContext {
  platform: Platform;
  /** MLflow's Python, when found. */
  python?: CommandSpec;
  /** The venv in use is the one `mlflow-secure setup` made: its hints may name `setup --with`. */
  setupVenv?: boolean;
  /** MLFLOW_S3_ENDPOINT_URL as set, for the S3 hints. */
  s3Endpoint?: string;
}

function extraFor(requirement: string): string | undefined {
  if (requirement === 'psycopg[binary]') return 'postgres';
  if (requirement === 'boto3') return 's3';
  return undefined;
}

function missingModule(check: StoreCheck, answer: CheckAnswer, c: ExplainContext): Explained {
  const shown = maskUriCredentials(check.uri);
  const where = c.python ? `MLflow's Python (${[c.python.file, ...c.python.args].join(' ')})` : "MLflow's Python";
  const module = answer.module ?? '';
  if (module === 'sqlalchemy') {
    return {
      message: `${where} cannot import SQLAlchemy, which MLflow needs for the ${check.role} ${shown}`,
      hint: 'Reinstall MLflow (mlflow-secure setup --force), or pass --mlflow <path> of a working one',
    };
  }
  const requirement = PACKAGE_OF[module] ?? driverPackageFor(check.uri);
  const what = module ? `the Python module ${module}` : `its driver (${answer.message ?? 'ImportError'})`;
  if (module === 'MySQLdb') {
    const pymysql = c.python ? pipInstallCommand(c.python, 'PyMySQL', c.platform) : 'pip install PyMySQL';
    return {
      message: `the ${check.role} ${shown} needs ${what} (package mysqlclient), which ${where} does not have`,
      hint: `Install mysqlclient (it builds against the MySQL client library), or use a mysql+pymysql:// URI with ${pymysql}`,
    };
  }
  const needs = requirement ? `${what} (package ${requirement})` : what;
  return {
    message: `the ${check.role} ${shown} needs ${needs}, which ${where} does not have`,
    hint: requirement
      ? installHint(c.python, requirement, c.platform, c.setupVenv ? extraFor(requirement) : undefined)
      : `Install the driver for ${check.uri.split(':')[0]} into MLflow's environment`,
  };
}

/** A database problem (from the check, or from MLflow's own log) as one line with what to do. */
export function explainDbProblem(
  check: Pick<StoreCheck, 'role' | 'flag' | 'uri'>,
  problem: DbProblem,
  detail: string,
): Explained {
  const shown = maskUriCredentials(check.uri);
  const { host, database, user } = describeDbUri(check.uri);
  const of = `the ${check.role} ${shown}`;
  switch (problem) {
    case 'refused':
      return {
        message: `cannot reach the database server of ${of} (${detail})`,
        hint: `Start the database server, or fix the host and port${host ? ` (${host})` : ''} in ${check.flag}`,
      };
    case 'unknown-host':
      return {
        message: `cannot find the database host of ${of} (${detail})`,
        hint: `Fix the host name in ${check.flag}`,
      };
    case 'timeout':
      return {
        message: `the database server of ${of} did not answer (${detail})`,
        hint: `Check that ${host ?? 'the host'} is reachable from here (a firewall?) and that the server runs`,
      };
    case 'auth':
      return {
        message: `the database server refused the login for ${of} (${detail})`,
        hint: `Fix the user name or password in ${check.flag} (or the server's authentication rules, pg_hba.conf for PostgreSQL)`,
      };
    case 'no-role':
      return {
        message: `the database user ${user ? `'${user}' ` : ''}of ${of} does not exist (${detail})`,
        hint: `Create it (PostgreSQL: CREATE ROLE ${user ?? '<user>'} LOGIN PASSWORD '...'), or fix the user name in ${check.flag}`,
      };
    case 'no-database':
      return {
        message: `the database ${database ? `'${database}' ` : ''}of ${of} does not exist (${detail})`,
        hint: `Create it (PostgreSQL: CREATE DATABASE ${database ?? '<name>'} OWNER ${user ?? '<user>'};), or fix the database name in ${check.flag}`,
      };
    case 'no-privilege':
      return {
        message: `the database user ${user ? `'${user}' ` : ''}of ${of} may not create MLflow's tables (${detail})`,
        hint: `Make ${user ?? 'that user'} the database's owner (PostgreSQL: ALTER DATABASE ${database ?? '<name>'} OWNER TO ${user ?? '<user>'}; and GRANT ALL ON SCHEMA public TO ${user ?? '<user>'};), or use a user that may`,
      };
  }
}

/** Why a SQL check failed, or undefined when it passed. */
export function explainSqlAnswer(check: StoreCheck, answer: CheckAnswer, c: ExplainContext): Explained | undefined {
  if (answer.ok) return undefined;
  if (answer.kind === 'missing-module') return missingModule(check, answer, c);
  const text = answer.message ?? '';
  const shown = maskUriCredentials(check.uri);
  if (answer.kind === 'bad-uri') {
    const line = firstLine(text);
    return {
      message: `${check.flag} ${shown} is not a database URI SQLAlchemy can use (${answer.type ?? 'error'}: ${line})`,
      hint: 'Use e.g. postgresql://user:password@host:5432/database',
    };
  }
  const known = classifyDbError(text);
  if (known) return explainDbProblem(check, known.problem, known.detail);
  return {
    message: `cannot connect to the ${check.role} ${shown} (${answer.type ?? 'error'}: ${firstLine(text)})`,
    hint: `Check the server and ${check.flag}`,
  };
}

/** Why an S3 check failed, or undefined when it passed. */
export function explainS3Answer(check: StoreCheck, answer: CheckAnswer, c: ExplainContext): Explained | undefined {
  if (answer.ok) return undefined;
  if (answer.kind === 'missing-module') return missingModule(check, answer, c);
  const bucket = /^s3:\/\/([^/]*)/i.exec(check.uri)?.[1] ?? '';
  const endpoint = answer.endpoint ?? c.s3Endpoint ?? 'AWS S3';
  const via = c.s3Endpoint ? 'MLFLOW_S3_ENDPOINT_URL' : 'no MLFLOW_S3_ENDPOINT_URL, so AWS itself';
  const of = `the artifacts destination ${check.uri}`;
  const keys = 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment up runs in';
  switch (answer.kind) {
    case 'no-credentials':
      return { message: `no S3 credentials were found for ${of}`, hint: `Set ${keys}` };
    case 'unreachable':
      return {
        message: `cannot reach the S3 endpoint ${endpoint} (${via}) for ${of}: ${firstLine(answer.message ?? '')}`,
        hint: 'Start the S3 service, or fix MLFLOW_S3_ENDPOINT_URL',
      };
    case 'client-error': {
      const code = answer.code ?? '';
      const said = `${code}${answer.message ? `: ${firstLine(answer.message)}` : ''}`;
      if (code === 'NoSuchBucket' || code === '404') {
        return {
          message: `the bucket '${bucket}' of ${of} does not exist at ${endpoint}`,
          hint: `Create it (aws s3 mb s3://${bucket}${c.s3Endpoint ? ` --endpoint-url ${c.s3Endpoint}` : ''}), or fix the bucket in --artifacts-destination`,
        };
      }
      if (
        [
          'InvalidAccessKeyId',
          'SignatureDoesNotMatch',
          'InvalidToken',
          'ExpiredToken',
          'InvalidClientTokenId',
          'AuthorizationHeaderMalformed',
        ].includes(code)
      ) {
        return {
          message: `the S3 service at ${endpoint} refused the credentials for ${of} (${said})`,
          hint: `Fix ${keys}`,
        };
      }
      if (code === 'AccessDenied' || code === '403' || code === 'AllAccessDisabled') {
        return {
          message: `the S3 service at ${endpoint} denies these credentials access to the bucket '${bucket}' of ${of} (${said})`,
          hint: `Grant them s3:ListBucket, s3:GetObject and s3:PutObject on the bucket, or use other keys (${keys})`,
        };
      }
      if (
        code === 'PermanentRedirect' ||
        code === 'AuthorizationHeaderMalformed' ||
        code === 'IllegalLocationConstraintException'
      ) {
        return {
          message: `the bucket '${bucket}' of ${of} is in another region (${said})`,
          hint: "Set AWS_DEFAULT_REGION to the bucket's region",
        };
      }
      return {
        message: `the S3 service at ${endpoint} refused to list ${of} (${said})`,
        hint: 'Check the bucket, MLFLOW_S3_ENDPOINT_URL and the AWS_* credentials',
      };
    }
    default:
      return {
        message: `cannot use ${of} (${answer.type ?? 'error'}: ${firstLine(answer.message ?? '')})`,
        hint: 'Check the bucket, MLFLOW_S3_ENDPOINT_URL and the AWS_* credentials',
      };
  }
}

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find(Boolean) ?? ''
  );
}

/**
 * A store problem MLflow itself logged while starting: it exits on a missing driver
 * (`ModuleNotFoundError: No module named 'psycopg'`) and keeps retrying a refused connection
 * (`SQLAlchemy engine could not be created ... Operation will be retried`), so `up` stops at
 * the first such line instead of waiting out --timeout. Undefined for any other line.
 */
export function storeProblemInMlflowLog(line: string, checks: StoreCheck[], c: ExplainContext): StackError | undefined {
  const sql = checks.find((k) => k.kind === 'sql');
  if (!sql) return undefined;
  const module = /(?:ModuleNotFoundError: |ERROR mlflow\.cli: )No module named '([\w.]+)'/
    .exec(line)?.[1]
    ?.split('.')[0];
  if (module && PACKAGE_OF[module]) {
    const e = missingModule(sql, { ok: false, kind: 'missing-module', module }, c);
    return new StackError(`MLflow exited: ${e.message}`, { hint: e.hint });
  }
  if (!/OperationalError|ProgrammingError|InsufficientPrivilege|could not be created|FATAL:/.test(line))
    return undefined;
  const known = classifyDbError(line);
  if (!known) return undefined;
  const e = explainDbProblem(sql, known.problem, known.detail);
  return new StackError(`MLflow could not use its database: ${e.message}`, { hint: e.hint });
}

/** A failed check as the error `up` throws (exit 1: nothing was started). */
export function checkError(e: Explained): UserError {
  return new UserError(e.message, { hint: e.hint });
}
