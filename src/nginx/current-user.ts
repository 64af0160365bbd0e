/**
 * `GET /ajax-api/2.0/mlflow/users/current`, answered by nginx with the signed-in user. Pure: the
 * nginx.conf lines, as text.
 *
 * The MLflow UI asks it to show who is signed in (account menu, "Logged in as"). MLflow serves it
 * only with its basic-auth app (`--app-name basic-auth`); without it the answer is 404. The body
 * copies that app's shape (get_current_user in mlflow/server/auth/__init__.py, sent through
 * Flask's jsonify, which sorts keys:
 * https://github.com/mlflow/mlflow/blob/master/mlflow/server/auth/__init__.py). The REST twin
 * under /api/ is answered too, as that app does, so a script can ask whom it is signed in as.
 *
 * Why not a plain `return` in the location: `return` runs in the rewrite phase, before the access
 * phase where auth_basic checks the password, so it would answer everyone
 * (https://nginx.org/en/docs/dev/development_guide.html#http_phases). try_files runs after the
 * access phase; the file it looks for never exists (under nginx's default root, <prefix>/html,
 * which is never created), so a signed-in request goes on to the named location, which no client
 * can ask for directly (https://nginx.org/en/docs/http/ngx_http_core_module.html#location), and
 * only there does `return` write the body.
 */
import { USER_NAME } from '../users/user-name.js';

export const CURRENT_USER_PATHS = ['/ajax-api/2.0/mlflow/users/current', '/api/2.0/mlflow/users/current'] as const;

/** The name sent for a user whose name `user add` would refuse; it can match no real user either. */
export const UNNAMED_USER = '(unnamed)';

const VARIABLE = 'mlflow_secure_user';
const NAMED_LOCATION = '@mlflow_secure_current_user';

/**
 * The body for a name, as the basic-auth app writes it. `id` is 0 because there is no user table
 * (that app's ids start at 1). `is_admin` is false because the app's admin pages need its user and
 * role APIs, which MLflow alone does not serve. `is_basic_auth` is false because the UI then offers
 * a change-password form that PATCHes users/update-password (also absent: passwords change with
 * `mlflow-secure user passwd`); the price is no "Logout" item, and closing the browser signs out.
 */
export function currentUserBody(name: string): string {
  return JSON.stringify({ is_basic_auth: false, user: { id: 0, is_admin: false, username: name } });
}

/** The http-block `map`: the name nginx verified, only if it is one `user add` accepts. */
export function currentUserMap(): string[] {
  // $remote_user comes from the request's Authorization header. A hand-edited password file can
  // hold a name with `"` or `\`, which would break out of the JSON string; USER_NAME's characters
  // need no escaping in JSON, so only such names pass, and everything else gets the placeholder.
  return [
    `    map $remote_user $${VARIABLE} {`,
    `        "~${USER_NAME.source}" $remote_user;`,
    `        default "${UNNAMED_USER}";`,
    '    }',
  ];
}

/** The server-block locations; they inherit auth_basic and the add_header lines of the server. */
export function currentUserLocations(): string[] {
  // A marker that JSON.stringify leaves as it is, swapped for the variable, gives the body's text.
  const marker = 'NAME-MARKER';
  const body = currentUserBody(marker).replace(marker, `\${${VARIABLE}}`);
  return [
    '        # Who is signed in, for the MLflow UI. try_files runs after auth_basic; a `return`',
    '        # here would run before it and answer everyone.',
    ...CURRENT_USER_PATHS.flatMap((path) => [
      `        location = ${path} {`,
      // MLflow's route takes GET (and so HEAD) only. Other methods get 403 from `deny`, which is
      // checked before the password, so with or without credentials: nothing is answered.
      '            limit_except GET {',
      '                deny all;',
      '            }',
      `            try_files $uri ${NAMED_LOCATION};`,
      '        }',
    ]),
    `        location ${NAMED_LOCATION} {`,
    '            default_type application/json;',
    `            return 200 '${body}';`,
    '        }',
  ];
}
