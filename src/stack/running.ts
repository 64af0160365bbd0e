/**
 * The stack recorded in a state folder, only when its nginx is running from that very folder.
 * For commands that hand the stack's URL to someone (`env` to clients with the password, `open`
 * to the browser): a planted record cannot point them elsewhere. And the programs a verified
 * running stack runs, for `restart` to run the same ones again.
 */
import { promises as fs } from 'node:fs';
import nodePath from 'node:path';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { checkStateDir } from '../system/folders.js';
import { readEnviron, readProcessImage, type ProcessImage } from '../system/process-table.js';
import { isLive, ownership, type StopTarget } from '../system/processes.js';
import { mlflowTarget, nginxTarget } from './targets.js';
import { readRecord, resolveStatePaths, type StackRecord, type StatePaths } from './state.js';
import { executableTest } from '../system/tools.js';

/** `command`: what to run again once the stack is up (e.g. `env`, `open`). */
export async function runningStack(
  stateDir: string | undefined,
  command: string,
  ctx: Context,
): Promise<{ paths: StatePaths; record: StackRecord }> {
  const paths = resolveStatePaths(stateDir, ctx);
  const record = (await checkStateDir(paths.stateDir, ctx.platform))
    ? await readRecord(paths.record, ctx.platform.name)
    : undefined;
  if (!record)
    throw new UserError(`no stack is recorded in ${paths.stateDir}`, {
      hint: `Start one with \`mlflow-secure up -d\`, then run \`mlflow-secure ${command}\` again`,
    });
  const owner = record.nginx
    ? await ownership(nginxTarget(record.nginx.pid, paths, ctx.platform), ctx.platform)
    : 'gone';
  if (owner !== 'ours' && owner !== 'unverified') {
    throw new UserError(`the stack recorded in ${paths.stateDir} is not running`, {
      hint: `Start it with \`mlflow-secure up -d\`, then run \`mlflow-secure ${command}\` again`,
    });
  }
  return { paths, record };
}

/** The URL to hand out: the first public one with `--public` (when there is one), else the local one. */
export function stackUrl(record: StackRecord, usePublic: boolean | undefined): string {
  return usePublic && record.publicUrls.length > 0 ? record.publicUrls[0]! : record.url;
}

/**
 * A Windows command line split into arguments as the C runtime splits it: the program name ends
 * at its closing quote or the first blank; after it, 2n backslashes before a quote are n and the
 * quote toggles quoting, 2n+1 are n and a literal quote.
 */
export function splitWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  const first = /^\s*(?:"([^"]*)"?|(\S+))/.exec(line);
  if (!first) return args;
  args.push(first[1] ?? first[2] ?? '');
  let i = first[0].length;
  let current: string | undefined;
  let quoted = false;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '\\') {
      let n = 0;
      while (line[i] === '\\') {
        n++;
        i++;
      }
      if (line[i] === '"') {
        current = (current ?? '') + '\\'.repeat(Math.floor(n / 2));
        if (n % 2 === 1) {
          current += '"';
          i++;
        }
      } else current = (current ?? '') + '\\'.repeat(n);
      continue;
    }
    if (c === '"') {
      quoted = !quoted;
      current ??= '';
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (current !== undefined) args.push(current);
      current = undefined;
    } else current = (current ?? '') + c;
    i++;
  }
  if (current !== undefined) args.push(current);
  return args;
}

/**
 * The file a verified MLflow leader was started from, as `--mlflow` takes it, or undefined when
 * its argv does not show one. Pure. `up` starts `<file> ui --serve-artifacts ...`: on POSIX the
 * argument before `ui` is that file whatever it is (for a script the kernel makes the argv
 * `<interpreter> <script> ui ...`, keeping the script's path as it was run); a lone program is the
 * system's executable path. Windows' `py -m mlflow` has no file that `--mlflow` could take.
 */
export function mlflowFileOf(image: Pick<ProcessImage, 'argv' | 'executable'>, windows: boolean): string | undefined {
  const argv = image.argv ?? [];
  const at = argv.findIndex((a, i) => i > 0 && a === 'ui' && argv[i + 1] === '--serve-artifacts');
  if (at < 1) return undefined;
  const before = argv.slice(0, at);
  if (before.length === 1) return image.executable ?? before[0];
  if (windows || before.includes('-m')) return undefined;
  return before[before.length - 1];
}

/**
 * The nginx a verified master runs, as `--nginx` takes it: the system's executable path, else
 * (macOS) the program named in the title nginx gives its master, `nginx: master process <file> ...`.
 */
export function nginxFileOf(image: Pick<ProcessImage, 'argv' | 'executable'>): string | undefined {
  if (image.executable !== undefined) return image.executable;
  const m = /^nginx: master process (\S+)/.exec((image.argv ?? []).join(' '));
  return m?.[1];
}

/** What `restart` runs again: the programs of the verified running stack, as `--mlflow`/`--nginx` values. */
export interface RunningPrograms {
  /** Undefined for an `--upstream` stack: the user's MLflow is not ours to start. */
  mlflow?: string;
  nginx: string;
}

/**
 * The MLflow and nginx the running stack runs, read from the processes themselves (the record
 * only says which pids to look at, and each must be verified ours first), and checked to be there
 * still. A program given now (`--mlflow`, `--nginx`) is taken as given. Anything else is one
 * UserError saying that nothing was stopped: `restart` never falls back to a lookup, which could
 * pick another MLflow (a `./.venv` a cloned repository brought) without a word.
 */
export async function runningPrograms(
  record: Pick<StackRecord, 'mlflow' | 'nginx' | 'mlflowPort' | 'upstream'>,
  paths: StatePaths,
  given: { mlflow?: string; nginx?: string },
  ctx: Context,
): Promise<RunningPrograms> {
  const { platform } = ctx;
  const [mlflow, nginx] = await Promise.all([
    given.mlflow ??
      (record.upstream !== undefined
        ? undefined
        : runningProgram(
            'MLflow',
            '--mlflow',
            record.mlflow && mlflowTarget(record.mlflow.pid, record.mlflowPort, paths.stateDir, platform),
            (image) => mlflowFileOf(image, platform.isWindows),
            ctx,
          )),
    given.nginx ??
      runningProgram(
        'nginx',
        '--nginx',
        record.nginx && nginxTarget(record.nginx.pid, paths, platform),
        nginxFileOf,
        ctx,
      ),
  ]);
  return mlflow === undefined ? { nginx } : { mlflow, nginx };
}

async function runningProgram(
  what: 'MLflow' | 'nginx',
  flag: string,
  target: StopTarget | undefined,
  fileOf: (image: ProcessImage) => string | undefined,
  ctx: Context,
): Promise<string> {
  const { platform } = ctx;
  const nothingStopped = (why: string) =>
    new UserError(`cannot tell which ${what} the running stack runs (${why}); nothing was stopped`, {
      hint: `Give it: mlflow-secure restart ${flag} <path>`,
    });
  if (!target) throw nothingStopped(`no ${what} is recorded`);
  const { pid } = target;
  // Its own live leader, checked as `down` checks it; on Linux its environment must be readable
  // and carry this state folder's marker (readable at all only for our own processes).
  if ((await ownership(target, platform)) !== 'ours' || !(await isLive(pid, platform)))
    throw nothingStopped(`pid ${pid} is not a live ${what} of this stack`);
  if (target.marker !== undefined && platform.name === 'linux') {
    const environ = await readEnviron(pid, platform);
    if (!environ?.includes(target.marker)) throw nothingStopped(`pid ${pid}'s environment cannot be read`);
  }
  const image = await readProcessImage(pid, platform);
  const argv = image.argv ?? (image.commandLine !== undefined ? splitWindowsCommandLine(image.commandLine) : undefined);
  let file = fileOf({ ...image, ...(argv ? { argv } : {}) });
  if (file === undefined) throw nothingStopped(`pid ${pid}'s command line does not show its program`);
  if (!platform.path.isAbsolute(file)) {
    if (image.cwd === undefined) throw nothingStopped(`pid ${pid} was started as ${file}, a relative path`);
    file = nodePath.resolve(image.cwd, file);
  }
  const gone = (why: string) =>
    new UserError(`the running stack's ${what}, ${file}, ${why}; nothing was stopped`, {
      hint: `Give the ${what} to run: mlflow-secure restart ${flag} <path>`,
    });
  if (!(await executableTest(platform)(file))) throw gone('is no longer there (or no longer executable)');
  const interpreter = await scriptInterpreter(file);
  if (interpreter !== undefined && !(await executableTest(platform)(interpreter)))
    throw gone(`can no longer run: its interpreter ${interpreter} is gone`);
  return file;
}

/** POSIX: the absolute interpreter a `#!` script names (pip writes one into every console script). */
async function scriptInterpreter(file: string): Promise<string | undefined> {
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    const m = /^#!\s*(\/\S*)/.exec(buffer.subarray(0, bytesRead).toString('utf8'));
    return m?.[1];
  } finally {
    await handle.close();
  }
}
