import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { commented, renderYaml, renderYamlDocuments, type YamlValue } from '../../../src/export/yaml.js';

/** What a YAML reader makes of the text (js-yaml: YAML 1.2 plus 1.1's timestamps). */
const read = (text: string) => yaml.load(text);

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
  ])('keeps the string %j a string', (s) => {
    expect(read(renderYaml({ k: s, list: [s] }))).toEqual({ k: s, list: [s] });
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
    expect(yaml.loadAll(text)).toEqual([{ kind: 'A' }, { kind: 'B' }]);
  });
});
