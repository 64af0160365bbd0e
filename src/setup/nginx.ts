/**
 * Getting nginx onto the machine: with the OS package manager where `setup` may run it
 * (apt-get or dnf as root, or through `sudo -n` when that needs no password; Homebrew on
 * macOS), otherwise the one command for this machine, and where nginx will then be found.
 */
import { UserError } from '../errors.js';
import type { CommandSpec, Platform } from '../system/platform.js';
import { failure, type Runner } from './runner.js';

export type NginxInstallPlan =
  | { kind: 'auto'; commands: CommandSpec[] }
  | {
      kind: 'manual';
      /** The one command to run, or what to do when there is none. */
      command: string;
      /** Why setup does not run it itself. */
      why: string;
      /** Where nginx ends up, when that is worth saying (Windows: outside PATH). */
      where?: string;
    };

export interface MachineProbe {
  isRoot: boolean;
  /** Whether `name` is on PATH. */
  has(name: string): Promise<boolean>;
  /** Whether `sudo -n true` succeeds (sudo without a password prompt). */
  sudoWorks(): Promise<boolean>;
}

const show = (c: CommandSpec) => [c.file, ...c.args].join(' ');

/** Linux package managers, in the order they are tried; `auto`: setup runs it itself. */
const LINUX_MANAGERS: { name: string; commands: string[][]; auto: boolean }[] = [
  // Update first: a fresh machine or container has empty package lists, a stale one 404s.
  // `nginx` is the package's name on Debian 12 and 13 and on Ubuntu alike.
  {
    name: 'apt-get',
    commands: [
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', 'nginx'],
    ],
    auto: true,
  },
  { name: 'dnf', commands: [['dnf', 'install', '-y', 'nginx']], auto: true },
  { name: 'zypper', commands: [['zypper', 'install', 'nginx']], auto: false },
  { name: 'pacman', commands: [['pacman', '-S', 'nginx']], auto: false },
  { name: 'apk', commands: [['apk', 'add', 'nginx']], auto: false },
];

export async function planNginxInstall(platform: Platform, probe: MachineProbe): Promise<NginxInstallPlan> {
  if (platform.isWindows) {
    // Scoop needs no administrator and puts nginx.exe in <scoop>\apps\nginx\current (its
    // manifest: https://github.com/ScoopInstaller/Main/blob/master/bucket/nginx.json).
    // Chocolatey's package unzips to <tools location>\nginx-<version>, C:\tools by default.
    // winget's community repository has no nginx package (only nginx's Prometheus exporter).
    // Each of those folders is in nginxSearchDirs, so `up` finds nginx.exe without PATH.
    if (await probe.has('scoop'))
      return {
        kind: 'manual',
        command: 'scoop install nginx',
        why: 'on Windows setup does not install programs',
        where: '%USERPROFILE%\\scoop\\apps\\nginx\\current',
      };
    if (await probe.has('choco'))
      return {
        kind: 'manual',
        command: 'choco install nginx (in an administrator shell)',
        why: 'on Windows setup does not install programs',
        where: 'C:\\tools\\nginx-<version>',
      };
    return {
      kind: 'manual',
      command:
        'download nginx for Windows from https://nginx.org/en/download.html and unzip it to C:\\ (it makes C:\\nginx-<version>)',
      why: 'no scoop or choco on PATH',
      where: 'C:\\nginx-<version>',
    };
  }
  if (platform.name === 'darwin') {
    if (await probe.has('brew')) {
      // Homebrew refuses to run as root.
      return probe.isRoot
        ? {
            kind: 'manual',
            command: 'brew install nginx (as yourself, not root)',
            why: 'Homebrew does not run as root',
          }
        : { kind: 'auto', commands: [{ file: 'brew', args: ['install', 'nginx'] }] };
    }
    if (await probe.has('port'))
      return { kind: 'manual', command: 'sudo port install nginx', why: 'MacPorts needs root' };
    return {
      kind: 'manual',
      command: 'install Homebrew (https://brew.sh), then: brew install nginx',
      why: 'no Homebrew or MacPorts on PATH',
    };
  }
  for (const m of LINUX_MANAGERS) {
    if (!(await probe.has(m.name))) continue;
    const last = m.commands.at(-1)!;
    if (!m.auto)
      return {
        kind: 'manual',
        command: [...(probe.isRoot ? [] : ['sudo']), ...last].join(' '),
        why: `setup installs with apt-get or dnf only, this machine has ${m.name}`,
      };
    if (probe.isRoot) return { kind: 'auto', commands: m.commands.map(([file, ...args]) => ({ file: file!, args })) };
    if (await probe.sudoWorks())
      return { kind: 'auto', commands: m.commands.map((c) => ({ file: 'sudo', args: ['-n', ...c] })) };
    return {
      kind: 'manual',
      command: `sudo ${last.join(' ')}`,
      why: 'installing needs root, and sudo asks for a password',
    };
  }
  return {
    kind: 'manual',
    command: "install nginx with your distribution's package manager",
    why: 'no package manager setup knows (apt-get, dnf, zypper, pacman, apk)',
  };
}

export function describePlan(plan: NginxInstallPlan): string {
  return plan.kind === 'auto' ? plan.commands.map(show).join(' && ') : plan.command;
}

/** The error for a plan setup cannot carry out: what is wrong, and the one command to run. */
export function manualInstallError(plan: Extract<NginxInstallPlan, { kind: 'manual' }>): UserError {
  const where = plan.where ? ` (nginx.exe then is in ${plan.where}, where mlflow-secure looks)` : '';
  return new UserError(`nginx is not installed, and setup cannot install it here (${plan.why})`, {
    hint: `Run: ${plan.command}${where}; then mlflow-secure setup again`,
  });
}

export async function runNginxInstall(
  plan: Extract<NginxInstallPlan, { kind: 'auto' }>,
  run: Runner,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  // No questions from apt-get's configuration step: nothing reads our standard input.
  const childEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const c of plan.commands) {
    const r = await run(c.file, c.args, { show: true, env: childEnv, timeoutMs: 15 * 60_000 });
    if (r.exitCode !== 0)
      throw new UserError(`${show(c)} failed (${failure(r)})`, {
        hint: 'Read its output above, install nginx yourself, then run mlflow-secure setup again',
      });
  }
}
