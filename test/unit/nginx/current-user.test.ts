import { describe, expect, it } from 'vitest';
import { CURRENT_USER_PATHS, currentUserBody, UNNAMED_USER } from '../../../src/nginx/current-user.js';
import { USER_NAME } from '../../../src/users/htpasswd.js';
import { buildPlan, type Found } from '../../../src/stack/plan.js';
import { resolveSettings } from '../../../src/stack/settings.js';
import { getPlatform, type Platform } from '../../../src/system/platform.js';

function confFor(platform: Platform): string {
  const windows = platform.isWindows;
  const found: Found = {
    mlflow: {
      file: windows ? 'C:\\Python\\python.exe' : '/home/ana/proj/.venv/bin/mlflow',
      args: windows ? ['-m', 'mlflow'] : [],
    },
    nginx: windows ? 'C:\\nginx\\nginx.exe' : '/usr/sbin/nginx',
    nginxVersion: [1, 22, 1],
    mlflowPort: 5101,
    listenPort: 5000,
    who: windows ? { uid: -1, username: 'ana' } : { uid: 1000, username: 'ana' },
  };
  const cwd = windows ? 'C:\\Users\\Ana\\proj' : '/home/ana/proj';
  return buildPlan(resolveSettings({}, { cwd, platform }), found, platform).nginx.conf;
}

const linuxConf = confFor(getPlatform('linux'));
const windowsConf = confFor(getPlatform('win32'));

/** The `map $remote_user ...` block of a rendered config: its regex and the placeholder. */
function mapOf(conf: string): { regex: string; value: string; fallback: string } {
  const m =
    /^ {4}map \$remote_user \$mlflow_secure_user \{\n {8}"~([^"]*)" (\S+);\n {8}default "([^"]*)";\n {4}\}$/m.exec(
      conf,
    );
  if (!m) throw new Error('no map block');
  return { regex: m[1] ?? '', value: m[2] ?? '', fallback: m[3] ?? '' };
}

/** The text after `return 200` in the named location, without its single quotes. */
function bodyTemplate(conf: string): string {
  const m = /^ {12}return 200 '([^']*)';$/m.exec(conf);
  if (!m) throw new Error('no return 200');
  return m[1] ?? '';
}

/** What nginx sends for a verified user name: the map, then the variable put into the body. */
function answerFor(conf: string, remoteUser: string): string {
  const map = mapOf(conf);
  const name = new RegExp(map.regex).test(remoteUser) ? remoteUser : map.fallback;
  return bodyTemplate(conf).replace('${mlflow_secure_user}', name);
}

describe('GET /users/current in the rendered nginx.conf', () => {
  it('answers both the UI path and its REST twin, GET only, through try_files', () => {
    expect(CURRENT_USER_PATHS).toEqual(['/ajax-api/2.0/mlflow/users/current', '/api/2.0/mlflow/users/current']);
    for (const path of CURRENT_USER_PATHS) {
      const start = linuxConf.indexOf(`        location = ${path} {\n`);
      expect(start, path).toBeGreaterThan(0);
      const block = linuxConf.slice(start, linuxConf.indexOf('\n        }\n', start));
      expect(
        block
          .split('\n')
          .map((l) => l.trim())
          .slice(1),
      ).toEqual(['limit_except GET {', 'deny all;', '}', 'try_files $uri @mlflow_secure_current_user;']);
    }
  });

  it('passes only names that USER_NAME accepts (the same regex, read by nginx as written)', () => {
    const map = mapOf(linuxConf);
    expect(map.regex).toBe(USER_NAME.source);
    // Written inside "..." without escaping: right only while the regex has neither " nor \,
    // and nginx's PCRE reads it as JavaScript does only without flags.
    expect(USER_NAME.source).not.toMatch(/["\\]/);
    expect(USER_NAME.flags).toBe('');
    expect(map.value).toBe('$remote_user');
    expect(map.fallback).toBe(UNNAMED_USER);
    expect(USER_NAME.test(UNNAMED_USER), 'the placeholder can be no real user').toBe(false);
  });

  it("writes MLflow's basic-auth shape with keys sorted as Flask's jsonify does", () => {
    expect(answerFor(linuxConf, 'alice')).toBe(
      '{"is_basic_auth":false,"user":{"id":0,"is_admin":false,"username":"alice"}}',
    );
    expect(currentUserBody('alice')).toBe(answerFor(linuxConf, 'alice'));
    expect(JSON.parse(answerFor(linuxConf, 'bob.smith+ml@example.com'))).toEqual({
      user: { id: 0, username: 'bob.smith+ml@example.com', is_admin: false },
      is_basic_auth: false,
    });
    expect(linuxConf).toContain("            default_type application/json;\n            return 200 '");
  });

  it.each([
    ['a quote', 'ev"il'],
    ['a backslash', 'ev\\il'],
    ['a JSON break-out', 'x","is_admin":true,"y":"'],
    ['an nginx variable', '$remote_addr'],
    ['a space', 'ana maria'],
    ['non-ASCII', 'zoë'],
    ['a line break', 'a\nb'],
    ['a leading dot', '.hidden'],
    ['65 characters', 'a'.repeat(65)],
    ['nothing', ''],
  ])('sends the placeholder for a name with %s, and the body stays valid JSON', (_what, name) => {
    const body = answerFor(linuxConf, name);
    expect(JSON.parse(body)).toEqual({
      user: { id: 0, username: UNNAMED_USER, is_admin: false },
      is_basic_auth: false,
    });
  });

  it('sends every name USER_NAME accepts unchanged: none of its characters needs a JSON escape', () => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+-';
    for (const c of chars) {
      const name = `a${c}${c}`;
      expect(USER_NAME.test(name), name).toBe(true);
      expect(JSON.parse(answerFor(linuxConf, name)).user.username, name).toBe(name);
      expect(JSON.stringify(name)).toBe(`"${name}"`);
    }
    expect(JSON.parse(answerFor(linuxConf, 'a'.repeat(64))).user.username).toBe('a'.repeat(64));
  });

  it('is the same text in the Windows render (nginx.exe reads the same config)', () => {
    const part = (conf: string) => {
      const map = conf.slice(conf.indexOf('    map $remote_user'), conf.indexOf('    upstream mlflow'));
      const locations = conf.slice(conf.indexOf('        # Who is signed in'), conf.lastIndexOf('    }\n}'));
      return { map, locations };
    };
    expect(windowsConf).toContain('auth_basic_user_file "C:/Users/Ana/proj/.mlflow-secure/htpasswd";');
    expect(part(windowsConf)).toEqual(part(linuxConf));
    expect(part(windowsConf).locations).toContain('location @mlflow_secure_current_user {');
    expect(answerFor(windowsConf, 'ana')).toBe(currentUserBody('ana'));
  });
});
