/**
 * Option defaults, in a module of their own with no imports: the CLI's help text needs them,
 * and `--version`, `down` and `status` must not load what the commands that use them load.
 */
export const DEFAULT_PORT = 5000;
export const DEFAULT_TIMEOUT_SECONDS = 120;
export const DEFAULT_STATE_DIR = '.mlflow-secure';
/** nginx worker processes; chosen by measurement (npm run bench, README "Performance"). */
export const DEFAULT_NGINX_WORKERS = 2;
/**
 * MLflow's uvicorn workers (`mlflow ui --workers`; MLflow's own default is 4) and its job
 * execution (on by default in MLflow: a job runner and 7 huey consumers). Measured on 2 cores
 * with MLflow 3.17.2 (npm run bench:workers, README "Performance"): 2 workers without jobs
 * reached the first API answer fastest (6.7 s, against 8.3 s for 1 worker and 12.5 s for 4) in
 * 5 processes and 0.78 GiB summed RSS (4 workers with jobs: 22.7 s, 15 processes, 3.1 GiB);
 * a second worker serves concurrent requests on the second core for about 0.29 GiB more. Jobs
 * cost 3-10 s of start-up and 1.6-1.9 GiB, serve only GenAI background features, and need
 * MLflow on a TCP port that every local account can reach.
 */
export const DEFAULT_MLFLOW_WORKERS = 2;
export const MAX_MLFLOW_WORKERS = 32;
export const DEFAULT_JOBS = false;

/**
 * MLflow before 3.3 (gunicorn) on POSIX: `mlflow ui --host unix:<state>/mlflow-gunicorn.sock
 * --port <port>` makes MLflow run `gunicorn -b unix:<that>:<port>`, which binds a Unix socket of
 * that literal name, and no TCP port (checked by run on 2.22.1 and 3.2.0). `up` links
 * `mlflow.sock` to it, so everything else reaches MLflow where uvicorn's socket is.
 */
export const GUNICORN_SOCKET_BASE = 'mlflow-gunicorn.sock';
/** The name gunicorn's socket gets in the state folder: the base and MLflow's port. */
export const gunicornSocketName = (port: number): string => `${GUNICORN_SOCKET_BASE}:${port}`;
export const GUNICORN_SOCKET_NAME = /^mlflow-gunicorn\.sock:\d{1,5}$/;
