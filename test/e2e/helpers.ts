/** Helpers for end-to-end tests: run the built CLI, watch the process table, clean up. */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(root, 'dist', 'cli.js');
export const venvPython = path.join(root, '.venv', 'bin', 'python');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Environment for the CLI under test: no password leaks in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MLFLOW_SECURE_PASSWORD;
  delete env.MLFLOW_SECURE_NGINX;
  delete env.MLFLOW_SECURE_MLFLOW;
  delete env.VIRTUAL_ENV;
  // `npm test` / `npx vitest` set these; they make the CLI's hints say `npx mlflow-secure`.
  for (const npmVar of ['npm_command', 'npm_lifecycle_event', 'npm_lifecycle_script', 'npm_package_name'])
    delete env[npmVar];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export async function cli(
  args: string[],
  o: { cwd: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  const r = await execa(process.execPath, [cliPath, ...args], {
    cwd: o.cwd,
    env: cleanEnv(o.env),
    extendEnv: false,
    input: o.input,
    stdin: o.input === undefined ? 'ignore' : undefined,
    reject: false,
    timeout: o.timeoutMs ?? 240_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI in the background (a foreground `up`), collecting its output. */
export function spawnCli(
  args: string[],
  o: { cwd: string; env?: Record<string, string | undefined> },
): { child: ResultPromise; output: () => string; waitFor: (re: RegExp, timeoutMs?: number) => Promise<void> } {
  const child = execa(process.execPath, [cliPath, ...args], {
    cwd: o.cwd,
    env: cleanEnv(o.env),
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    all: true,
    buffer: true,
  });
  let text = '';
  child.all?.on('data', (d: Buffer) => {
    text += d.toString('utf8');
  });
  return {
    child,
    output: () => text,
    waitFor: async (re, timeoutMs = 180_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(text)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; output so far:\n${text}`);
        if (child.exitCode !== null)
          throw new Error(`the CLI exited (${child.exitCode}) before ${re}; output:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

export async function tempDir(prefix = 'mlflow-secure-e2e-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

interface ProcInfo {
  pid: number;
  pgid: number;
  state: string;
  cmdline: string;
}

async function readProc(pid: string): Promise<ProcInfo | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
    return { pid: Number(pid), state: fields[0]!, pgid: Number(fields[2]), cmdline };
  } catch {
    return undefined;
  }
}

/**
 * Live processes of a stack, read from the process table (not from the stack record): every
 * process whose environment carries the state folder marker, plus every live member of the
 * given process groups (nginx workers drop their environment, so they are found by group).
 */
export async function stackProcesses(stateDir: string, groups: number[] = []): Promise<ProcInfo[]> {
  const marker = `MLFLOW_SECURE_STATE_DIR=${stateDir}`;
  const found: ProcInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = await readProc(entry);
    if (!info || info.state === 'Z' || info.state === 'X') continue;
    let environ = '';
    try {
      environ = await readFile(`/proc/${entry}/environ`, 'utf8');
    } catch {
      // gone
    }
    if (environ.split('\0').includes(marker) || groups.includes(info.pgid)) found.push(info);
  }
  return found;
}

export async function waitForNoStackProcesses(
  stateDir: string,
  groups: number[] = [],
  timeoutMs = 10_000,
): Promise<ProcInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await stackProcesses(stateDir, groups);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StackRecordJson {
  url: string;
  mlflowPort: number;
  port: number;
  user: string;
  mlflow: { pid: number };
  nginx: { pid: number };
}

export async function readStackRecord(stateDir: string): Promise<StackRecordJson> {
  return JSON.parse(await readFile(path.join(stateDir, 'stack.json'), 'utf8')) as StackRecordJson;
}
