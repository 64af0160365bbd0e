/**
 * Edits a `.env` file as text, keeping every other statement as it was. Pure: strings in, strings out.
 *
 * The reader that matters is python-dotenv: MLflow's own CLI loads `--env-file` with it
 * (mlflow/cli/__init__.py), and so does `load_dotenv()` in a training script. `parseDotenv` is its
 * parser (dotenv/parser.py, 1.2.x) statement for statement: `[export ]KEY[=value]`, a line ends
 * at `\n`, `\r\n` AND a lone `\r`, a quoted value may span lines, a single-quoted one decodes only
 * `\\` and `\'`, and every value then has `${NAME}` expanded (interpolation is on by default and
 * has no escape). https://github.com/theskumar/python-dotenv
 */
import { UserError } from '../errors.js';

/**
 * Python's `\s` for str patterns (Unicode whitespace), which JavaScript's `\s` is not: Python
 * counts \x1c-\x1f and \x85, JavaScript counts \ufeff.
 */
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `[^\S\r\n]`: whitespace but not a line break. */
const HWS = '\\t\\v\\f\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** python-dotenv's regular expressions, sticky (Python's `pattern.match(string, pos)`). */
const RE = {
  multilineWhitespace: new RegExp(`[${WS}]*`, 'y'),
  whitespace: new RegExp(`[${HWS}]*`, 'y'),
  export: new RegExp(`(?:export[${HWS}]+)?`, 'y'),
  singleQuotedKey: /'([^']+)'/y,
  unquotedKey: new RegExp(`([^=#${WS}]+)`, 'y'),
  equalSign: new RegExp(`(=[${HWS}]*)`, 'y'),
  singleQuotedValue: /'((?:\\.|[^'\\])*)'/sy,
  doubleQuotedValue: /"((?:\\.|[^"\\])*)"/sy,
  unquotedValue: /([^\r\n]*)/y,
  comment: new RegExp(`(?:[${HWS}]*#[^\\r\\n]*)?`, 'y'),
  endOfLine: new RegExp(`[${HWS}]*(?:\\r\\n|\\n|\\r|$)`, 'y'),
  restOfLine: /[^\r\n]*(?:\r|\n|\r\n)?/y,
} as const;
/** `re.sub(r"\s+#.*", "", part)`: Python's `.` stops only at `\n`. */
const INLINE_COMMENT = new RegExp(`[${WS}]+#[^\\n]*`, 'g');
const TRAILING_WS = new RegExp(`[${WS}]+$`);
const DOUBLE_QUOTE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** One statement as python-dotenv reads it. */
export interface DotenvStatement {
  /** Its text, from the end of the previous statement (blank lines before it included). */
  raw: string;
  /** The blank lines before it, up to the last line break: kept when the statement is removed. */
  lead: string;
  /** The key it sets (a bare `KEY` sets it too, to None), if any. */
  key?: string;
  /** The value before interpolation; undefined for a bare `KEY`. */
  value?: string;
  /** python-dotenv could not parse it (it warns, and skips it). */
  error: boolean;
}

class NoMatch extends Error {}

/** python-dotenv's parse_stream over `text` as it is handed to it (no newline translation). */
export function parseDotenv(text: string): DotenvStatement[] {
  const s = text.startsWith('\ufeff') ? text.slice(1) : text;
  let pos = 0;
  const read = (re: RegExp): string[] => {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new NoMatch();
    pos += m[0].length;
    return m.slice(1).map((g) => g ?? '');
  };
  const out: DotenvStatement[] = [];
  while (pos < s.length) {
    const start = pos;
    let lead = '';
    try {
      read(RE.multilineWhitespace);
      const ws = s.slice(start, pos);
      lead = ws.slice(0, Math.max(ws.lastIndexOf('\n'), ws.lastIndexOf('\r')) + 1);
      if (pos >= s.length) {
        out.push({ raw: s.slice(start), lead, error: false });
        break;
      }
      read(RE.export);
      let key: string | undefined;
      const first = s[pos];
      if (first === "'") key = read(RE.singleQuotedKey)[0];
      else if (first !== '#') key = read(RE.unquotedKey)[0];
      read(RE.whitespace);
      let value: string | undefined;
      if (s[pos] === '=') {
        const [equalSign] = read(RE.equalSign);
        // `KEY= # note` is empty; `KEY=#x` is "#x".
        if (equalSign!.length > 1 && s[pos] === '#') value = '';
        else value = parseValue();
      }
      read(RE.comment);
      read(RE.endOfLine);
      out.push({
        raw: s.slice(start, pos),
        lead,
        ...(key !== undefined ? { key } : {}),
        ...(value !== undefined ? { value } : {}),
        error: false,
      });
    } catch (e) {
      if (!(e instanceof NoMatch)) throw e;
      // As in Python, the reader stays where the failed match left it and skips the rest of that line.
      read(RE.restOfLine);
      out.push({ raw: s.slice(start, pos), lead, error: true });
    }
  }
  return out;

  function parseValue(): string {
    const c = s[pos];
    if (c === "'") return read(RE.singleQuotedValue)[0]!.replace(/\\[\\']/g, (m) => m[1]!);
    if (c === '"')
      return read(RE.doubleQuotedValue)[0]!.replace(/\\[\\'"abfnrtv]/g, (m) => DOUBLE_QUOTE_ESCAPES[m[1]!]!);
    if (c === undefined || c === '\n' || c === '\r') return '';
    return read(RE.unquotedValue)[0]!.replace(INLINE_COMMENT, '').replace(TRAILING_WS, '');
  }
}

/**
 * A value as python-dotenv's own writer (`set_key`) quotes it: single quotes, `\` and `'`
 * escaped. Refused: what no quoting keeps literal there (`${`, expanded on load) and control
 * characters.
 */
export function quoteDotenv(value: string, what: string): string {
  if ([...value].some((c) => c < ' ' || c === '\x7f'))
    throw new UserError(
      `the ${what} contains a control character (line break, tab...), which mlflow-secure does not write to a .env file`,
      { hint: 'Save it to ~/.mlflow/credentials instead: mlflow-secure env --save' },
    );
  if (value.includes('${'))
    throw new UserError(
      `the ${what} contains "\${", which python-dotenv expands as a variable when it loads the file (it has no escape for it)`,
      { hint: 'Save it to ~/.mlflow/credentials instead: mlflow-secure env --save' },
    );
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** True when a shell's `. file` (and Node's dotenv) would read the quoted value differently from python-dotenv. */
export function needsPythonEscapes(value: string): boolean {
  return /['\\]/.test(value);
}

const eolOf = (text: string) => (text.includes('\r\n') ? '\r\n' : '\n');

/** What `open()` hands python-dotenv: Python's universal newlines turn `\r\n` and `\r` into `\n`. */
export function universalNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/**
 * The text with each of `entries` set (quoted for python-dotenv), every other statement kept. The
 * entries go where the first of them was defined before, else at the end. Refused (UserError) when
 * python-dotenv would still read one of the keys from a statement other than ours.
 */
export function setDotenv(text: string, entries: readonly { key: string; value: string; what: string }[]): string {
  const eol = eolOf(text);
  const ours = entries.map((e) => `${e.key}=${quoteDotenv(e.value, e.what)}${eol}`);
  const keys = new Set(entries.map((e) => e.key));
  const kept: string[] = [];
  let at: number | undefined;
  for (const s of parseDotenv(text)) {
    if (s.key !== undefined && keys.has(s.key)) {
      if (s.lead !== '') kept.push(s.lead);
      at ??= kept.length;
      continue;
    }
    kept.push(s.raw);
  }
  if (at === undefined) {
    at = kept.length;
    if (at > 0 && !/[\r\n]$/.test(kept[at - 1]!)) kept[at - 1] += eol;
  }
  kept.splice(at, 0, ...ours);
  const result = kept.join('');
  checkOnlyOurs(result, entries, new Set(ours.map((line) => line.trimEnd())));
  return result;
}

/**
 * Reads `text` back as python-dotenv does, from a file (universal newlines) and from a stream
 * (as it is), and refuses when a statement other than ours sets one of the keys or ours do not
 * give the values.
 */
export function checkOnlyOurs(
  text: string,
  entries: readonly { key: string; value: string }[],
  ours: Set<string>,
): void {
  for (const view of [text, universalNewlines(text)]) {
    const found = new Map<string, number>();
    for (const s of parseDotenv(view)) {
      const entry = entries.find((e) => e.key === s.key);
      if (entry === undefined) continue;
      found.set(entry.key, (found.get(entry.key) ?? 0) + 1);
      if (!ours.has(s.raw.slice(s.lead.length).trimEnd()) || s.value !== entry.value || found.get(entry.key)! > 1) {
        throw new UserError(
          `python-dotenv would read ${entry.key} from a statement of the .env file that mlflow-secure did not write (a line break it sees that an editor may not show, such as a lone carriage return)`,
          {
            hint: `Remove every ${entry.key} statement from the file, or save to ~/.mlflow/credentials instead (mlflow-secure env --save)`,
          },
        );
      }
    }
  }
}

/** The text without the statements that set `keys`; `removed` lists the keys that were there. */
export function removeDotenv(
  text: string,
  keys: readonly string[],
): { text: string; removed: string[]; empty: boolean } {
  const removed = new Set<string>();
  const kept: string[] = [];
  for (const s of parseDotenv(text)) {
    if (s.key !== undefined && keys.includes(s.key)) {
      removed.add(s.key);
      kept.push(s.lead);
    } else kept.push(s.raw);
  }
  const result = kept.join('');
  return { text: result, removed: keys.filter((k) => removed.has(k)), empty: result.trim() === '' };
}
