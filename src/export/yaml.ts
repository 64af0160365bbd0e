/**
 * A small YAML writer for the files `mlflow-secure export` writes (compose.yaml, Kubernetes
 * manifests). Pure. It writes block style only, quotes every string that a YAML 1.1 or 1.2
 * reader could take for something else (`yes`, `0440`, `5000:8080`...), writes multi-line
 * strings as literal blocks so nginx.conf stays readable in a ConfigMap, and can put a comment
 * above a key or list item (`commented`). Double-quoted strings are written as JSON, which is a
 * subset of YAML's double-quoted style.
 */

export type YamlValue =
  string | number | boolean | null | Commented | YamlValue[] | { [key: string]: YamlValue | undefined };

/** A value with `# comment` lines above its key (or list item). */
export class Commented {
  constructor(
    readonly comment: string,
    readonly value: YamlValue,
  ) {}
}

export function commented(comment: string, value: YamlValue): Commented {
  return new Commented(comment, value);
}

const INDENT = '  ';

/** Plain (unquoted) only when no YAML 1.1 or 1.2 reader sees a number, boolean, null or syntax. */
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
const RESERVED = /^(?:y|n|yes|no|on|off|true|false|null|~)$/i;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
}

/**
 * A literal block (`|`, `|-`) keeps text as written. Only for text it can hold exactly: one final
 * newline or none, printable characters and tabs, no line of blanks only (they would be read as
 * indentation), and a first line that does not start with a blank (that would need an indicator).
 */
function literalBlock(value: string): { indicator: string; lines: string[] } | undefined {
  if (!value.includes('\n')) return undefined;
  const body = value.endsWith('\n') ? value.slice(0, -1) : value;
  if (body.endsWith('\n') || body === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(body)) return undefined;
  const lines = body.split('\n');
  if (/^\s/.test(lines[0]!) || lines.some((l) => l !== '' && l.trim() === '')) return undefined;
  return { indicator: value.endsWith('\n') ? '|' : '|-', lines };
}

function isMap(value: YamlValue): value is { [key: string]: YamlValue | undefined } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Commented);
}

function isEmpty(value: YamlValue): boolean {
  return (
    (Array.isArray(value) && value.length === 0) || (isMap(value) && Object.values(value).every((v) => v === undefined))
  );
}

function commentLines(comment: string, pad: string): string[] {
  return comment.split('\n').map((l) => (l === '' ? `${pad}#` : `${pad}# ${l}`));
}

/** Lines for `value` after `lead` (`key:` or `-`), whose children are indented to `pad`. */
function entry(lead: string, value: YamlValue, pad: string, out: string[]): void {
  if (value instanceof Commented) throw new Error('a comment belongs above a key or list item');
  if (Array.isArray(value) || isMap(value)) {
    if (isEmpty(value)) {
      out.push(`${lead} ${Array.isArray(value) ? '[]' : '{}'}`);
      return;
    }
    out.push(lead);
    block(value, pad, out);
    return;
  }
  const literal = typeof value === 'string' ? literalBlock(value) : undefined;
  if (literal) {
    out.push(`${lead} ${literal.indicator}`);
    for (const line of literal.lines) out.push(line === '' ? '' : `${pad}${line}`);
    return;
  }
  out.push(`${lead} ${scalar(value)}`);
}

function block(value: YamlValue[] | { [key: string]: YamlValue | undefined }, pad: string, out: string[]): void {
  if (Array.isArray(value)) {
    for (let item of value) {
      if (item instanceof Commented) {
        out.push(...commentLines(item.comment, pad));
        item = item.value;
      }
      if (isMap(item) && !isEmpty(item)) {
        // `- key: value` with the map's other keys under the first one.
        const lines: string[] = [];
        block(item, `${pad}${INDENT}`, lines);
        const first = lines.findIndex((l) => !l.trimStart().startsWith('#'));
        lines[first] = `${pad}- ${lines[first]!.slice(pad.length + INDENT.length)}`;
        out.push(...lines);
      } else {
        entry(`${pad}-`, item, `${pad}${INDENT}`, out);
      }
    }
    return;
  }
  for (const [key, raw] of Object.entries(value)) {
    if (raw === undefined) continue;
    let item = raw;
    if (item instanceof Commented) {
      out.push(...commentLines(item.comment, pad));
      item = item.value;
    }
    // Lists sit under their key at the same indentation plus one step, like the maps.
    entry(`${pad}${scalar(key)}:`, item, `${pad}${INDENT}`, out);
  }
}

/** One YAML document: optional `# header` lines, then the value (a map or a list). */
export function renderYaml(value: YamlValue[] | { [key: string]: YamlValue | undefined }, header?: string): string {
  const out = header ? commentLines(header, '') : [];
  block(value, '', out);
  return `${out.join('\n')}\n`;
}

type YamlDocument = { [key: string]: YamlValue | undefined };

/** Several documents in one file, separated by `---`; a `commented` document gets its comment on top. */
export function renderYamlDocuments(documents: readonly (YamlDocument | Commented)[], header?: string): string {
  return documents
    .map((d, i) => {
      const [comment, doc] = d instanceof Commented ? [d.comment, d.value as YamlDocument] : [undefined, d];
      const top = [...(i === 0 && header ? [header] : []), ...(comment ? [comment] : [])].join('\n');
      return `${i === 0 ? '' : '---\n'}${renderYaml(doc, top || undefined)}`;
    })
    .join('');
}
