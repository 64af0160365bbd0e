import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cmdSet, commentLine, quoteBash, quotePowerShell, setLine, SHELLS } from '../../../src/credentials/shell.js';

/** Values that break naive quoting. */
const NASTY = [
  '',
  'plain',
  "it's",
  "''",
  "'",
  '"double"',
  '$HOME',
  '${HOME}',
  '$(echo pwned)',
  '`echo pwned`',
  'back\\slash\\n\\',
  'a b  c\t d',
  '!event !! !$',
  'ünïcødé ✓ 日本語 🔑',
  '; rm -rf / #',
  '*',
  '~',
  '-n',
  'line1\nline2',
  'trailing newline\n',
  'mix\'"$`\\!%^&|<>',
  'p@ss:w0rd/with?query=1&x#frag',
];

/** What bash ends up holding after running the generated line. */
function bashValueAfter(line: string): string {
  return execFileSync('bash', ['--norc', '--noprofile', '-c', `${line}\nprintf %s "$MLFLOW_TRACKING_PASSWORD"`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/home/someone-else' },
  });
}

describe('bash', () => {
  it.each(NASTY)('export line keeps %j exactly', (value) => {
    const line = setLine('bash', 'MLFLOW_TRACKING_PASSWORD', value);
    expect(line.startsWith('export MLFLOW_TRACKING_PASSWORD=')).toBe(true);
    expect(bashValueAfter(line)).toBe(value);
  });

  it('survives eval "$(mlflow-secure env)" too, and exports to children', () => {
    const lines = NASTY.map((v, i) => setLine('bash', `V${i}`, v)).join('\n');
    const script = `eval "$MS_LINES"\n${NASTY.map((_, i) => `printf '%s\\0' "$(printenv V${i}; printf x)"`).join('\n')}`;
    const out = execFileSync('bash', ['--norc', '--noprofile', '-c', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/home/someone-else', MS_LINES: lines },
    });
    // printenv adds a newline and $(...) strips trailing newlines: the `x` keeps them, so each
    // value comes back as value + '\n' + 'x'.
    expect(out.split('\0').slice(0, -1)).toEqual(NASTY.map((v) => `${v}\nx`));
  });

  it('wraps in single quotes and closes/escapes/reopens for a quote', () => {
    expect(quoteBash('abc')).toBe("'abc'");
    expect(quoteBash("it's")).toBe("'it'\\''s'");
    expect(quoteBash('')).toBe("''");
    expect(quoteBash('$HOME')).toBe("'$HOME'");
  });
});

describe('PowerShell', () => {
  it.each([
    ['abc', "'abc'"],
    ['', "''"],
    ["it's", "'it''s'"],
    ['$env:HOME $(Get-Date) `n', "'$env:HOME $(Get-Date) `n'"],
    ['"double"', `'"double"'`],
    ['back\\slash', "'back\\slash'"],
    // PowerShell also ends single-quoted strings at typographic quotes: they are doubled too.
    ['\u2018a\u2019b\u201Ac\u201Bd', "'\u2018\u2018a\u2019\u2019b\u201A\u201Ac\u201B\u201Bd'"],
    ['ünïcødé ✓', "'ünïcødé ✓'"],
  ])('quotes %j as %s', (value, expected) => {
    expect(quotePowerShell(value)).toBe(expected);
  });

  it('sets $env:NAME', () => {
    expect(setLine('powershell', 'MLFLOW_TRACKING_PASSWORD', "p@ss'w0rd")).toBe(
      "$env:MLFLOW_TRACKING_PASSWORD = 'p@ss''w0rd'",
    );
  });
});

describe('cmd.exe', () => {
  it.each([
    ['abc', 'set "X=abc"'],
    ['', 'set "X="'],
    // Inside the quotes these are literal at the prompt: & | < > ( ) ^, and ! (delayed
    // expansion is off there by default, and cannot end the quoting anyway).
    ['a&b|c<d>e^f', 'set "X=a&b|c<d>e^f"'],
    ['(x) ^& !y! P@ss!', 'set "X=(x) ^& !y! P@ss!"'],
    ['a b', 'set "X=a b"'],
    ['ünïcødé ✓ ＂“”', 'set "X=ünïcødé ✓ ＂“”"'],
  ])('sets %j as %s', (value, expected) => {
    expect(cmdSet('X', value)).toBe(expected);
    expect(setLine('cmd', 'X', value)).toBe(expected);
  });

  it.each([
    // A " ends the quoting: the rest would run as commands.
    'ab"&echo INJECTED&"cd',
    'say "hi"',
    '"',
    // % expands at the prompt and cannot be escaped there.
    '50%',
    '%PATH%',
    // Control characters: line ends (Ctrl+Z is read as one), a tab completes file names.
    'a\nb',
    'a\rb',
    'a\u001aecho INJECTED',
    'a\tb',
    'a\u0000b',
    'a\u007fb',
  ])('cannot take %j literally: no set line, a rem pointing to PowerShell', (value) => {
    expect(cmdSet('X', value)).toBeUndefined();
    const line = setLine('cmd', 'X', value);
    expect(line.startsWith('rem X ')).toBe(true);
    expect(line).toContain('contains a double quote, a percent sign or a control character');
    // The comment itself holds nothing cmd would act on, even in a .cmd file.
    expect(line).not.toMatch(/["%]/);
    expect(line).toContain('--shell powershell');
    expect(line).not.toContain(value);
    expect(line).not.toMatch(/[\r\n]/);
  });

  it('never writes a set line that holds more than one pair of quotes or a %', () => {
    for (const value of NASTY) {
      const line = setLine('cmd', 'X', value);
      if (line.startsWith('rem ')) continue;
      expect(line.match(/"/g)).toHaveLength(2);
      expect(line).not.toMatch(/[%\r\n]/);
    }
  });
});

describe('commentLine', () => {
  it('uses # for bash and PowerShell, rem for cmd', () => {
    expect(commentLine('bash', 'hi')).toBe('# hi');
    expect(commentLine('powershell', 'hi')).toBe('# hi');
    expect(commentLine('cmd', 'hi')).toBe('rem hi');
  });

  it('is a real comment in bash', () => {
    expect(
      execFileSync('bash', ['-c', `${commentLine('bash', 'echo no; exit 3')}\nprintf ok`], { encoding: 'utf8' }),
    ).toBe('ok');
  });

  it('knows three shells', () => {
    expect(SHELLS).toEqual(['bash', 'powershell', 'cmd']);
  });
});
