/**
 * Option defaults, in a module of their own with no imports: the CLI's help text needs them,
 * and `--version`, `down` and `status` must not load what the commands that use them load.
 */
export const DEFAULT_PORT = 5000;
export const DEFAULT_TIMEOUT_SECONDS = 120;
export const DEFAULT_STATE_DIR = '.mlflow-secure';
/** nginx worker processes; chosen by measurement (npm run bench, README "Performance"). */
export const DEFAULT_NGINX_WORKERS = 2;
