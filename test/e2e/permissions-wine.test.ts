/**
 * The Windows plan of `up --permissions`, from the real Windows build of Node under Wine
 * (process.platform 'win32', Windows paths): MLflow on its loopback TCP port, so the secret is
 * all that keeps other local programs from claiming a name; paths in MLflow's environment in
 * Windows form. Skipped, saying why, where Wine is absent (.ci/run installs it).
 */
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript helper script without type declarations
import { findWineNode, runUnderWine, toWinePath } from '../../scripts/wine-node.mjs';
import { SECRET_ENV, SECRET_HEADER, USER_HEADER } from '../../src/stack/permissions.js';
import { SECRET_PLACEHOLDER } from '../../src/stack/plan.js';
import { cliPath, removeDir, tempDir } from './helpers.js';

const found = (await findWineNode({ prepare: true })) as { missing?: string };
const reason = found.missing;
if (reason) console.warn(`SKIPPED permissions-wine tests: ${reason}`);

describe.skipIf(reason !== undefined)(
  `up --permissions, the Windows plan${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let cwd: string | undefined;
    afterAll(async () => {
      if (cwd) await removeDir(cwd);
    });

    it('config --json --permissions: the auth app on TCP, the secret in its environment and in nginx.conf', async () => {
      cwd = await tempDir('mlflow-secure-wine-perm-');
      const r = (await runUnderWine(
        [
          toWinePath(cliPath),
          'config',
          '--json',
          '--permissions',
          '--default-permission',
          'EDIT',
          '--state-dir',
          'C:\\Users\\Ana\\proj\\.mlflow-secure',
          '--nginx',
          'C:\\nginx\\nginx.exe',
          '--mlflow',
          'C:\\Users\\Ana\\proj\\.venv\\Scripts\\mlflow.exe',
        ],
        { cwd, env: { MLFLOW_SECURE_PASSWORD: '' }, timeoutMs: 120_000 },
      )) as { code: number | null; stdout: string; stderr: string };
      expect(r.code, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout);
      expect(plan.platform).toBe('win32');
      expect(plan.mlflow.args.slice(-2)).toEqual(['--app-name', 'basic-auth']);
      expect(plan.mlflow.env.MLFLOW_UVICORN_OPTS).toBeUndefined();
      expect(plan.nginxConf).toContain(`server 127.0.0.1:${plan.mlflow.port};`);
      expect(plan.mlflow.env.MLFLOW_AUTH_CONFIG_PATH).toBe('C:\\Users\\Ana\\proj\\.mlflow-secure\\mlflow-auth.ini');
      // Our module's folder as Windows Node sees the package: a drive path.
      expect(plan.mlflow.env.PYTHONPATH).toMatch(/^[A-Z]:\\.*\\python\\$/);
      // config chooses no secret: up does, each run.
      expect(plan.mlflow.env[SECRET_ENV]).toBe(SECRET_PLACEHOLDER);
      expect(plan.nginxConf).toContain(`proxy_set_header ${SECRET_HEADER} "${SECRET_PLACEHOLDER}";`);
      expect(plan.nginxConf).toContain(`proxy_set_header ${USER_HEADER} $mlflow_secure_verified_user;`);
      expect(plan.mlflow.args.join(' ')).not.toMatch(/MLFLOW_AUTH|SECRET/);
    });
  },
);
