import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { commented, renderYaml, renderYamlDocuments, type YamlValue } from '../../../src/export/yaml-files.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

/** What a YAML 1.1 reader (docker-compose 1.29's PyYAML, kubectl's go-yaml) makes of the text. */
const read11 = (text: string) => parse(text, { version: '1.1' }) as unknown;
/** And a YAML 1.2 one (the core schema). */
const read12 = (text: string) => parse(text, { version: '1.2' }) as unknown;

/** What a reader makes of the text: both must agree, or the value is not what both read. */
function read(text: string): unknown {
  const v11 = read11(text);
  expect(read12(text)).toEqual(v11);
  return v11;
}

/** The real PyYAML (in MLflow's venv: MLflow needs it) on several documents, as JSON. */
function readWithPyYaml(text: string): unknown[] {
  const out = execFileSync(
    path.join(root, '.venv', 'bin', 'python'),
    ['-I', path.join(root, 'test', 'fixtures', 'yaml_to_json.py')],
    { input: text, encoding: 'utf8' },
  );
  return JSON.parse(out) as unknown[];
}

describe('renderYaml', () => {
  it('reads back as the same value: maps, lists, nesting, numbers, booleans, null, empty ones', () => {
    const value = {
      services: {
        a: {
          image: 'nginx:1.28',
          ports: ['127.0.0.1:5000:8080'],
          command: ['nginx', '-c', '/etc/x.conf'],
          replicas: 2,
          ok: true,
          none: null,
        },
      },
      empty: {},
      nothing: [],
      list: [
        { name: 'x', value: '1' },
        { name: 'y', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        'plain',
        3,
        [1, 2],
      ],
    };
    expect(read(renderYaml(value))).toEqual(value);
  });

  it.each([
    'yes',
    'no',
    'on',
    'off',
    'y',
    'N',
    'true',
    'False',
    'null',
    '~',
    '',
    '0440',
    '0755',
    '0o17',
    '1_000',
    '.5',
    '.inf',
    '-.Inf',
    '.NaN',
    'Yes',
    'ON',
    'Off',
    'NULL',
    'True',
    '+12',
    '0b101',
    '1:20',
    '5000',
    '1e3',
    '0x1F',
    '12:30:00',
    '5000:8080',
    '127.0.0.1:5000:8080',
    '-c',
    '- x',
    'a: b',
    'a #b',
    '#x',
    '@x',
    '`x',
    '!tag',
    '&anchor',
    '*alias',
    '[x]',
    '{x}',
    '%x',
    '"q"',
    "'q'",
    '$$(cat /run/secrets/x)',
    '2026-11-23',
    ' leading',
    'trailing ',
    'tab\there',
    'ünïcode',
    'a\\b',
  ])('keeps the string %j a string, for a YAML 1.1 and a 1.2 reader, as a value, a list item and a key', (s) => {
    const text = renderYaml({ k: s, list: [s], [s]: 1 });
    expect(read11(text)).toEqual({ k: s, list: [s], [s]: 1 });
    expect(read12(text)).toEqual({ k: s, list: [s], [s]: 1 });
  });

  it('writes plain only what is unambiguous', () => {
    expect(renderYaml({ a: 'mlflow', b: '/etc/nginx/auth', c: 'us-east-1', d: 'yes', e: '5s' })).toBe(
      'a: mlflow\nb: /etc/nginx/auth\nc: us-east-1\nd: "yes"\ne: "5s"\n',
    );
  });

  it('writes multi-line text as a literal block that reads back exactly', () => {
    const conf = 'line 1\n    indented;\n\n# comment\n}\n';
    const text = renderYaml({ data: { 'nginx.conf': conf }, args: ['-c', 'a\nb'] });
    expect(text).toContain('nginx.conf: |\n    line 1\n        indented;\n\n    # comment\n    }\n');
    expect(text).toContain('- |-\n    a\n    b');
    expect(read(text)).toEqual({ data: { 'nginx.conf': conf }, args: ['-c', 'a\nb'] });
  });

  it.each(['  starts with blanks\nx', 'x\n   \ny', 'two newlines\n\n', 'ctrl \u0001\nx', 'cr\r\nx'])(
    'falls back to a quoted string where a block could not hold %j',
    (s) => {
      const text = renderYaml({ k: s });
      expect(text).not.toMatch(/: \|/);
      expect(read(text)).toEqual({ k: s });
    },
  );

  it('puts comments above keys and list items, and a header on top', () => {
    const value: Record<string, YamlValue> = {
      a: commented('why a', { b: 1 }),
      list: [commented('why item', { name: 'x', v: 1 }), commented('two\nlines', 'item')],
    };
    const text = renderYaml(value, 'header');
    expect(text).toBe(
      [
        '# header',
        '# why a',
        'a:',
        '  b: 1',
        'list:',
        '  # why item',
        '  - name: x',
        '    v: 1',
        '  # two',
        '  # lines',
        '  - item',
        '',
      ].join('\n'),
    );
    expect(read(text)).toEqual({ a: { b: 1 }, list: [{ name: 'x', v: 1 }, 'item'] });
  });

  it('leaves out keys whose value is undefined', () => {
    expect(renderYaml({ a: 1, b: undefined })).toBe('a: 1\n');
  });

  it('writes several documents, each read back', () => {
    const text = renderYamlDocuments([{ kind: 'A' }, commented('the second', { kind: 'B' })], 'top');
    expect(text).toBe('# top\nkind: A\n---\n# the second\nkind: B\n');
    expect(parseAllDocuments(text).map((d) => d.toJS() as unknown)).toEqual([{ kind: 'A' }, { kind: 'B' }]);
  });

  it('PyYAML (YAML 1.1, docker-compose 1.29 reads with it) reads every tricky string back as that string', () => {
    const strings = ['yes', 'No', 'on', 'OFF', 'y', 'n', '~', 'null', '0755', '0x1F', '1e3', '1_000', '12:30:00'];
    const more = ['2026-11-23', '5000:8080', '.inf', '-c', 'a: b', 'multi\nline\n', 'tab\there', '$$(x)'];
    const values = [...strings, ...more];
    const text = renderYamlDocuments([{ values }, commented('second', { [values[0]!]: values[1]! })], 'top');
    expect(readWithPyYaml(text)).toEqual([{ values }, { yes: 'No' }]);
  });
});
