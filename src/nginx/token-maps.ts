/**
 * `up --permissions`: a script's token (`Authorization: Bearer mlfs_...`) in place of the password,
 * on MLflow's REST API only. Pure: nginx.conf lines. nginx cannot check a token; MLflow's
 * authorization function can (python/mlflow_secure_auth.py), so auth_basic steps aside only for
 * requests that function is sure to see, and nginx hands it the token in a header of its own.
 *
 * Which paths: MLflow's auth app (mlflow/server/auth/__init__.py, 3.17.2) runs the function on
 * every Flask request but /static*, /favicon.ico, /health* and `/<api>/<version>/mlflow/server-info`
 * (is_unprotected_route); its FastAPI middleware runs it for the native routes it has a validator
 * for and, fail-closed, refuses the other native ones. So: paths under MLflow's REST prefixes
 * below, but none whose decoded path ends in /server-info. Anything else with a Bearer header
 * (the UI's pages, /static-files/, /health) meets auth_basic as before, and gets its 401.
 *
 * The prefix is checked on $request_uri, the raw target that proxy_pass (no URI part) sends on
 * unchanged, so MLflow's path (only percent-decoded) starts with the same prefix; server-info on
 * $uri, decoded like MLflow's path (and normalised, which can only exclude more).
 * Authorization itself stays blanked for every request (conf.ts): neither a password nor a
 * client's header reaches MLflow, and the token header is set by nginx on every request.
 */
import { TOKEN_HEADER, TOKEN_USER_HEADER } from '../stack/permissions.js';

/** The token of a request that may skip auth_basic, else empty. */
export const TOKEN_VARIABLE = '$mlflow_secure_token';
const PATH_VARIABLE = '$mlflow_secure_token_on_api';

/** MLflow's REST prefixes: /api and /ajax-api, 2.0 (tracking, registry, artifacts) and 3.0. */
export const TOKEN_PATH_PREFIX = '/(?:api|ajax-api)/(?:2[.]0/mlflow|2[.]0/mlflow-artifacts|3[.]0/mlflow)/';

export function tokenMaps(): string[] {
  return [
    `    map "$http_authorization:$request_uri" ${PATH_VARIABLE} {`,
    '        default "";',
    `        "~^Bearer (mlfs_[A-Za-z0-9_-]{43}):${TOKEN_PATH_PREFIX}" $1;`,
    '    }',
    `    map $uri ${TOKEN_VARIABLE} {`,
    `        default ${PATH_VARIABLE};`,
    '        "~/server-info$" "";',
    '    }',
  ];
}

/** auth_basic's value: off for a token request, else `passwordAuth` (the realm, or the preflight map). */
export function tokenAuthMap(variable: string, passwordAuth: string): string[] {
  return [`    map ${TOKEN_VARIABLE} ${variable} {`, `        "" ${passwordAuth};`, '        default off;', '    }'];
}

/** Empty (so not sent) unless the request's token skipped auth_basic: a client cannot send its own. */
export function tokenHeaderLines(): string[] {
  return [
    "            # A script's token, for MLflow's authorization function to check (nginx cannot).",
    `            proxy_set_header ${TOKEN_HEADER} ${TOKEN_VARIABLE};`,
    "            # The token's user, for the access log only.",
    `            proxy_hide_header ${TOKEN_USER_HEADER};`,
  ];
}

/**
 * nginx's `combined` format with the signed-in name, or for a token request the name the function
 * found (it answers with TOKEN_USER_HEADER, which nginx logs and keeps from the client). Only
 * MLflow behind the secret can set that header, and only on a request without a password.
 */
export function tokenAccessLog(accessLog: string): string[] {
  const upstream = `$upstream_http_${TOKEN_USER_HEADER.toLowerCase().replace(/-/g, '_')}`;
  return [
    // "-" for nobody, as `combined` writes an unset $remote_user.
    '    map $remote_user $mlflow_secure_log_remote_user {',
    '        "" "-";',
    '        default $remote_user;',
    '    }',
    `    map ${upstream} $mlflow_secure_log_user {`,
    '        "" $mlflow_secure_log_remote_user;',
    `        default ${upstream};`,
    '    }',
    '    log_format mlflow_secure \'$remote_addr - $mlflow_secure_log_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"\';',
    `    access_log ${accessLog} mlflow_secure;`,
  ];
}
