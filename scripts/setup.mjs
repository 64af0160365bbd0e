#!/usr/bin/env node
// One cross-platform set-up for `npm start`, `npm test` and `npm run bench`: installs what is
// missing and nothing else, so it is fast (well under a second) when all is in place.
//   1. npm packages (npm ci when node_modules is older than package-lock.json)
//   2. the TypeScript build (when any file under src/ is newer than dist/)
//   3. nginx from the OS packages (apt-get/dnf/brew; root or passwordless sudo needed on Linux)
//   4. MLflow from PyPI into ./.venv, pinned by requirements.txt, with the store drivers the tests
//      use (requirements-postgres.txt: psycopg; requirements-s3.txt: boto3)
// Plain JavaScript on purpose: it runs before anything is installed or built.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const windows = process.platform === 'win32';
const quiet = process.argv.includes('--quiet');
const log = (line) => quiet || console.error(`setup: ${line}`);

function fail(message, hint) {
  console.error(`setup: error: ${message}${hint ? `. ${hint}` : ''}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, {
    stdio: options.capture ? 'pipe' : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
    shell: windows && options.shell,
    cwd: root,
    ...options,
  });
  return r;
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(p) : mtime(p));
  }
  return newest;
}

// 0. Node itself.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19))
  fail(`Node.js ${process.versions.node} is too old`, 'Install Node.js 20.19 or newer (22 LTS recommended)');

// 1. npm packages.
const npm = windows ? 'npm.cmd' : 'npm';
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (mtime(installed) < mtime(lock)) {
  log('installing npm packages (npm ci)...');
  const r = run(npm, ['ci', '--no-audit', '--no-fund'], { shell: true });
  if (r.status !== 0) fail('npm ci failed', 'Read the npm output above');
} else log('npm packages: ok');

// 2. Build.
const stamp = path.join(root, 'dist', 'cli.js');
if (
  mtime(stamp) <
  Math.max(
    newestUnder(path.join(root, 'src')),
    mtime(path.join(root, 'tsconfig.json')),
    mtime(path.join(root, 'tsconfig.build.json')),
  )
) {
  log('building (tsc)...');
  const r = run(process.execPath, [
    path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    'tsconfig.build.json',
  ]);
  if (r.status !== 0) fail('the TypeScript build failed', 'Read the compiler output above');
} else log('build: ok');

// 3. nginx.
function findNginx() {
  if (process.env.MLFLOW_SECURE_NGINX)
    return existsSync(process.env.MLFLOW_SECURE_NGINX) ? process.env.MLFLOW_SECURE_NGINX : undefined;
  const exe = windows ? 'nginx.exe' : 'nginx';
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    ...(windows
      ? ['C:\\nginx']
      : ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/opt/homebrew/bin', '/usr/local/bin']),
  ];
  return dirs
    .filter(Boolean)
    .map((d) => path.join(d, exe))
    .find((f) => existsSync(f));
}
function canBeRoot() {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return [];
  return run('sudo', ['-n', 'true'], { capture: true }).status === 0 ? ['sudo', '-n'] : undefined;
}
function has(command) {
  return (
    run(windows ? 'where' : 'sh', windows ? [command] : ['-c', `command -v ${command}`], { capture: true }).status === 0
  );
}
if (!findNginx()) {
  const sudo = process.platform === 'linux' ? canBeRoot() : [];
  const asRoot = (args) =>
    sudo && sudo.length > 0 ? run(sudo[0], [...sudo.slice(1), ...args]) : run(args[0], args.slice(1));
  if (process.platform === 'linux' && sudo && has('apt-get')) {
    log('installing nginx from the OS packages (apt-get install nginx-light)...');
    // Keep the package's init script from starting a system-wide nginx on port 80.
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
    let r = spawnSync(
      sudo[0] ?? 'apt-get',
      sudo.length
        ? [...sudo.slice(1), 'apt-get', 'install', '-y', '-q', 'nginx-light']
        : ['install', '-y', '-q', 'nginx-light'],
      { stdio: 'inherit', env },
    );
    if (r.status !== 0) {
      asRoot(['apt-get', 'update', '-q']);
      r = spawnSync(
        sudo[0] ?? 'apt-get',
        sudo.length
          ? [...sudo.slice(1), 'apt-get', 'install', '-y', '-q', 'nginx-light']
          : ['install', '-y', '-q', 'nginx-light'],
        { stdio: 'inherit', env },
      );
    }
    if (r.status !== 0) fail('apt-get could not install nginx-light', 'Install nginx yourself, then run this again');
  } else if (process.platform === 'linux' && sudo && has('dnf')) {
    log('installing nginx (dnf install nginx)...');
    if (asRoot(['dnf', 'install', '-y', 'nginx']).status !== 0) fail('dnf could not install nginx');
  } else if (process.platform === 'darwin' && has('brew')) {
    log('installing nginx (brew install nginx)...');
    if (run('brew', ['install', 'nginx']).status !== 0) fail('brew could not install nginx');
  } else {
    const how = windows
      ? 'Download nginx for Windows from nginx.org/en/download.html, unzip it to C:\\nginx (or set MLFLOW_SECURE_NGINX to its nginx.exe)'
      : 'Install it with your package manager as root (e.g. sudo apt-get install nginx-light), or set MLFLOW_SECURE_NGINX';
    fail('nginx is not installed and cannot be installed from here', how);
  }
  if (!findNginx()) fail('nginx is still not found after installing it', 'Set MLFLOW_SECURE_NGINX to its path');
  log(`nginx: installed (${findNginx()})`);
} else log(`nginx: ok (${findNginx()})`);

// 4. MLflow in ./.venv, pinned by requirements.txt, plus the PostgreSQL and S3 drivers.
const venv = path.join(root, '.venv');
const venvPython = windows ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
const venvMlflow = windows ? path.join(venv, 'Scripts', 'mlflow.exe') : path.join(venv, 'bin', 'mlflow');
const requirementFiles = ['requirements.txt', 'requirements-postgres.txt', 'requirements-s3.txt'].map((f) =>
  path.join(root, f),
);
const requirements = requirementFiles.map((f) => readFileSync(f, 'utf8')).join('');
const venvStamp = path.join(venv, '.mlflow-secure-requirements');
const current = existsSync(venvStamp) ? readFileSync(venvStamp, 'utf8') : '';
if (!existsSync(venvMlflow) || current !== requirements) {
  if (!existsSync(venvPython)) {
    const candidates = windows ? [['py', '-3'], ['python']] : [['python3'], ['python']];
    const python = candidates.find(([cmd, ...rest]) => {
      const r = run(cmd, [...rest, '-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'], {
        capture: true,
      });
      return r.status === 0;
    });
    if (!python)
      fail(
        'Python 3.10 or newer was not found',
        windows
          ? 'Install it from python.org (tick "Add python.exe to PATH")'
          : 'Install python3 (3.10+) with your package manager',
      );
    log(`creating ${venv}...`);
    let r = run(python[0], [...python.slice(1), '-m', 'venv', venv]);
    if (r.status !== 0 && process.platform === 'linux' && canBeRoot() && has('apt-get')) {
      log('python3 -m venv failed: installing python3-venv...');
      const sudo = canBeRoot();
      run(
        sudo[0] ?? 'apt-get',
        sudo.length
          ? [...sudo.slice(1), 'apt-get', 'install', '-y', '-q', 'python3-venv']
          : ['install', '-y', '-q', 'python3-venv'],
      );
      r = run(python[0], [...python.slice(1), '-m', 'venv', '--clear', venv]);
    }
    if (r.status !== 0)
      fail(`could not create ${venv}`, 'Install the venv module (Debian/Ubuntu: apt-get install python3-venv)');
  }
  log(
    `installing MLflow into ${venv} (pip install -r requirements.txt -r requirements-postgres.txt -r requirements-s3.txt; a few minutes the first time)...`,
  );
  const r = run(venvPython, [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    ...requirementFiles.flatMap((f) => ['-r', f]),
  ]);
  if (r.status !== 0) fail('pip could not install MLflow', 'Read the pip output above');
  writeFileSync(venvStamp, requirements);
  log('MLflow: installed');
} else log(`MLflow: ok (${venvMlflow})`);
