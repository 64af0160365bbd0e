/**
 * Edits MLflow's credentials file (`~/.mlflow/credentials`) as text, keeping every other line as
 * it was. Pure: strings in, strings out.
 *
 * MLflow's Python client reads it with `configparser.ConfigParser()` (mlflow/utils/credentials.py,
 * `_read_mlflow_creds_from_file`): section `[mlflow]`, keys `mlflow_tracking_username` and
 * `mlflow_tracking_password`; MLFLOW_TRACKING_USERNAME/_PASSWORD in the environment win. So the
 * rules here are configparser's (https://docs.python.org/3/library/configparser.html):
 * - full-line comments start with `#` or `;`; there are no inline comments;
 * - `key = value` or `key: value`; keys are compared lower-cased; values are stripped;
 * - a line indented deeper than the key line above it continues that value (even after blank
 *   lines or comments), and so does an indented `[header]`;
 * - `%` starts an interpolation (BasicInterpolation): a literal `%` is written `%%`;
 * - a line before any section header, a line that is neither, a second section of the same
 *   name, or a key twice in one section makes `read()` raise: MLflow's client then fails on
 *   every call, so such a file is refused rather than edited.
 */
import { UserError } from '../errors.js';

export const SECTION = 'mlflow';
export const USERNAME_KEY = 'mlflow_tracking_username';
export const PASSWORD_KEY = 'mlflow_tracking_password';
const OUR_KEYS: readonly string[] = [USERNAME_KEY, PASSWORD_KEY];
const DEFAULT_SECTION = 'DEFAULT';

type Kind = 'blank' | 'comment' | 'section' | 'option' | 'continuation' | 'invalid';

interface Line {
  /** The line as it was, with its line ending. */
  raw: string;
  kind: Kind;
  /** The section the line is in (for a header: its own name). */
  section?: string;
  /** For an option line and its continuation lines: the lower-cased key. */
  key?: string;
  /** For an option line: the value as written (stripped, `%%` not yet undone). */
  value?: string;
}

/** Python's str.strip() and `\S`, for the ASCII and Unicode blanks JavaScript's trim() also knows. */
const firstNonBlank = (s: string) => s.search(/\S/);

function classify(text: string): Line[] {
  const lines: Line[] = [];
  let section: string | undefined;
  let key: string | undefined;
  let indentLevel = 0;
  for (const raw of text.split(/(?<=\n)/)) {
    const stripped = raw.trim();
    if (stripped === '') {
      lines.push({ raw, kind: 'blank', section });
      continue;
    }
    if (stripped.startsWith('#') || stripped.startsWith(';')) {
      lines.push({ raw, kind: 'comment', section });
      continue;
    }
    const indent = firstNonBlank(raw);
    if (section !== undefined && key !== undefined && indent > indentLevel) {
      lines.push({ raw, kind: 'continuation', section, key });
      continue;
    }
    indentLevel = indent;
    const header = /^\[(.+)\]/.exec(stripped);
    if (header) {
      section = header[1]!;
      key = undefined;
      lines.push({ raw, kind: 'section', section });
      continue;
    }
    const option = section === undefined ? null : /^(.*?)\s*([=:])\s*(.*)$/.exec(stripped);
    if (!option || option[1] === '') {
      lines.push({ raw, kind: 'invalid', section });
      continue;
    }
    key = option[1]!.trimEnd().toLowerCase();
    lines.push({ raw, kind: 'option', section, key, value: option[3]!.trim() });
  }
  return lines;
}

/** Why configparser would refuse this text, or undefined when it reads it. Never quotes a line (it may hold a password). */
function problem(lines: readonly Line[]): string | undefined {
  const sections = new Set<string>();
  const keys = new Set<string>();
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}`;
    if (line.kind === 'invalid')
      return line.section === undefined
        ? `${where} comes before any [section] header`
        : `${where} is neither a [section] header nor a key = value line`;
    if (line.kind === 'section' && line.section !== DEFAULT_SECTION) {
      if (sections.has(line.section!)) return `${where} repeats the section [${line.section}]`;
      sections.add(line.section!);
    }
    if (line.kind === 'option') {
      const id = `${line.section}\n${line.key}`;
      if (keys.has(id)) return `${where} repeats the key ${JSON.stringify(line.key)} in [${line.section}]`;
      keys.add(id);
    }
  }
  return undefined;
}

function parse(text: string, file: string): Line[] {
  const lines = classify(text);
  const why = problem(lines);
  if (why)
    throw new UserError(`${file} is not a file MLflow's client can read (${why}), so mlflow-secure will not edit it`, {
      hint: 'Fix that line, or move the file away, and try again',
    });
  return lines;
}

/** `%` doubled (BasicInterpolation); a value configparser would change is refused. */
export function iniValue(value: string, what: string): string {
  const instead = 'Point the client at the stack with environment variables instead: mlflow-secure env';
  if ([...value].some((c) => c < ' ' || c === '\x7f'))
    throw new UserError(
      `the ${what} contains a control character (line break, tab...), which ~/.mlflow/credentials cannot hold`,
      { hint: instead },
    );
  if (value !== value.trim())
    throw new UserError(
      `the ${what} starts or ends with a blank, which MLflow's client strips from ~/.mlflow/credentials`,
      { hint: instead },
    );
  return value.replace(/%/g, '%%');
}

/** What MLflow's client reads as user and password from this text (continuations joined with a line break). */
export function readCredentials(text: string): { user?: string; password?: string } {
  const values = new Map<string, string[]>();
  for (const line of classify(text)) {
    if (line.section !== SECTION || line.key === undefined || !OUR_KEYS.includes(line.key)) continue;
    if (line.kind === 'option') values.set(line.key, [line.value!]);
    else if (line.kind === 'continuation') values.get(line.key)?.push(line.raw.trim());
  }
  const get = (key: string) => {
    const parts = values.get(key);
    return parts === undefined ? undefined : parts.join('\n').trim().replace(/%%/g, '%');
  };
  return { user: get(USERNAME_KEY), password: get(PASSWORD_KEY) };
}

const eolOf = (text: string) => (text.includes('\r\n') ? '\r\n' : '\n');

/** The lines of `[mlflow]` without our two keys (nor their continuations), and where its keys end. */
function withoutOurKeys(lines: readonly Line[]): { kept: Line[]; removed: boolean; sectionEnd: number | undefined } {
  const kept: Line[] = [];
  let removed = false;
  let sectionEnd: number | undefined;
  for (const line of lines) {
    const ours =
      line.section === SECTION &&
      line.key !== undefined &&
      OUR_KEYS.includes(line.key) &&
      (line.kind === 'option' || line.kind === 'continuation');
    if (ours) {
      removed = true;
      continue;
    }
    kept.push(line);
    // New keys go right after the last key (or the header) of [mlflow], before the blank lines
    // and comments that usually introduce the next section.
    if (line.section === SECTION && ['section', 'option', 'continuation'].includes(line.kind)) sectionEnd = kept.length;
  }
  return { kept, removed, sectionEnd };
}

/**
 * The text with `[mlflow]` holding exactly `user` and `password`, every other line kept. Returns
 * the user it replaced, if another one was there. Refuses a file configparser cannot read, and
 * checks the result reads back as written.
 */
export function setCredentials(
  text: string,
  user: string,
  password: string,
  file: string,
): { text: string; previousUser?: string } {
  const lines = parse(text, file);
  const previousUser = readCredentials(text).user;
  const eol = eolOf(text);
  const ours = [
    `${USERNAME_KEY} = ${iniValue(user, 'user name')}${eol}`,
    `${PASSWORD_KEY} = ${iniValue(password, 'password')}${eol}`,
  ];
  const { kept, sectionEnd } = withoutOurKeys(lines);
  const raws = kept.map((l) => l.raw);
  if (sectionEnd !== undefined) {
    // The line before may lack its line break (the last line of a file).
    if (!raws[sectionEnd - 1]!.endsWith('\n')) raws[sectionEnd - 1] += eol;
    raws.splice(sectionEnd, 0, ...ours);
  } else {
    let head = raws.join('');
    if (head !== '' && !head.endsWith('\n')) head += eol;
    if (head.trim() !== '') head += eol;
    raws.splice(0, raws.length, head, `[${SECTION}]${eol}`, ...ours);
  }
  const result = raws.join('');
  const back = readCredentials(result);
  if (problem(classify(result)) !== undefined || back.user !== user || back.password !== password) {
    // Unusual indentation can make a following line continue ours: leave the file alone.
    throw new UserError(
      `cannot add the credentials to ${file} without changing how MLflow's client reads its other lines (unusual indentation?)`,
      { hint: 'Move that file away and try again, or use environment variables: mlflow-secure env' },
    );
  }
  return { text: result, ...(previousUser !== undefined && previousUser !== user ? { previousUser } : {}) };
}

/**
 * The text without our two keys. A `[mlflow]` section left with nothing in it goes too, and
 * `empty` says whether anything but blank lines is left (then the file can be deleted).
 */
export function removeCredentials(
  text: string,
  file: string,
): { text: string; removed: boolean; user?: string; empty: boolean } {
  const lines = parse(text, file);
  const { user } = readCredentials(text);
  const { kept, removed } = withoutOurKeys(lines);
  const inSection = kept.filter((l) => l.section === SECTION);
  const sectionIsEmpty = inSection.every((l) => l.kind === 'section' || l.kind === 'blank');
  const dropSection = removed && sectionIsEmpty;
  let result = (dropSection ? kept.filter((l) => l.section !== SECTION) : kept).map((l) => l.raw).join('');
  // The blank lines that set the section apart go with it.
  if (dropSection) result = result.replace(/(\r?\n)(?:[ \t]*\r?\n)+$/, '$1');
  return { text: result, removed, ...(user !== undefined ? { user } : {}), empty: result.trim() === '' };
}
