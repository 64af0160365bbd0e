/**
 * The layout rules of src/ (issue 15), checked rather than hoped for: no import cycle, no file
 * over 450 lines, at most 12 loose files at the top, no Python in a .ts file, and pure modules
 * kept pure by the lint rule in eslint.config.js.
 */
import { ESLint } from 'eslint';
import madge from 'madge';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const src = path.join(root, 'src');

const MAX_LINES = 450;
const MAX_LOOSE_FILES = 12;

async function sourceFiles(): Promise<string[]> {
  const all = await readdir(src, { recursive: true });
  return all
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(src, f))
    .sort();
}

const relative = (file: string) => path.relative(root, file).split(path.sep).join('/');

/**
 * Type-only imports count as edges: a cycle through `import type` is still two modules that
 * need each other, and env.ts <-> env-save.ts was one (a dynamic import one way, a type the
 * other). Dynamic imports count too (process-table.ts <-> processes.ts was one): a lazy import
 * defers the load, not the dependency.
 */
function graphOf(dir: string) {
  const options = { skipTypeImports: false, skipAsyncImports: false };
  return madge(dir, {
    fileExtensions: ['ts'],
    tsConfig: path.join(root, 'tsconfig.json'),
    detectiveOptions: { ts: options, es6: options },
  });
}

describe('import cycles', () => {
  it('madge finds none in src/, and resolved every import', async () => {
    const graph = await graphOf(src);
    expect(graph.circular()).toEqual([]);
    expect(graph.warnings().skipped).toEqual([]);
    // It read the real graph: `.js` specifiers resolved to the .ts files.
    expect(graph.obj()['system/process-table.ts']).toContain('system/run-once.ts');
    expect(Object.keys(graph.obj()).length).toBeGreaterThan(70);
  });

  it('the same setup does see a cycle made of a dynamic import and a type-only one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'layout-cycle-'));
    try {
      await mkdir(path.join(dir, 'commands'));
      await writeFile(
        path.join(dir, 'commands', 'a.ts'),
        "export type A = string;\nexport const run = async () => (await import('./b.js')).b;\n",
      );
      await writeFile(
        path.join(dir, 'commands', 'b.ts'),
        "import type { A } from './a.js';\nexport const b: A = 'b';\n",
      );
      const graph = await graphOf(dir);
      expect(graph.circular()).toEqual([['commands/a.ts', 'commands/b.ts']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('file sizes and the top of src/', () => {
  it(`no file in src/ has more than ${MAX_LINES} lines`, async () => {
    const over: string[] = [];
    for (const file of await sourceFiles()) {
      const lines = (await readFile(file, 'utf8')).split('\n').length - 1;
      if (lines > MAX_LINES) over.push(`${relative(file)}: ${lines} lines`);
    }
    expect(over).toEqual([]);
  });

  it(`at most ${MAX_LOOSE_FILES} loose files at the top of src/ (the rest in folders by feature)`, async () => {
    const loose = (await readdir(src, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    expect(loose.length, loose.join(', ')).toBeLessThanOrEqual(MAX_LOOSE_FILES);
  });
});

/**
 * Lines of Python, as they would stand in a script or a `python -c` argument: an import
 * (`import json, os, sys`, `import sys; print(...)`, `from x import y`), a definition, an
 * `except ...:` clause, the probes' `print(json.dumps(...))`. TypeScript's own imports are code,
 * not strings, so they are never looked at.
 */
const PYTHON_LINES = [
  /^\s*import\s+[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*(\s+as\s+\w+)?\s*(;|$)/,
  /^\s*from\s+\.*[\w.]+\s+import\s+\S/,
  /^\s*def\s+\w+\s*\(.*\)\s*(->.*)?:\s*$/,
  /^\s*except(\s+[\w.(), ]+?)?(\s+as\s+\w+)?\s*:\s*$/,
  /print\(json\.dumps\(/,
];

/** The text of every string and template literal in a TypeScript file (`${...}` read as `_`). */
function stringsOf(file: string, text: string): { line: number; text: string }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { line: number; text: string }[] = [];
  const add = (node: ts.Node, value: string) =>
    found.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, text: value });
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) add(node, node.text);
    else if (ts.isTemplateExpression(node))
      add(node, node.head.text + node.templateSpans.map((span) => `_${span.literal.text}`).join(''));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function pythonIn(file: string, text: string): string[] {
  const hits: string[] = [];
  for (const literal of stringsOf(file, text)) {
    for (const [i, line] of literal.text.split(/\r?\n/).entries()) {
      if (PYTHON_LINES.some((re) => re.test(line))) hits.push(`${file}:${literal.line + i}: ${line.trim()}`);
    }
  }
  return hits;
}

describe('no Python in TypeScript', () => {
  it('the check sees Python in template strings and string arrays, and not in TypeScript code', () => {
    const sample = [
      "import { z } from 'zod';",
      'const a = `',
      'import json, os, sys',
      'from urllib.parse import urlparse',
      'def out(**kw):',
      '    print(json.dumps(kw))',
      'try:',
      '    import boto3',
      'except ImportError as e:',
      '    pass',
      '`;',
      "const b = ['import sys; print(sys.version)', `import ${'{module}'}`];",
      "const c = 'cannot import SQLAlchemy, which MLflow needs';",
      'const d = `Python would import from ${"here"}: from the start`;',
    ].join('\n');
    expect(pythonIn('sample.ts', sample).map((h) => h.split(': ')[0])).toEqual([
      'sample.ts:3',
      'sample.ts:4',
      'sample.ts:5',
      'sample.ts:6',
      'sample.ts:8',
      'sample.ts:9',
      'sample.ts:12',
      'sample.ts:12',
    ]);
  });

  it('no .ts file in src/ holds Python (it belongs in python/*.py, compiled by its own test)', async () => {
    const files: string[] = [];
    for (const file of await sourceFiles()) {
      const hits = pythonIn(relative(file), await readFile(file, 'utf8'));
      if (hits.length > 0) files.push(`${hits[0]} (${hits.length} Python lines in all)`);
    }
    expect(files).toEqual([]);
  });
});

describe('pure modules stay pure (eslint.config.js)', () => {
  it('every module listed as pure exists', async () => {
    const config = pathToFileURL(path.join(root, 'eslint.config.js')).href;
    const { PURE_MODULES } = (await import(config)) as { PURE_MODULES: string[] };
    expect(PURE_MODULES.length).toBeGreaterThan(20);
    const files = (await sourceFiles()).map(relative);
    expect(PURE_MODULES.filter((f) => !files.includes(f))).toEqual([]);
  });

  it('lint refuses node:fs, an effectful module of ours, import() and process in a pure module; types pass', async () => {
    const eslint = new ESLint({ cwd: root });
    const lint = async (file: string, code: string) =>
      (await eslint.lintText(code, { filePath: path.join(root, file) }))[0]!.messages.map(
        (m) => `${m.line} ${m.ruleId ?? ''}`,
      );
    const code = [
      "import fs from 'node:fs';",
      "import { runOnce } from '../system/run-once.js';",
      "import { readRecord } from './state.js';",
      "import type { RunResult } from '../system/run-once.js';",
      "import { statePaths } from './state-paths.js';",
      "export const all = [fs, runOnce, readRecord, statePaths, import('execa'), process.platform] as const;",
      'export type Result = RunResult;',
      '',
    ].join('\n');
    expect(await lint('src/stack/plan.ts', code)).toEqual([
      '1 @typescript-eslint/no-restricted-imports',
      '2 @typescript-eslint/no-restricted-imports',
      '3 @typescript-eslint/no-restricted-imports',
      '6 no-restricted-syntax',
      '6 no-restricted-globals',
    ]);
    // The same lines in an effectful module are fine.
    expect(await lint('src/stack/targets.ts', code)).toEqual([]);
  });
});
