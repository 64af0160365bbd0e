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
 * cmd.exe: `set "NAME=value"` keeps & | < > ^ and quotes literal (everything up to the last
 * quote is the value). `%` cannot be escaped at an interactive prompt: `%x%` would expand when
 * x is a variable, so such a value is refused with a pointer to PowerShell instead.
 */
export function cmdSet(name: string, value: string): string | undefined {
  if (/[%\r\n]/.test(value)) return undefined;
  return `set "${name}=${value}"`;
}

export function setLine(shell: Shell, name: string, value: string): string {
  switch (shell) {
    case 'bash':
      return `export ${name}=${quoteBash(value)}`;
    case 'powershell':
      return `$env:${name} = ${quotePowerShell(value)}`;
    case 'cmd':
      return cmdSet(name, value) ?? `rem ${name} contains % or a line break, which cmd.exe cannot take literally: use PowerShell (mlflow-secure env --shell powershell)`;
  }
}

export function commentLine(shell: Shell, text: string): string {
  return shell === 'cmd' ? `rem ${text}` : `# ${text}`;
}
