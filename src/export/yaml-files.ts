/**
 * How the files of `mlflow-secure export` (compose.yaml, Kubernetes manifests) are written with
 * the `yaml` package. Pure. Block style only; a comment above a key or list item (`commented`);
 * multi-line text as a literal block, so nginx.conf stays readable in a ConfigMap. A string is
 * plain only when it is a name or a path (letters, digits, `_./-`), and even then only when a
 * YAML 1.2 reader (the core schema) and a YAML 1.1 one (docker-compose 1.29's PyYAML, go-yaml v2
 * under kubectl: `compat: 'yaml-1.1'`) both read it back as that string: `yes`, `on`, `n`, `null`
 * are quoted. Anything else is double-quoted with JSON's escapes.
 */
import { Document, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';

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

/** Names and paths; whether 1.1 or 1.2 would read one as a boolean or null is the schemas' call. */
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;

/**
 * A literal block (`|`, `|-`) only for text it holds plainly: one final newline or none,
 * printable characters and tabs, no line of blanks only (read as indentation), and a first line
 * that does not start with a blank (that would need an indentation indicator).
 */
function fitsLiteralBlock(value: string): boolean {
  if (!value.includes('\n')) return false;
  const body = value.endsWith('\n') ? value.slice(0, -1) : value;
  if (body.endsWith('\n') || body === '') return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(body)) return false;
  const lines = body.split('\n');
  return !/^\s/.test(lines[0]!) && !lines.some((l) => l !== '' && l.trim() === '');
}

function scalar(value: string | number | boolean | null): Scalar {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  const node = new Scalar(value);
  if (typeof value === 'string')
    node.type = PLAIN.test(value) ? 'PLAIN' : fitsLiteralBlock(value) ? 'BLOCK_LITERAL' : 'QUOTE_DOUBLE';
  return node;
}

/** `# why` lines, `#` alone for an empty one (commentString below puts the `#` before each line). */
function commentText(comment: string): string {
  return comment
    .split('\n')
    .map((l) => (l === '' ? '' : ` ${l}`))
    .join('\n');
}

function isMap(value: YamlValue): value is { [key: string]: YamlValue | undefined } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Commented);
}

function unwrap(value: YamlValue): { comment?: string; value: YamlValue } {
  return value instanceof Commented ? { comment: value.comment, value: value.value } : { value };
}

function toNode(value: YamlValue): Node {
  if (value instanceof Commented) throw new Error('a comment belongs above a key or list item');
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const raw of value) {
      const item = unwrap(raw);
      const node = toNode(item.value);
      if (item.comment !== undefined) node.commentBefore = commentText(item.comment);
      seq.items.push(node);
    }
    return seq;
  }
  if (isMap(value)) {
    const map = new YAMLMap();
    for (const [k, raw] of Object.entries(value)) {
      if (raw === undefined) continue;
      const item = unwrap(raw);
      const key = scalar(k);
      if (item.comment !== undefined) key.commentBefore = commentText(item.comment);
      map.items.push(new Pair(key, toNode(item.value)));
    }
    return map;
  }
  return scalar(value);
}

type Top = YamlValue[] | { [key: string]: YamlValue | undefined };

function renderDocument(value: Top, top: string | undefined): string {
  const doc = new Document(null, { version: '1.2', compat: 'yaml-1.1' });
  const contents = toNode(value);
  // On the contents, not the document: the package puts a blank line after a document's comment.
  if (top) contents.commentBefore = commentText(top);
  doc.contents = contents;
  return doc.toString({
    lineWidth: 0,
    singleQuote: false,
    doubleQuotedAsJSON: true,
    blockQuote: 'literal',
    commentString: (text) => text.replace(/^/gm, '#'),
  });
}

/** One YAML document: optional `# header` lines, then the value (a map or a list). */
export function renderYaml(value: Top, header?: string): string {
  return renderDocument(value, header);
}

type YamlDocument = { [key: string]: YamlValue | undefined };

/** Several documents in one file, separated by `---`; a `commented` document gets its comment on top. */
export function renderYamlDocuments(documents: readonly (YamlDocument | Commented)[], header?: string): string {
  return documents
    .map((d, i) => {
      const { comment, value } = unwrap(d);
      const top = [...(i === 0 && header ? [header] : []), ...(comment ? [comment] : [])].join('\n');
      return `${i === 0 ? '' : '---\n'}${renderDocument(value as YamlDocument, top || undefined)}`;
    })
    .join('');
}
