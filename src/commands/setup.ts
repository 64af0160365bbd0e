/**
 * `mlflow-secure setup`: makes this machine ready for `up` when mlflow-secure came from npm,
 * with no checkout and no ./.venv. MLflow, pinned by the package's requirements.txt, goes
 * into a virtual environment in mlflow-secure's data folder (Platform.dataDir), which `up`,
 * `config` and `doctor` search; nginx comes from the OS package manager where setup may run
 * it, else setup names the one command to run. A second run finds both and returns at once.
 */
import { promises as fs } from 'node:fs';
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import { withStateLock } from '../system/lock.js';
import type { Platform } from '../system/platform.js';
import {
  executableTest,
  findOnPath,
  lookupNginx,
  nginxVersion,
  packageRoot,
  type IsExecutable,
  type Lookup,
} from '../system/tools.js';
import { ignoreVenv, inspectVenv, installMlflow, planMlflow, readPin, venvIn } from '../setup/mlflow.js';
import {
  describePlan,
  manualInstallError,
  planNginxInstall,
  runNginxInstall,
  type MachineProbe,
} from '../setup/nginx.js';
import { choosePython } from '../setup/python.js';
import { installExtras, parseExtras } from '../setup/extras.js';
import { processRunner, type Runner } from '../setup/runner.js';

export interface SetupOptions {
  /** Say what would be done, change nothing. */
  check?: boolean;
  /** Rebuild the virtual environment from nothing. */
  force?: boolean;
  /** The Python to build it with, instead of searching. */
  python?: string;
  /** Drivers to add to the venv: postgres (psycopg 3), s3 (boto3). */
  with?: string[];
}

/** What tests replace: the programs run, who we are, the package's folder, the file system's answers. */
export interface SetupDeps {
  run?: Runner;
  isRoot?: boolean;
  root?: string;
  isExecutable?: IsExecutable;
  lookupNginx?: (o: { env: NodeJS.ProcessEnv; platform: Platform }) => Promise<Lookup<string>>;
  nginxVersion?: (nginx: string) => Promise<[number, number, number]>;
}

const NO_DATA_DIR: Record<'posix' | 'win32', [string, string]> = {
  posix: [
    "cannot tell where mlflow-secure's data folder is: neither XDG_DATA_HOME nor HOME is set to an absolute path",
    'Set HOME (or XDG_DATA_HOME) and run mlflow-secure setup again',
  ],
  win32: [
    "cannot tell where mlflow-secure's data folder is: neither LOCALAPPDATA nor USERPROFILE is set to an absolute path",
    'Set LOCALAPPDATA and run mlflow-secure setup again',
  ],
};

export async function setup(o: SetupOptions, ctx: Context, deps: SetupDeps = {}): Promise<number> {
  const { platform, env, out } = ctx;
  const run = deps.run ?? processRunner(env);
  const isExecutable = deps.isExecutable ?? executableTest(platform);
  const dataDir = platform.dataDir(env);
  if (!dataDir) {
    const [message, hint] = NO_DATA_DIR[platform.isWindows ? 'win32' : 'posix'];
    throw new UserError(message, { hint });
  }
  const extras = parseExtras(o.with);
  const pin = await readPin(deps.root ?? packageRoot);
  const venv = venvIn(dataDir, platform);
  const pythonCandidates = o.python ? [{ file: o.python, args: [] }] : platform.pythonCandidates;

  // MLflow first: it is the long part, and nginx's one command may need the user anyway.
  const mlflowPlan = planMlflow(await inspectVenv(venv, pin, run, isExecutable), pin, o.force ?? false);
  if (mlflowPlan.kind === 'installed') {
    if (!o.check) await ignoreVenv(venv); // one made before setup wrote it
    out.info(`MLflow ${pin.version}: already installed (${venv.mlflow})`);
  } else if (o.check) {
    const how = mlflowPlan.reuse
      ? 'pip install into the existing virtual environment'
      : await choosePython(pythonCandidates, platform, run).then(
          (p) => `a new virtual environment, Python ${p.version} from ${p.via}`,
          (e: Error) => `but it would fail: ${e.message}`,
        );
    out.info(`MLflow ${pin.version}: would install into ${venv.dir} (${how})`);
  } else {
    // Before anything is made: without a usable Python, setup leaves no trace.
    const python = mlflowPlan.reuse ? undefined : await choosePython(pythonCandidates, platform, run);
    await fs.mkdir(dataDir, { recursive: true });
    // Two setups at once would build one venv twice over; the second waits, then says so.
    await withStateLock(dataDir, () => installMlflow({ venv, pin, python, platform, run, out }));
    out.info(`MLflow ${pin.version}: installed (${venv.mlflow})`);
  }
  if (extras.length > 0) {
    const install = () =>
      installExtras({ extras, venv, root: deps.root ?? packageRoot, run, out, check: o.check ?? false });
    await (o.check ? install() : withStateLock(dataDir, install));
  }

  const findNginx = () => (deps.lookupNginx ?? lookupNginx)({ env, platform });
  const versionOf = deps.nginxVersion ?? nginxVersion;
  let nginx = await findNginx();
  if (!nginx.found) {
    const probe: MachineProbe = {
      isRoot: deps.isRoot ?? process.getuid?.() === 0,
      has: async (name) => (await findOnPath(name, env, platform, isExecutable)) !== undefined,
      sudoWorks: async () => (await run('sudo', ['-n', 'true'], { timeoutMs: 15_000 })).exitCode === 0,
    };
    const plan = await planNginxInstall(platform, probe);
    if (o.check) {
      out.info(
        plan.kind === 'auto'
          ? `nginx: would install it (${describePlan(plan)})`
          : `nginx: not installed; run: ${plan.command}`,
      );
      return ExitCode.ok;
    }
    if (plan.kind === 'manual') throw manualInstallError(plan);
    out.note(`Installing nginx: ${describePlan(plan)}`);
    await runNginxInstall(plan, run, env);
    nginx = await findNginx();
    if (!nginx.found)
      throw new UserError(`nginx was installed but is not found (looked at: ${nginx.searched.join(', ')})`, {
        hint: 'Set MLFLOW_SECURE_NGINX to its path',
      });
  }
  const version = await versionOf(nginx.found);
  out.info(`nginx ${version.join('.')}: ${o.check ? 'found' : 'ready'} (${nginx.found})`);
  if (!o.check) out.info('Ready: run mlflow-secure up');
  return ExitCode.ok;
}
