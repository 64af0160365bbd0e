/**
 * Asks the real nginx which password-hash schemes it verifies: a throw-away nginx on a free
 * loopback port, one user per scheme, a static page under auth_basic (never `return`, which
 * would answer before auth). Used by `doctor` and by the integration tests.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { request } from '../system/http.js';
import { generatePassword, hashPassword, renderHtpasswd } from '../users/htpasswd.js';
import { quote } from './conf.js';
import type { HashScheme, Platform } from '../system/platform.js';
import { chooseMlflowPort } from '../system/ports.js';
import { startProcess, stopTree } from '../system/processes.js';

export type ProbeResult = Record<HashScheme, 'verified' | 'not verified'>;

export async function probeHashSchemes(
  nginx: string,
  platform: Platform,
  schemes: readonly HashScheme[] = ['bcrypt', 'apr1'],
  who?: string,
): Promise<ProbeResult> {
  const dir = await mkdtemp(nodePath.join(os.tmpdir(), 'mlflow-secure-probe-'));
  const n = platform.toNginxPath;
  const j = nodePath.join;
  try {
    for (const d of ['logs', 'temp', 'html']) await mkdir(j(dir, d));
    await writeFile(j(dir, 'html', 'index.html'), 'ok\n');
    const users = schemes.map((scheme) => ({ scheme, user: `probe-${scheme}`, password: generatePassword() }));
    await writeFile(
      j(dir, 'htpasswd'),
      renderHtpasswd(users.map((u) => ({ user: u.user, hash: hashPassword(u.password, u.scheme) }))),
      { mode: 0o600 },
    );
    const port = await chooseMlflowPort([]);
    const t = (name: string) => quote(n(j(dir, 'temp', name)));
    const conf = [
      ...(who ? [who] : []),
      'daemon off;',
      'worker_processes 1;',
      `pid ${quote(n(j(dir, 'logs', 'nginx.pid')))};`,
      `error_log ${quote(n(j(dir, 'logs', 'error.log')))};`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log off; client_body_temp_path ${t('b')}; proxy_temp_path ${t('p')}; fastcgi_temp_path ${t('f')}; uwsgi_temp_path ${t('u')}; scgi_temp_path ${t('s')};`,
      `  server { listen 127.0.0.1:${port}; root ${quote(n(j(dir, 'html')))};`,
      `    auth_basic "probe"; auth_basic_user_file ${quote(n(j(dir, 'htpasswd')))}; }`,
      '}',
      '',
    ].join('\n');
    await writeFile(j(dir, 'nginx.conf'), conf);
    const child = await startProcess({
      name: 'nginx',
      file: nginx,
      args: ['-p', `${n(dir)}/`, '-c', n(j(dir, 'nginx.conf'))],
      env: {},
      cwd: dir,
      logFile: j(dir, 'logs', 'stdout.log'),
      platform,
    });
    const { default: waitOn } = await import('wait-on');
    try {
      await Promise.race([
        waitOn({ resources: [`tcp:127.0.0.1:${port}`], interval: 50, window: 0, timeout: 10_000 }),
        child.exited.then((e) =>
          Promise.reject(new Error(`nginx exited (${e.code ?? e.signal}) during the hash probe`)),
        ),
      ]);
      const result = {} as ProbeResult;
      for (const u of users) {
        const right = await request({
          host: '127.0.0.1',
          port,
          path: '/',
          auth: { user: u.user, password: u.password },
        });
        const wrong = await request({
          host: '127.0.0.1',
          port,
          path: '/',
          auth: { user: u.user, password: `${u.password}x` },
        });
        result[u.scheme] = right.status === 200 && wrong.status === 401 ? 'verified' : 'not verified';
      }
      return result;
    } finally {
      await stopTree(
        { name: 'nginx', pid: child.pid, group: child.group, identity: [] },
        { platform, graceMs: 2_000, verify: false },
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
