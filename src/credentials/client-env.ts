/**
 * The environment variables MLflow's clients read to reach a tracking server
 * (mlflow/environment_variables.py). One home for `env`, which prints them, and `env --save` /
 * `--forget`, which write and remove them: two copies of one name is how the CA path came to be
 * declared twice, and the two files to import each other.
 */
export const TRACKING_URI_ENV = 'MLFLOW_TRACKING_URI';
export const TRACKING_USERNAME_ENV = 'MLFLOW_TRACKING_USERNAME';
export const TRACKING_PASSWORD_ENV = 'MLFLOW_TRACKING_PASSWORD';
/** The CA certificate that verifies the server (passed to requests as `verify`). */
export const CERT_PATH_ENV = 'MLFLOW_TRACKING_SERVER_CERT_PATH';

/** What a `.env` file gets, in this order (with HTTPS also CERT_PATH_ENV, which --forget removes whenever present). */
export const DOTENV_KEYS = [TRACKING_URI_ENV, TRACKING_USERNAME_ENV, TRACKING_PASSWORD_ENV] as const;

/** With HTTPS: the CA certificate clients trust, or what to say when mlflow-secure does not know it. */
export type EnvTls = { certPath: string; missing?: undefined } | { certPath?: undefined; missing: string };
