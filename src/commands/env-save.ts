/**
 * `mlflow-secure env --save` and `env --forget`: credentials that stay, in MLflow's own
 * `~/.mlflow/credentials` (read by the Python client by itself) or in a `.env` file (`--dotenv`).
 * What is printed names the file and the user, never the password.
 */
import type { Context } from '../context.js';
import { ExitCode, UserError } from '../errors.js';
import {
  forgetDotenv,
  forgetMlflowCredentials,
  gitWouldCommit,
  mlflowCredentialsFile,
  saveDotenv,
  saveMlflowCredentials,
  type Forgotten,
  type Saved,
} from '../credentials/files.js';
import {
  CERT_PATH_ENV,
  DOTENV_KEYS,
  TRACKING_PASSWORD_ENV,
  TRACKING_URI_ENV,
  type EnvTls,
} from '../credentials/client-env.js';
import { verifyPassword } from '../users/htpasswd.js';
import { needsPythonEscapes } from '../credentials/dotenv.js';
import { setLine, type Shell } from '../credentials/shell.js';
import { PASSWORD_ENV } from '../users/password.js';
import { readUsers } from '../users/password-file.js';

export interface SaveRequest {
  url: string;
  user: string;
  /** The password, when mlflow-secure knows it (generated, or MLFLOW_SECURE_PASSWORD). */
  password: string | undefined;
  /** It came from MLFLOW_SECURE_PASSWORD, so it is checked against the password file first. */
  fromEnv: boolean;
  htpasswd: string;
  shell: Shell;
  dotenv?: string;
  /** With HTTPS: the CA certificate clients trust (env.ts). */
  tls?: EnvTls;
}

/** A password is written to a file only once it is known to log in: a wrong one would sit there, failing later. */
async function checkedPassword(r: SaveRequest, ctx: Context): Promise<string> {
  if (!r.password) {
    throw new UserError(`mlflow-secure does not know ${r.user}'s password (it did not generate it)`, {
      hint: `Put it in ${PASSWORD_ENV} and run \`mlflow-secure env --save\` again`,
    });
  }
  ctx.out.addSecret(r.password);
  if (r.fromEnv) {
    const entry = ((await readUsers(r.htpasswd)) ?? []).find((e) => e.user === r.user);
    if (!entry || !verifyPassword(r.password, entry.hash)) {
      throw new UserError(`${PASSWORD_ENV} is not ${r.user}'s password in ${r.htpasswd}`, {
        hint: `Give the right one (or set a new one with \`mlflow-secure user passwd ${r.user}\`), then run again`,
      });
    }
  }
  return r.password;
}

function noteMode(saved: Saved, ctx: Context): void {
  if (saved.loosened) ctx.out.note(`It was mode ${saved.loosened} (readable by others); it is 0600 now.`);
}

export async function save(r: SaveRequest, ctx: Context): Promise<number> {
  const password = await checkedPassword(r, ctx);
  const { platform, out } = ctx;
  if (r.dotenv !== undefined) {
    const file = platform.path.resolve(ctx.cwd, r.dotenv);
    const values = [r.url, r.user, password];
    const entries: { key: string; value: string; what: string }[] = DOTENV_KEYS.map((key, i) => ({
      key,
      value: values[i]!,
      what: key === TRACKING_PASSWORD_ENV ? 'password' : key,
    }));
    if (r.tls?.certPath !== undefined) entries.push({ key: CERT_PATH_ENV, value: r.tls.certPath, what: CERT_PATH_ENV });
    const saved = await saveDotenv(file, entries, platform);
    out.note(
      `${saved.created ? 'Wrote' : 'Updated'} ${file} (owner-only, 0600): ${entries.map((e) => e.key).join(', ')} for user ${r.user}; other lines kept.`,
    );
    if (r.tls?.missing) out.note(`It has no ${CERT_PATH_ENV}: ${r.tls.missing}.`);
    noteMode(saved, ctx);
    out.note(
      `Load it with \`mlflow --env-file ${r.dotenv} <command>\` or python-dotenv's load_dotenv(); undo: mlflow-secure env --forget --dotenv ${r.dotenv}`,
    );
    if (needsPythonEscapes(password)) {
      out.note(
        "The password holds ' or \\, written with python-dotenv's escapes (\\' and \\\\): a shell's `. file` reads it differently.",
      );
    }
    if (await gitWouldCommit(file, platform, ctx.env)) {
      out.warn(
        `${file} is inside a git work tree and git does not ignore it: add it to .gitignore so the password is never committed`,
      );
    }
    return ExitCode.ok;
  }
  const file = mlflowCredentialsFile(ctx.env, platform);
  const saved = await saveMlflowCredentials(file, r.user, password, platform);
  out.note(
    `${saved.created ? 'Wrote' : 'Updated'} ${file} (owner-only, 0600): [mlflow] mlflow_tracking_username = ${r.user}, and the password.`,
  );
  if (saved.previousUser !== undefined)
    out.note(`It replaced the credentials of user ${JSON.stringify(saved.previousUser)}.`);
  noteMode(saved, ctx);
  out.note(
    "MLflow's Python client sends them to any tracking server it is pointed at, unless MLFLOW_TRACKING_USERNAME/_PASSWORD are set. Undo: mlflow-secure env --forget",
  );
  if (r.tls) {
    // MLflow reads the CA path only from the environment: the credentials file has no key for it.
    out.note(
      `The file holds no URL and no CA: clients still need ${TRACKING_URI_ENV} and ${CERT_PATH_ENV}, set by the lines on standard output.`,
    );
    if (r.tls.missing) out.note(`${CERT_PATH_ENV}: ${r.tls.missing}.`);
  } else out.note('The file holds no URL: clients still need MLFLOW_TRACKING_URI, set by the line on standard output.');
  // Only the URL (and the CA path), on stdout: `eval "$(mlflow-secure env --save)"` sets them.
  out.printSecretOnce(setLine(r.shell, TRACKING_URI_ENV, r.url));
  if (r.tls?.certPath !== undefined) out.printSecretOnce(setLine(r.shell, CERT_PATH_ENV, r.tls.certPath));
  return ExitCode.ok;
}

function reportForgotten(f: Forgotten, what: string, ctx: Context): void {
  if (f.removed.length === 0) {
    ctx.out.info(`Nothing to forget: ${f.existed ? `${f.file} holds no ${what}` : `there is no ${f.file}`}.`);
    return;
  }
  const who = f.user !== undefined ? ` of user ${JSON.stringify(f.user)}` : '';
  ctx.out.info(
    `Removed ${f.removed.join(', ')}${who} from ${f.file}${f.deleted ? ', and the file, which held nothing else' : ''}.`,
  );
}

export async function forget(dotenv: string | undefined, ctx: Context): Promise<number> {
  if (dotenv !== undefined) {
    const f = await forgetDotenv(
      ctx.platform.path.resolve(ctx.cwd, dotenv),
      [...DOTENV_KEYS, CERT_PATH_ENV],
      ctx.platform,
    );
    reportForgotten(f, DOTENV_KEYS.join(', '), ctx);
    return ExitCode.ok;
  }
  const f = await forgetMlflowCredentials(mlflowCredentialsFile(ctx.env, ctx.platform), ctx.platform);
  reportForgotten(f, 'MLflow credentials', ctx);
  return ExitCode.ok;
}
