/**
 * The commander declarations of `grant`, `revoke` and `grants`, kept beside the command so that
 * main.ts registers them with one call. The command module loads lazily, as every other does.
 */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { DEFAULT_STATE_DIR } from '../defaults.js';

const MLFLOW_HELP = "the MLflow whose Python edits MLflow's permissions (the one `up --permissions` runs)";

export function addGrantCommands(program: Command, ctx: Context, setCode: (code: number) => void): void {
  const common = (cmd: Command) =>
    cmd
      .option(
        '--state-dir <dir>',
        'folder with the generated config, password file, logs and stack record',
        DEFAULT_STATE_DIR,
      )
      .option('--mlflow <path>', MLFLOW_HELP);
  const load = () => import('./grant.js');
  common(
    program
      .command('grant')
      .description("give a user MLflow's permission on an experiment or registered model (after `up --permissions`)")
      .argument('<user>', 'a user of the password file')
      .argument('<kind>', 'experiment or registered-model')
      .argument('<resource>', "the experiment's name or id, or the registered model's name")
      .argument('<permission>', 'READ, EDIT, MANAGE or NO_PERMISSIONS')
      .option('--backend-store-uri <uri|path>', "where an experiment name is looked up (default: the running stack's)"),
  ).action(async function (this: Command, user: string, kind: string, resource: string, permission: string) {
    setCode(await (await load()).grant('grant', { user, kind, resource, permission }, this.opts(), ctx));
  });
  common(
    program
      .command('revoke')
      .description("take back a user's own permission on an experiment or registered model (the default applies)")
      .argument('<user>', 'a user of the password file')
      .argument('<kind>', 'experiment or registered-model')
      .argument('<resource>', "the experiment's name or id, or the registered model's name")
      .option('--backend-store-uri <uri|path>', "where an experiment name is looked up (default: the running stack's)"),
  ).action(async function (this: Command, user: string, kind: string, resource: string) {
    setCode(await (await load()).grant('revoke', { user, kind, resource }, this.opts(), ctx));
  });
  common(
    program
      .command('grants')
      .description("list MLflow's per-resource permissions (all users, or one)")
      .argument('[user]', 'only this user')
      .option('--json', 'as JSON'),
  ).action(async function (this: Command, user: string | undefined) {
    setCode(await (await load()).grants(user, this.opts(), ctx));
  });
}
