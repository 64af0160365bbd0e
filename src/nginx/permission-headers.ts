/**
 * `up --permissions`: the two headers that tell MLflow who signed in. Pure: nginx.conf lines.
 *
 * `proxy_set_header` replaces a header of the same name that the client sent, so a client cannot
 * name itself (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header); a
 * header with an underscore (X_MLflow_Secure_User, which WSGI would read as the same name) is
 * dropped by nginx (ignore_invalid_headers, on by default). The location that proxies is under
 * auth_basic, so $remote_user there is a name nginx verified; the one exception, a CORS
 * preflight of the stack's own pages, passes only without an Authorization header (conf.ts,
 * preflightMaps), so its $remote_user is empty and MLflow refuses it as nobody.
 */
import { USER_NAME } from '../users/user-name.js';
import { SECRET_HEADER, USER_HEADER } from '../stack/permissions.js';

const VARIABLE = '$mlflow_secure_verified_user';

/** The verified name, only if `user add` would accept it (a hand-edited password file may hold others). */
export function verifiedUserMap(): string[] {
  return [
    `    map $remote_user ${VARIABLE} {`,
    `        "~${USER_NAME.source}" $remote_user;`,
    '        default "";',
    '    }',
  ];
}

export function permissionHeaderLines(secret: string): string[] {
  if (!/^[\x21-\x7e]+$/.test(secret) || /["\\;]/.test(secret))
    throw new Error('the permissions secret must be plain ASCII');
  return [
    "            # Who signed in, for MLflow's permissions, and the secret that proves nginx said so.",
    `            proxy_set_header ${USER_HEADER} ${VARIABLE};`,
    `            proxy_set_header ${SECRET_HEADER} "${secret}";`,
  ];
}
