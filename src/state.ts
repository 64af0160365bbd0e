/**
 * The record of the running stack (`<state>/stack.json`), read by down, status, logs, env.
 * It holds pids, ports and URLs, never a password.
 */
import { promises as fs } from 'node:fs';
import { UserError } from './errors.js';
import { readTextIfExists, writeFileAtomic } from './files.js';

export interface ProcessRecord {
  pid: number;
  /** Whether the process leads its own process group (POSIX): stop signals the whole group. */
  group: boolean;
  /** The executable and arguments it was started with (no secrets: passwords never go in argv). */
  file: string;
  args: string[];
  /** Strings its live command line must contain to still count as ours (pids get reused). */
  identity: string[];
  /** The executable's file name, e.g. nginx.exe: the fallback check on Windows. */
  image?: string;
}

export interface StackRecord {
  version: 1;
  stateDir: string;
  /** `starting` while up is bringing the stack up, `running` once it was proven healthy. */
  phase: 'starting' | 'running';
  /** The `up` process supervising the stack, or null once it detached. */
  supervisorPid: number | null;
  startedAt: string;
  url: string;
  publicUrls: string[];
  user: string;
  host: string;
  port: number;
  mlflowPort: number;
  hash: string;
  backendStoreUri: string;
  registryStoreUri: string;
  artifactsDestination: string;
  mlflow?: ProcessRecord;
  nginx?: ProcessRecord & { quitArgs: string[] };
  logs: { mlflow: string; nginxError: string; nginxAccess: string };
}

export async function readRecord(file: string): Promise<StackRecord | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as StackRecord;
    if (record.version !== 1) throw new Error('unknown version');
    return record;
  } catch {
    throw new UserError(`the stack record ${file} is unreadable`, 'If no stack is running, delete it and try again');
  }
}

export async function writeRecord(file: string, record: StackRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

export async function removeRecord(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
