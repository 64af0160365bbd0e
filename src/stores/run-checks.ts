/**
 * Runs the store checks (stores/checks.ts) in MLflow's own Python before MLflow starts,
 * and watches MLflow's log for the same problems while it starts. SQLite, files and folders
 * need no check: nothing runs for them, so a default `up` is not slowed down.
 */
import { promises as fs } from 'node:fs';
import type { Context } from '../context.js';
import { StackError, UserError } from '../errors.js';
import { PASSWORD_ENV } from '../users/password.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { runOnce, type RunResult } from '../system/run-once.js';
import { resolveSettings, type Settings, type StackOptions } from '../stack/settings.js';
import {
  CHECK_URI_ENV,
  explainS3Answer,
  explainSqlAnswer,
  parseCheckAnswer,
  pythonCandidatesFor,
  storeChecks,
  storeProblemInMlflowLog,
  type ExplainContext,
  type Explained,
  type StoreCheck,
} from './checks.js';
import { maskUriCredentials, uriSecrets } from './secrets.js';
import { executableTest, lookupMlflow, type IsExecutable } from '../system/tools.js';
import { withEmptyDir } from '../mlflow/python-cwd.js';
import { pythonScriptText } from '../mlflow/python-scripts.js';

/** One check's bound. libpq gives up on a silent host after PGCONNECT_TIMEOUT (10 s here), boto3 after 2 x 5 s. */
export const CHECK_TIMEOUT_MS = 45_000;

export interface StoreCheckResult {
  check: StoreCheck;
  /** Passed: what was seen (e.g. the driver). */
  passed?: string;
  problem?: Explained;
  /** The check itself could not run (no Python found, it crashed): said, but never blocks a start. */
  notChecked?: string;
}

/** Credentials from the environment that a store uses: masked in everything printed. */
export function registerStoreSecrets(env: NodeJS.ProcessEnv, out: Context['out']): void {
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'PGPASSWORD']) out.addSecret(env[name]);
}

/** MLflow's Python: `mlflow`'s links resolved first (pipx puts one on PATH), then the Python beside it. */
export async function findMlflowPython(
  mlflow: CommandSpec,
  platform: Platform,
  isExecutable: IsExecutable = executableTest(platform),
): Promise<CommandSpec | undefined> {
  const file = mlflow.args.length === 0 ? await fs.realpath(mlflow.file).catch(() => mlflow.file) : mlflow.file;
  for (const c of pythonCandidatesFor({ file, args: mlflow.args }, platform)) {
    // `py -3 -m mlflow`: a command looked up on PATH, as MLflow itself is.
    if (!platform.path.isAbsolute(c.file)) return c;
    if (await isExecutable(c.file)) return c;
  }
  return undefined;
}

export interface CheckDeps {
  run?: typeof runOnce;
  isExecutable?: IsExecutable;
}

function explainContext(python: CommandSpec | undefined, ctx: Pick<Context, 'env' | 'platform'>): ExplainContext {
  const { platform, env } = ctx;
  const data = platform.dataDir(env);
  const setupVenv =
    python !== undefined &&
    data !== undefined &&
    python.file.startsWith(platform.path.join(data, 'venv') + platform.path.sep);
  return { platform, python, setupVenv, s3Endpoint: env.MLFLOW_S3_ENDPOINT_URL || undefined };
}

function childEnv(env: NodeJS.ProcessEnv, uri: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, [CHECK_URI_ENV]: uri, PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT ?? '10' };
  delete out[PASSWORD_ENV];
  return out;
}

function interpret(check: StoreCheck, r: RunResult, python: CommandSpec, c: ExplainContext): StoreCheckResult {
  const answer = parseCheckAnswer(r.stdout);
  if (answer) {
    const problem = check.kind === 'sql' ? explainSqlAnswer(check, answer, c) : explainS3Answer(check, answer, c);
    if (problem) return { check, problem };
    return {
      check,
      passed:
        check.kind === 'sql'
          ? `connected${answer.driver ? ` (${answer.driver})` : ''}`
          : `bucket answers at ${answer.endpoint ?? 'AWS S3'}`,
    };
  }
  const shown = maskUriCredentials(check.uri);
  if (r.error?.startsWith('timed out')) {
    return {
      check,
      problem: {
        message: `checking the ${check.role} ${shown} did not finish within ${CHECK_TIMEOUT_MS / 1000} s`,
        hint: 'Check that its server is reachable from here (a firewall?) and answers',
      },
    };
  }
  const why =
    r.exitCode === undefined
      ? (r.error ?? 'did not run')
      : `exit ${r.exitCode}: ${r.stderr.trim().split(/\r?\n/).at(-1) ?? ''}`;
  return {
    check,
    notChecked: `could not check the ${check.role} ${shown} with ${[python.file, ...python.args].join(' ')} (${why})`,
  };
}

/** Runs every check the settings need, at once; never throws. */
export async function runStoreChecks(
  checks: StoreCheck[],
  mlflow: CommandSpec,
  ctx: Pick<Context, 'env' | 'platform'>,
  deps: CheckDeps = {},
): Promise<{ python?: CommandSpec; results: StoreCheckResult[] }> {
  if (checks.length === 0) return { results: [] };
  const python = await findMlflowPython(mlflow, ctx.platform, deps.isExecutable);
  if (!python) {
    const where = ctx.platform.path.dirname(mlflow.file);
    return {
      results: checks.map((check) => ({
        check,
        notChecked: `could not check the ${check.role} ${maskUriCredentials(check.uri)}: no Python beside ${mlflow.file} (looked in ${where})`,
      })),
    };
  }
  const run = deps.run ?? runOnce;
  const c = explainContext(python, ctx);
  // Never in the user's folder: `python -c` imports from its working folder (python-cwd.ts).
  const results = await withEmptyDir((cwd) =>
    Promise.all(
      checks.map(async (check) => {
        const script = pythonScriptText(check.kind === 'sql' ? 'store_check_sql' : 'store_check_s3');
        const r = await run(python.file, [...python.args, '-c', script], {
          timeoutMs: CHECK_TIMEOUT_MS,
          env: childEnv(ctx.env, check.uri),
          cwd,
        });
        return interpret(check, r, python, c);
      }),
    ),
  );
  return { python, results };
}

function describePending(checks: StoreCheck[]): string | undefined {
  const what = [
    ...(checks.some((c) => c.kind === 'sql') ? ['the database'] : []),
    ...(checks.some((c) => c.kind === 's3') ? ['the artifact store'] : []),
  ];
  return what.length > 0 ? what.join(' and ') : undefined;
}

export interface UpStoreChecks {
  /** What is being checked, for the progress line ('the database', 'the artifact store', both); undefined when nothing is. */
  readonly pending: string | undefined;
  /** Throws the first problem as a UserError (nothing has started yet); notes what could not be checked. */
  verified(): Promise<void>;
  /** For each line MLflow logs while it starts. */
  onMlflowLine(line: string): void;
  /** `work`, unless MLflow logs a store problem first: then a StackError saying which. */
  orLoggedProblem<T>(work: Promise<T>): Promise<T>;
  /** A failure of MLflow's start whose log tail names a store problem, said as that problem. */
  explainExit<T>(work: Promise<T>): Promise<T>;
}

/**
 * `up`: starts the checks at once (they run while nginx and the ports are looked at), finding
 * MLflow the way `up` does. When MLflow is not found the checks are skipped: `up` then fails
 * with its own message.
 */
export function startStoreChecks(
  settings: Settings,
  o: Pick<StackOptions, 'mlflow'>,
  ctx: Context,
  deps: CheckDeps = {},
): UpStoreChecks {
  registerStoreSecrets(ctx.env, ctx.out);
  const checks = storeChecks(settings);
  let python: CommandSpec | undefined;
  const done =
    checks.length === 0
      ? Promise.resolve({ results: [] as StoreCheckResult[] })
      : lookupMlflow({
          flag: o.mlflow,
          env: ctx.env,
          cwd: ctx.cwd,
          platform: ctx.platform,
          ...(deps.isExecutable ? { isExecutable: deps.isExecutable } : {}),
        }).then(async (lookup) => {
          if (!lookup.found) return { results: [] as StoreCheckResult[] };
          const r = await runStoreChecks(checks, lookup.found, ctx, deps);
          python = r.python;
          return r;
        });
  // Settles only through verified(); a failed `up` before that must not leave a rejection unheard.
  const settled = done.catch((error: unknown) => ({ results: [] as StoreCheckResult[], error }));
  let reject: (e: StackError) => void = () => undefined;
  const mlflowFailed = new Promise<never>((_, r) => {
    reject = r;
  });
  mlflowFailed.catch(() => undefined);
  let failed = false;
  const fromLog = (line: string) => storeProblemInMlflowLog(line, checks, explainContext(python, ctx));
  return {
    pending: describePending(checks),
    async verified() {
      const r = await settled;
      if ('error' in r) throw r.error;
      for (const result of r.results) if (result.notChecked) ctx.out.warn(result.notChecked);
      const problem = r.results.find((x) => x.problem)?.problem;
      if (problem) throw new UserError(problem.message, { hint: problem.hint });
    },
    onMlflowLine(line) {
      if (failed || checks.length === 0) return;
      const e = fromLog(line);
      if (e) {
        failed = true;
        reject(e);
      }
    },
    orLoggedProblem: (work) => Promise.race([work, mlflowFailed]),
    async explainExit(work) {
      try {
        return await work;
      } catch (error) {
        if (!(error instanceof StackError) || !error.details || checks.length === 0) throw error;
        for (const line of error.details.split('\n')) {
          const e = fromLog(line);
          if (e) throw new StackError(e.message, { hint: e.hint, details: error.details });
        }
        throw error;
      }
    },
  };
}

/** A `doctor` finding (doctor.ts prints them). */
export interface StoreFinding {
  ok: boolean;
  info?: boolean;
  what: string;
  fix?: string;
}

/** `doctor --backend-store-uri ... --artifacts-destination ...`: one finding per store checked. */
export async function doctorStoreFindings(
  o: Pick<StackOptions, 'backendStoreUri' | 'registryStoreUri' | 'artifactsDestination'>,
  mlflow: CommandSpec | undefined,
  ctx: Context,
  deps: CheckDeps = {},
): Promise<StoreFinding[]> {
  if (o.backendStoreUri === undefined && o.registryStoreUri === undefined && o.artifactsDestination === undefined)
    return [];
  registerStoreSecrets(ctx.env, ctx.out);
  for (const uri of [o.backendStoreUri, o.registryStoreUri, o.artifactsDestination])
    for (const secret of uriSecrets(uri ?? '')) ctx.out.addSecret(secret);
  let settings: Settings;
  try {
    settings = resolveSettings(
      {
        backendStoreUri: o.backendStoreUri,
        registryStoreUri: o.registryStoreUri,
        artifactsDestination: o.artifactsDestination,
      },
      ctx,
    );
  } catch (error) {
    if (error instanceof UserError) return [{ ok: false, what: error.message, fix: error.hint }];
    throw error;
  }
  const checks = storeChecks(settings);
  if (checks.length === 0)
    return [{ ok: true, info: true, what: 'the stores given are local (SQLite, files): nothing to connect to' }];
  if (!mlflow)
    return checks.map((c) => ({
      ok: false,
      what: `cannot check the ${c.role} ${maskUriCredentials(c.uri)} without MLflow`,
      fix: 'Install MLflow first (above)',
    }));
  const { results } = await runStoreChecks(checks, mlflow, ctx, deps);
  return results.map((r) => {
    const shown = maskUriCredentials(r.check.uri);
    if (r.problem) return { ok: false, what: r.problem.message, fix: r.problem.hint };
    if (r.notChecked)
      return { ok: false, what: r.notChecked, fix: 'Pass --mlflow <path> of a virtual environment with MLflow' };
    return { ok: true, what: `${r.check.role} ${shown}: ${r.passed ?? 'ok'}` };
  });
}
