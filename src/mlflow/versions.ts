/**
 * What differs between the MLflow versions mlflow-secure runs, keyed by the version `mlflow
 * --version` printed. Pure. Each entry says where it was checked: "run" means a real run of that
 * version here (test/versions/), "source" MLflow's own source of that release.
 */
import { UserError } from '../errors.js';

/** The oldest version `up` runs: the oldest the version matrix (test/versions/) proves end to end. */
export const OLDEST_SUPPORTED = '2.22.1';
/** The newest version tested, and the pin `mlflow-secure setup` installs (requirements.txt). */
export const NEWEST_TESTED = '3.17.2';

export interface MlflowDifference {
  what: string;
  /** The first version that has it. */
  since: string;
  checked: string;
}

/** One entry per difference that changes the plan (plan.ts reads them through mlflowFeatures). */
export const MLFLOW_DIFFERENCES = {
  securityMiddleware: {
    what: '`mlflow server --allowed-hosts` / `--cors-allowed-origins` (host and CORS middleware)',
    since: '3.5.0',
    checked: 'run: 3.4.0 and 2.22.1 exit 2 with "No such option \'--allowed-hosts\'"; 3.17.2 takes them',
  },
  uvicorn: {
    what: 'uvicorn serves by default (so MLFLOW_UVICORN_OPTS="--uds <path>" works on POSIX); before it gunicorn (`--host unix:<path>` is the socket), waitress on Windows',
    since: '3.3.0',
    checked:
      'source: the 3.3.0 wheel has _build_uvicorn_command and using_uvicorn by default (mlflow#17038), 3.2.0 none; run: 3.4.0 starts uvicorn, 2.22.1 gunicorn',
  },
  workersOnWindows: {
    what: '`--workers` on Windows (waitress, before 3.3, raises NotImplementedError for it)',
    since: '3.3.0',
    checked:
      'source: mlflow/cli.py _validate_server_args raises on win32 in 2.22.1 and 3.2.0, not in 3.3.0, 3.4.0, 3.17.2',
  },
  jobs: {
    what: 'the job runner (MLFLOW_SERVER_ENABLE_JOB_EXECUTION, huey consumers)',
    since: '3.5.0',
    checked:
      'source: mlflow/environment_variables.py has MLFLOW_SERVER_ENABLE_JOB_EXECUTION in 3.5.0 and 3.17.2, not in 3.4.0',
  },
  permissions: {
    what: 'the auth app with a custom authorization_function on its FastAPI routes too (`up --permissions`), its admin bootstrapped from MLFLOW_AUTH_ADMIN_USERNAME/_PASSWORD',
    since: '3.17.0',
    checked:
      'source: 3.17.2 bridges a custom authorization_function into its FastAPI middleware (mlflow/server/auth/__init__.py, _authenticate_custom_for_fastapi; older ones leave native routes to Basic auth) and reads MLFLOW_AUTH_ADMIN_PASSWORD (3.16.1+); run: 3.17.2',
  },
} as const satisfies Record<string, MlflowDifference>;

/**
 * The same in every supported version (checked by run on 2.22.1, 3.4.0, 3.17.2): `mlflow ui`
 * takes --serve-artifacts, --host, --port, --workers (gunicorn's or uvicorn's worker count) and
 * reads MLFLOW_BACKEND_STORE_URI, MLFLOW_REGISTRY_STORE_URI, MLFLOW_ARTIFACTS_DESTINATION;
 * GET /health answers `OK` and GET /version the version. On Windows nginx reaches MLflow at
 * 127.0.0.1 whichever server it runs.
 */

export type Version = [number, number, number];

/** `3.17.2`, `2.22.1.dev0`, `3.5.0rc1` -> [major, minor, patch]; undefined when it is no version. */
export function parseMlflowVersion(text: string): Version | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

function atLeast(v: Version, since: string): boolean {
  return compare(v, parseMlflowVersion(since)!) >= 0;
}

export interface MlflowFeatures {
  version: string;
  /** --allowed-hosts and --cors-allowed-origins exist. */
  securityMiddleware: boolean;
  /** uvicorn is the server on POSIX: --uds through MLFLOW_UVICORN_OPTS is the socket; before it gunicorn's `unix:` bind. */
  uvicorn: boolean;
  /** MLFLOW_SERVER_ENABLE_JOB_EXECUTION exists. */
  jobs: boolean;
  /** --workers is accepted on Windows. */
  workersOnWindows: boolean;
  /** `up --permissions` works (MLFLOW_DIFFERENCES.permissions). */
  permissions: boolean;
}

/** What the plan may hand this MLflow. An unparsable version is read as the newest tested. */
export function mlflowFeatures(version: string): MlflowFeatures {
  const v = parseMlflowVersion(version) ?? parseMlflowVersion(NEWEST_TESTED)!;
  return {
    version,
    securityMiddleware: atLeast(v, MLFLOW_DIFFERENCES.securityMiddleware.since),
    uvicorn: atLeast(v, MLFLOW_DIFFERENCES.uvicorn.since),
    jobs: atLeast(v, MLFLOW_DIFFERENCES.jobs.since),
    workersOnWindows: atLeast(v, MLFLOW_DIFFERENCES.workersOnWindows.since),
    permissions: atLeast(v, MLFLOW_DIFFERENCES.permissions.since),
  };
}

/**
 * Refuses a version older than the supported range (one line, nothing started); returns a
 * warning for one newer than the newest tested, which still runs.
 */
export function checkMlflowVersion(
  version: string,
  file: string,
  platform: { isWindows: boolean } = { isWindows: false },
): { warning?: string } {
  const v = parseMlflowVersion(version);
  if (!v)
    throw new UserError(`${file} printed an MLflow version mlflow-secure cannot read (${version})`, {
      hint: 'Pass another MLflow with --mlflow <path>, or run mlflow-secure setup (installs the tested MLflow)',
    });
  if (!atLeast(v, OLDEST_SUPPORTED))
    throw new UserError(`MLflow ${version} (${file}) is older than the oldest supported, ${OLDEST_SUPPORTED}`, {
      hint: `Upgrade it (pip install "mlflow>=${OLDEST_SUPPORTED}"), or run mlflow-secure setup (installs the tested MLflow ${NEWEST_TESTED}) and pass it with --mlflow`,
    });
  // On Windows MLflow keeps a loopback TCP port (on POSIX every version has a Unix socket); with no
  // Host check (before 3.5) a web page can reach it past the password by DNS rebinding, and so can
  // every local account: say so, as --jobs on does.
  if (platform.isWindows && !atLeast(v, MLFLOW_DIFFERENCES.securityMiddleware.since))
    return {
      warning:
        `MLflow ${version} listens on a loopback TCP port without a Host check (MLflow ${MLFLOW_DIFFERENCES.securityMiddleware.since} added it): ` +
        `other local accounts, and a web page through DNS rebinding, can reach it past the password. ` +
        `Upgrade MLflow to ${MLFLOW_DIFFERENCES.securityMiddleware.since} or newer (mlflow-secure setup installs ${NEWEST_TESTED})`,
    };
  if (compare(v, parseMlflowVersion(NEWEST_TESTED)!) > 0)
    return {
      warning: `MLflow ${version} is newer than the newest version mlflow-secure was tested with (${NEWEST_TESTED}); running it anyway`,
    };
  return {};
}

/** A line of `doctor`'s report; `info` lines never fail it. */
export interface Finding {
  ok: boolean;
  info?: boolean;
  what: string;
  fix?: string;
}

/** What `doctor` says of a found MLflow: whether `up` runs it, and what `up --permissions` needs. */
export function mlflowVersionFindings(version: string, where: string, platform: { isWindows: boolean }): Finding[] {
  let warning: string | undefined;
  try {
    warning = checkMlflowVersion(version, where, platform).warning;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return [{ ok: false, what: e.message, ...(e.hint ? { fix: e.hint } : {}) }];
  }
  const findings: Finding[] = [{ ok: true, what: `MLflow ${version} (${where})${warning ? `: ${warning}` : ''}` }];
  if (!mlflowFeatures(version).permissions)
    findings.push({
      ok: true,
      info: true,
      what: `up --permissions needs MLflow ${MLFLOW_DIFFERENCES.permissions.since} or newer (this one runs without it; mlflow-secure setup installs ${NEWEST_TESTED})`,
    });
  return findings;
}
