/** Lines that set environment variables in a given shell, quoted so any value survives. Pure. */

export type Shell = 'bash' | 'powershell' | 'cmd';
export const SHELLS: readonly Shell[] = ['bash', 'powershell', 'cmd'];

/** POSIX sh/bash/zsh: single quotes keep everything literal; a ' is closed, escaped, reopened. */
export function quoteBash(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * PowerShell: single-quoted strings are literal; a quote is doubled. PowerShell also takes the
 * typographic quotes ‘ ’ ‚ ‛ as single quotes, so those are doubled too.
 */
export function quotePowerShell(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

/**
 * cmd.exe: inside `set "NAME=value"` the quotes keep & | < > ( ) ^ literal. What they cannot
 * hold is refused, with a pointer to PowerShell instead:
 * - `"` toggles the quoting off, so the rest of the line runs as commands;
 * - `%` cannot be escaped at an interactive prompt (`%x%` expands when x is a variable);
 * - control characters: CR/LF (and Ctrl+Z, read as LF) end the line, a pasted tab completes
 *   file names.
 * `!` is left alone: it only expands with delayed expansion, which is off at the prompt by
 * default, and even then it cannot end the quoting.
 */
function cmdUnsafe(c: string): boolean {
  return c === '"' || c === '%' || c < ' ' || c === '\x7f';
}

export function cmdSet(name: string, value: string): string | undefined {
  if ([...value].some(cmdUnsafe)) return undefined;
  return `set "${name}=${value}"`;
}

export function setLine(shell: Shell, name: string, value: string): string {
  switch (shell) {
    case 'bash':
      return `export ${name}=${quoteBash(value)}`;
    case 'powershell':
      return `$env:${name} = ${quotePowerShell(value)}`;
    case 'cmd':
      return (
        cmdSet(name, value) ??
        `rem ${name} contains a double quote, a percent sign or a control character (line break, tab), which cmd.exe cannot take literally: use PowerShell (mlflow-secure env --shell powershell)`
      );
  }
}

export function commentLine(shell: Shell, text: string): string {
  return shell === 'cmd' ? `rem ${text}` : `# ${text}`;
}
