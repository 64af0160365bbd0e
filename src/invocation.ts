/**
 * How the user started mlflow-secure, so that every hint names a command that works for them:
 * `mlflow-secure down` when it is installed on PATH, `npx mlflow-secure down` after `npm start`
 * or `npx` (npm exec finds a project's own bin and its dependencies' bins), and
 * `node dist/cli.js down` when it was run by path.
 */
import { statSync } from 'node:fs';
import type { Platform } from './system/platform.js';
import { quoteBash, quotePowerShell } from './credentials/shell.js';

export const BIN_NAME = 'mlflow-secure';

export interface Invocation {
  /** The script node ran (process.argv[1]). */
  script: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd: string;
  platform: Platform;
  /** Is a `mlflow-secure` command on PATH? */
  onPath: (name: string) => boolean;
}

/** The command a user types to run mlflow-secure again, the way they ran it this time. */
export function selfCommand(o: Invocation): string {
  const { env, platform } = o;
  // `npx mlflow-secure` (npm_command=exec), or an npm script of this package (`npm start`).
  if (env.npm_command === 'exec' || (env.npm_lifecycle_event !== undefined && env.npm_package_name === BIN_NAME))
    return `npx ${BIN_NAME}`;
  const script = o.script ?? '';
  const slashed = script.replaceAll('\\', '/');
  const installed =
    slashed.includes(`/node_modules/${BIN_NAME}/`) ||
    platform.path.basename(script).replace(/\.(cmd|ps1|exe)$/i, '') === BIN_NAME;
  if (installed && o.onPath(BIN_NAME)) return BIN_NAME;
  // A project's dependency: npx finds it in ./node_modules/.bin.
  const local = platform.path.join(o.cwd, 'node_modules', BIN_NAME).replaceAll('\\', '/');
  if (slashed.startsWith(`${local}/`)) return `npx ${BIN_NAME}`;
  if (script === '') return BIN_NAME;
  const relative = platform.path.relative(o.cwd, script);
  const shown =
    relative !== '' && !relative.startsWith('..') && !platform.path.isAbsolute(relative) ? relative : script;
  return `node ${shellWord(shown, platform)}`;
}

/**
 * One word for the shell the hints are written for (sh, bash, zsh; PowerShell on Windows), quoted
 * only when it needs it. Windows: double quotes, which cmd.exe reads too, unless the word holds
 * what PowerShell expands inside them (a backtick or `$`; a path cannot hold `"`).
 */
export function shellWord(value: string, platform: Platform): string {
  if (platform.isWindows) {
    if (/^[\w.\\/:+,@-]+$/.test(value)) return value;
    return /[`$"]/.test(value) ? quotePowerShell(value) : `"${value}"`;
  }
  return /^[\w./:+,@-]+$/.test(value) ? value : quoteBash(value);
}

/** `--state-dir <dir>` as typed (relative stays relative, as the hints' own folder is), quoted for the shell. */
export function stateDirArg(dir: string, platform: Platform): string {
  return `--state-dir ${shellWord(dir, platform)}`;
}

/** Looks for the bin on PATH (the names npm writes: `mlflow-secure`, and `.cmd` on Windows). */
export function binOnPath(env: NodeJS.ProcessEnv, platform: Platform): (name: string) => boolean {
  return (name) => {
    const names = platform.isWindows ? [`${name}.cmd`, `${name}.exe`, `${name}.ps1`] : [name];
    return platform.pathDirs(env).some((dir) =>
      names.some((n) => {
        try {
          return statSync(platform.path.join(dir, n)).isFile();
        } catch {
          return false;
        }
      }),
    );
  };
}

const COMMANDS = 'user(?: (?:add|passwd|remove|list)\\b)?|up|down|status|ps|logs|config|env|doctor|setup|open|restart';
/**
 * `mlflow-secure <command>` as a word: not `.mlflow-secure/`, not `mlflow-secure-probe-...`. With
 * `user`, its action too: a `--state-dir` reads best after `user add`.
 */
const MENTION = new RegExp(`(?<![\\w./\\\\-])${BIN_NAME} (${COMMANDS})\\b`, 'g');

/**
 * Rewrites every `mlflow-secure <command>` in a line the tool prints to the user's own command.
 * `stateDirArg` (stateDirArg's, when --state-dir was typed) goes after each command but `setup`,
 * which has no state folder, so that a hint works as printed.
 */
export function nameCommands(text: string, self: string, stateDirArg?: string): string {
  if (self === BIN_NAME && !stateDirArg) return text;
  return text.replace(MENTION, (match: string, command: string, offset: number) => {
    const given = text.startsWith(' --state-dir', offset + match.length);
    const add = stateDirArg && command !== 'setup' && !given ? ` ${stateDirArg}` : '';
    return `${self} ${command}${add}`;
  });
}
