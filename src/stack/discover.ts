/** What `up` and `config` find on the machine before they can build a plan. */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Context } from '../context.js';
import type { Found } from './plan.js';
import type { Platform } from '../system/platform.js';
import type { Settings, StackOptions } from './settings.js';
import { chooseListenPort, chooseMlflowPort } from '../system/ports.js';
import { venvMlflowVersion } from '../mlflow/version.js';
import { checkMlflowVersion } from '../mlflow/versions.js';
import { lookupMlflow, lookupNginx, mlflowVersion, nginxVersion, requireFound } from '../system/tools.js';

export function currentUser(platform: Platform): Found['who'] {
  const info = os.userInfo();
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  // Linux names root's group root, macOS wheel; the primary group name is not in os.userInfo().
  return {
    uid,
    username: info.username,
    groupName: uid === 0 ? (platform.name === 'darwin' ? 'wheel' : 'root') : undefined,
  };
}

/**
 * strict (up): nginx and MLflow must exist and the port must be free, else a UserError.
 * lenient (config --dry-run): placeholders stand in for what is missing, with a note.
 */
export async function discover(
  settings: Settings,
  options: StackOptions,
  ctx: Context,
  strict: boolean,
): Promise<{ found: Found; notes: string[] }> {
  const { env, platform, cwd } = ctx;
  const notes: string[] = [];
  const nginxLookup = await lookupNginx({ flag: options.nginx, env, platform });
  // --upstream: the user's MLflow already runs; none is looked for or started.
  const mlflowLookup = settings.upstream
    ? { found: { file: platform.exeName('mlflow'), args: [] }, searched: [] }
    : await lookupMlflow({ flag: options.mlflow, env, cwd, platform });
  let nginx: string;
  let version: Found['nginxVersion'];
  let mlflowVer: string | undefined;
  if (strict) {
    nginx = requireFound(nginxLookup, 'nginx', platform);
    // Read once, here: the plan follows it (mlflow-versions.ts) and the summary prints it.
    // --upstream: its version comes from its own /version (upstream.ts); ours runs nothing.
    const mlflowFound = settings.upstream ? undefined : requireFound(mlflowLookup, 'MLflow', platform);
    [version, mlflowVer] = await Promise.all([
      nginxVersion(nginx),
      mlflowFound && venvMlflowVersion(mlflowFound.file, platform).then((v) => v ?? mlflowVersion(mlflowFound)),
    ]);
    if (mlflowFound && mlflowVer !== undefined) {
      const { warning } = checkMlflowVersion(mlflowVer, mlflowFound.file, platform);
      if (warning) ctx.out.warn(warning);
    }
  } else {
    nginx = nginxLookup.found ?? platform.exeName('nginx');
    version = nginxLookup.found
      ? await nginxVersion(nginx).catch(() => [1, 22, 0] as Found['nginxVersion'])
      : [1, 22, 0];
    if (!nginxLookup.found) notes.push(`nginx was not found (looked at: ${nginxLookup.searched.join(', ')})`);
  }
  const mlflow = strict
    ? requireFound(mlflowLookup, 'MLflow', platform)
    : (mlflowLookup.found ?? { file: platform.exeName('mlflow'), args: [] });
  if (!strict && !mlflowLookup.found)
    notes.push(`MLflow was not found (looked at: ${mlflowLookup.searched.join(', ')})`);

  let listenPort: number;
  if (strict) listenPort = await chooseListenPort(settings.host, settings.port);
  else listenPort = settings.port === 'auto' ? await chooseMlflowPort([]) : settings.port;
  const mlflowPort = await chooseMlflowPort([listenPort]);
  if (!strict) notes.push(`MLflow's port ${mlflowPort} is an example: up picks a free one on 127.0.0.1 each time`);
  const instanceId = randomBytes(12).toString('hex');
  return {
    found: {
      nginx,
      nginxVersion: version,
      mlflow,
      ...(mlflowVer !== undefined ? { mlflowVersion: mlflowVer } : {}),
      listenPort,
      mlflowPort,
      who: currentUser(platform),
      instanceId,
    },
    notes,
  };
}
