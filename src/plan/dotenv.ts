/**
 * Edits a `.env` file as text, keeping every other line as it was. Pure: strings in, strings out.
 *
 * The reader that matters is python-dotenv: MLflow's own CLI loads `--env-file` with it
 * (mlflow/cli/__init__.py), and so does `load_dotenv()` in a training script. Its grammar
 * (dotenv/parser.py): `[export ]KEY=value`, where a single-quoted value may span lines and
 * decodes only `\\` and `\'`, and every value, quoted or not, then has `${NAME}` expanded
 * (interpolation is on by default and has no escape). https://github.com/theskumar/python-dotenv
 */
import { UserError } from '../errors.js';

/** python-dotenv's regular expressions, with JavaScript's `s` flag for its DOTALL. */
const BINDING = /^[^\S\r\n]*(?:export[^\S\r\n]+)?(?:'([^']+)'|([^=#\s]+))[^\S\r\n]*=[^\S\r\n]*/;
const SINGLE_QUOTED = /^'(?:\\.|[^'\\])*'/s;
const DOUBLE_QUOTED = /^"(?:\\.|[^"\\])*"/s;

/**
 * A value as python-dotenv's own writer (`set_key`) quotes it: single quotes, `\` and `'`
 * escaped. Refused: what no quoting keeps literal there (`${`, expanded on load) and control
 * characters.
 */
export function quoteDotenv(value: string, what: string): string {
  if ([...value].some((c) => c < ' ' || c === '\x7f'))
    throw new UserError(
      `the ${what} contains a control character (line break, tab...), which mlflow-secure does not write to a .env file`,
      'Save it to ~/.mlflow/credentials instead: mlflow-secure env --save',
    );
  if (value.includes('${'))
    throw new UserError(
      `the ${what} contains "\${", which python-dotenv expands as a variable when it loads the file (it has no escape for it)`,
      'Save it to ~/.mlflow/credentials instead: mlflow-secure env --save',
    );
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** True when a shell's `. file` (and Node's dotenv) would read the quoted value differently from python-dotenv. */
export function needsPythonEscapes(value: string): boolean {
  return /['\\]/.test(value);
}

interface Statement {
  /** The text of the statement, line endings included (a quoted value may span lines). */
  raw: string;
  key?: string;
}

/** Splits the text into statements the way python-dotenv reads it: one per line, except quoted values that run on. */
function statements(text: string): Statement[] {
  const out: Statement[] = [];
  let rest = text;
  while (rest !== '') {
    const lineEnd = rest.indexOf('\n') === -1 ? rest.length : rest.indexOf('\n') + 1;
    const binding = BINDING.exec(rest.slice(0, lineEnd));
    let end = lineEnd;
    if (binding) {
      const value = rest.slice(binding[0].length);
      const quoted = SINGLE_QUOTED.exec(value) ?? DOUBLE_QUOTED.exec(value);
      if (quoted) {
        // The statement runs to the end of the line where the quoted value closes.
        const close = binding[0].length + quoted[0].length;
        const next = rest.indexOf('\n', close);
        end = next === -1 ? rest.length : next + 1;
      }
    }
    out.push({ raw: rest.slice(0, end), ...(binding ? { key: binding[1] ?? binding[2]! } : {}) });
    rest = rest.slice(end);
  }
  return out;
}

const eolOf = (text: string) => (text.includes('\r\n') ? '\r\n' : '\n');

/**
 * The text with each of `entries` set (quoted for python-dotenv), every other statement kept. The
 * entries go where the first of them was defined before, else at the end.
 */
export function setDotenv(text: string, entries: readonly { key: string; value: string; what: string }[]): string {
  const eol = eolOf(text);
  const ours = entries.map((e) => `${e.key}=${quoteDotenv(e.value, e.what)}${eol}`);
  const keys = new Set(entries.map((e) => e.key));
  const kept: string[] = [];
  let at: number | undefined;
  for (const s of statements(text)) {
    if (s.key !== undefined && keys.has(s.key)) {
      at ??= kept.length;
      continue;
    }
    kept.push(s.raw);
  }
  if (at === undefined) {
    at = kept.length;
    if (at > 0 && !kept[at - 1]!.endsWith('\n')) kept[at - 1] += eol;
  }
  kept.splice(at, 0, ...ours);
  return kept.join('');
}

/** The text without the statements that set `keys`; `removed` lists the keys that were there. */
export function removeDotenv(
  text: string,
  keys: readonly string[],
): { text: string; removed: string[]; empty: boolean } {
  const removed = new Set<string>();
  const kept: string[] = [];
  for (const s of statements(text)) {
    if (s.key !== undefined && keys.includes(s.key)) removed.add(s.key);
    else kept.push(s.raw);
  }
  const result = kept.join('');
  return { text: result, removed: keys.filter((k) => removed.has(k)), empty: result.trim() === '' };
}
