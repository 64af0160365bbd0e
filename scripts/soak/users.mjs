// Part 4, users: N `user add` at once into the state folder of a running stack. Every user must
// be on file (`user list --json`) and able to log in through nginx: 200 with its password, 401
// with a wrong one. The admin `up` created must survive too.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  API_PATH,
  check,
  cleanEnv,
  cli,
  describeProcs,
  httpGet,
  inspectStopped,
  listeningPortsOf,
  observe,
  say,
  seconds,
  stackProcs,
  tail,
  trackStateDir,
  upDetached,
} from './lib.mjs';

export async function users({ count, work, password }) {
  const part = 'users';
  const cwd = path.join(work, 'users');
  mkdirSync(cwd, { recursive: true });
  const stateDir = path.join(cwd, 'state');
  const groups = trackStateDir(stateDir, cwd);
  const env = cleanEnv({ MLFLOW_SECURE_PASSWORD: password });
  say(`users: ${count} concurrent \`user add\` into one state folder, then a login for each`);
  const up = await upDetached(stateDir, cwd, env);
  if (!check(part, 'up -d', up.ok, up.detail)) return { figures: ['stack did not start'] };
  const procs = stackProcs(stateDir, groups);
  observe(groups, procs);
  const ports = listeningPortsOf(procs.map((p) => p.pid));

  const people = Array.from({ length: count }, (_, i) => ({
    user: `soak-user-${i}`,
    password: `pw-${i}-${randomBytes(9).toString('base64url')}`,
  }));
  const started = performance.now();
  // Passwords on stdin, never in argv.
  const adds = await Promise.all(
    people.map((p) =>
      cli(['user', 'add', p.user, '--password-stdin', '--state-dir', stateDir], {
        cwd,
        env: cleanEnv(),
        input: `${p.password}\n`,
        timeoutMs: 120_000,
      }),
    ),
  );
  const addMs = performance.now() - started;
  adds.forEach((r, i) => {
    check(
      part,
      `user add ${people[i].user} exits 0`,
      r.code === 0,
      `exit ${r.code ?? r.signal}: ${tail(r.stderr || r.stdout)}`,
    );
    check(
      part,
      `user add ${people[i].user}: password not echoed`,
      !(r.stdout + r.stderr).includes(people[i].password),
      'its password appeared in the output',
    );
  });

  const list = await cli(['user', 'list', '--json', '--state-dir', stateDir], {
    cwd,
    env: cleanEnv(),
    timeoutMs: 30_000,
  });
  let names = [];
  try {
    names = JSON.parse(list.stdout).map((row) => row.user);
  } catch {
    check(part, 'user list --json parses', false, `exit ${list.code}: ${tail(list.stdout + list.stderr)}`);
  }
  const missing = people.filter((p) => !names.includes(p.user)).map((p) => p.user);
  check(part, `all ${count} users on file`, missing.length === 0, `${missing.length} missing: ${missing.join(', ')}`);
  check(part, 'admin still on file', names.includes('admin'), `users on file: ${names.join(', ')}`);

  let loggedIn = 0;
  for (const p of people) {
    const right = await httpGet(up.url, API_PATH, p);
    const wrong = await httpGet(up.url, API_PATH, { user: p.user, password: `${p.password}x` });
    if (
      check(
        part,
        `${p.user} logs in through nginx (200 right, 401 wrong)`,
        right === 200 && wrong === 401,
        `right password -> ${right}, wrong -> ${wrong}`,
      )
    )
      loggedIn++;
  }
  const admin = await httpGet(up.url, API_PATH, { user: 'admin', password });
  check(part, 'admin still logs in', admin === 200, `got ${admin}`);

  const figures = [
    `${count} concurrent adds took ${seconds(addMs)}; ${count - missing.length}/${count} on file, ${loggedIn}/${count} log in`,
  ];
  say(`users: ${figures[0]}`);

  const down = await cli(['down', '--state-dir', stateDir], { cwd, env, timeoutMs: 60_000 });
  check(part, 'down exits 0', down.code === 0, `exit ${down.code}: ${tail(down.stderr || down.stdout)}`);
  const left = await inspectStopped(stateDir, groups, { url: up.url, ports });
  const issues = [
    ...(left.procsNow.length ? [`processes: ${describeProcs(left.procsNow)}`] : []),
    ...left.portIssues,
    ...left.fileIssues,
  ];
  check(part, 'nothing left after down', issues.length === 0, issues.join('; '));
  return { figures };
}
