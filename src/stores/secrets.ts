/**
 * Credentials inside store URIs (`postgresql://user:password@host/db`): masked for display,
 * listed for the redacting logger. Pure: strings in, strings out.
 *
 * The user info is read the way SQLAlchemy reads a database URL (MLflow hands store URIs to
 * it): the user name runs to the first `:`, and the password may hold raw `/ ? # @`. It ends at
 * the first `@` followed by a whole host (up to / ? # or the end), so a raw `@` in it is masked
 * with it. A `password=` (or `passwd`, `pwd`) query value, which libpq and ODBC drivers take,
 * counts too. When in doubt this masks more, never less.
 */

/** What stands for a secret everywhere mlflow-secure prints or records one. */
export const MASK = '********';

/** `scheme://` (`+driver` allowed), then a user name without `:` `/` or IPv6 brackets, then `:`. */
const USER_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^:/[\]]*:/;

const PASSWORD_KEYS = new Set(['password', 'passwd', 'pwd']);
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

interface Span {
  start: number;
  end: number;
  /** Query values decode `+` to a blank; user info does not. */
  plusIsSpace: boolean;
}

/** Where the credentials sit in `uri`, in order. */
function credentialSpans(uri: string): Span[] {
  const spans: Span[] = [];
  let afterHost = 0;
  const prefix = USER_PREFIX.exec(uri);
  if (prefix) {
    const start = prefix[0].length;
    for (let at = uri.indexOf('@', start); at !== -1; at = uri.indexOf('@', at + 1)) {
      // The host after this `@` must end the authority (at / ? # or the end), not at another `@`.
      const hostEnd = /[@/?#]|$/.exec(uri.slice(at + 1))!.index + at + 1;
      if (uri[hostEnd] === '@') continue;
      if (at > start) spans.push({ start, end: at, plusIsSpace: false });
      afterHost = hostEnd;
      break;
    }
  }
  const query = uri.indexOf('?', afterHost);
  if (HAS_SCHEME.test(uri) && query !== -1) {
    let pos = query + 1;
    for (const pair of uri.slice(query + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && PASSWORD_KEYS.has(decode(pair.slice(0, eq), true).toLowerCase()) && eq < pair.length - 1) {
        spans.push({ start: pos + eq + 1, end: pos + pair.length, plusIsSpace: true });
      }
      pos += pair.length + 1;
    }
  }
  return spans;
}

/** Like Python's unquote: each run of %XX is decoded, anything malformed stays as written. */
function decode(text: string, plusIsSpace: boolean): string {
  const spaced = plusIsSpace ? text.replace(/\+/g, ' ') : text;
  return spaced.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** `uri` with every password replaced by ********; anything else comes back as given. */
export function maskUriCredentials(uri: string): string {
  let masked = '';
  let from = 0;
  for (const { start, end } of credentialSpans(uri)) {
    masked += uri.slice(from, start) + MASK;
    from = end;
  }
  return masked + uri.slice(from);
}

/** The passwords in `uri`, as written and decoded (both can surface in a log), for `addSecret`. */
export function uriSecrets(uri: string): string[] {
  const secrets = credentialSpans(uri).flatMap(({ start, end, plusIsSpace }) => {
    const raw = uri.slice(start, end);
    return [raw, decode(raw, plusIsSpace)];
  });
  return [...new Set(secrets)].filter((s) => s !== '');
}
