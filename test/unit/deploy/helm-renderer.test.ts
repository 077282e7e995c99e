import { describe, expect, it } from 'vitest';
import { goFormat, HelmRenderError, renderChart } from '../../support/deploy-helm-render.js';

const render = (template: string, values: Record<string, unknown> = {}) =>
  renderChart(new Map([['_helpers.tpl', '{{- define "greet" -}}hi {{ . }}{{- end }}'], ['t.yaml', template]]), {
    values,
    chart: { Name: 'c', Version: '1.0.0', AppVersion: '2.0.0' },
    release: { Name: 'r', Namespace: 'ns' },
    files: new Map([['files/a.json', '{"legend": "{{route}}"}\n']]),
  }).get('t.yaml');

describe('the stand-in Helm renderer', () => {
  it('trims whitespace at {{- and -}}', () => {
    expect(render('a  \n  {{- "b" -}}  \n  c')).toBe('abc');
  });

  it('follows if / else if / else and Go truthiness', () => {
    const t = '{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}';
    expect(render(t, { a: [1] })).toBe('A');
    expect(render(t, { a: [], b: 'x' })).toBe('B');
    expect(render(t, { a: 0, b: '' })).toBe('C');
  });

  it('ranges over maps in key order, with variables', () => {
    expect(render('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1;b=2;');
  });

  it('scopes `with` and keeps $ at the root', () => {
    expect(render('{{ with .Values.x }}{{ .y }}/{{ $.Release.Name }}{{ end }}', { x: { y: 'Y' } })).toBe('Y/r');
  });

  it('includes defined templates and pipes into functions', () => {
    expect(render('{{ include "greet" "you" | upper | quote }}')).toBe('"HI YOU"');
    expect(render('{{ .Values.l | toYaml | nindent 2 }}', { l: ['on', 1] })).toBe('\n  - "on"\n  - 1');
  });

  it('prints nothing for a missing key but fails on a field of nothing, like Helm', () => {
    expect(render('[{{ .Values.missing }}]')).toBe('[]');
    expect(() => render('{{ .Values.missing.deeper }}')).toThrow(/nil pointer/);
  });

  it('formats numbers like Go (Helm prints 1000000 as 1e+06)', () => {
    expect(goFormat(3)).toBe('3');
    expect(goFormat(123456)).toBe('123456');
    expect(goFormat(1000000)).toBe('1e+06');
    expect(goFormat(1234567)).toBe('1.234567e+06');
  });

  it('compares with eq as text/template does: kinds must agree, nil compares unequal, any of several matches', () => {
    expect(render('{{ eq .Values.s "a" }}', { s: 'a' })).toBe('true');
    expect(render('{{ eq .Values.s "x" "y" "a" }}', { s: 'a' })).toBe('true');
    expect(render('{{ eq .Values.missing "a" }}')).toBe('false');
    expect(render('{{ ne .Values.missing "a" }}')).toBe('true');
    expect(render('{{ eq (int .Values.n) 3 }}', { n: 3 })).toBe('true');
    expect(() => render('{{ eq .Values.s 1 }}', { s: '1' })).toThrow(/incompatible types for comparison/);
    // A number from values is float64 (int64 since helm 3.18): against a literal it fails on one helm or the other.
    expect(() => render('{{ eq .Values.n 3 }}', { n: 3 })).toThrow(/incompatible types.*convert it with int/);
    expect(() => render('{{ eq .Values.n 3.0 }}', { n: 3 })).toThrow(/incompatible types/);
    expect(() => render('{{ eq .Values.m .Values.m }}', { m: { a: 1 } })).toThrow(/non-comparable/);
  });

  it('orders with le/lt only between basic values of one kind', () => {
    expect(render('{{ le (int .Values.a) (int .Values.b) }}', { a: 30, b: 30 })).toBe('true');
    expect(render('{{ le 31 30 }}')).toBe('false');
    expect(render('{{ lt "a" "b" }}')).toBe('true');
    expect(() => render('{{ le .Values.a 30 }}', { a: 30 })).toThrow(/incompatible types/);
    expect(() => render('{{ le .Values.missing 30 }}')).toThrow(/invalid type for comparison/);
    expect(() => render('{{ le true false }}')).toThrow(/invalid type for comparison/);
  });

  it("fails required only on nil and the empty string, like helm's own required", () => {
    expect(() => render('{{ required "need a" .Values.a }}')).toThrow(/required: need a/);
    expect(() => render('{{ required "need a" .Values.a }}', { a: '' })).toThrow(/required: need a/);
    expect(render('{{ required "need a" .Values.a }}', { a: false })).toBe('false');
    expect(render('{{ required "need a" .Values.a }}', { a: 0 })).toBe('0');
    expect(render('{{ required "need a" .Values.a | len }}', { a: {} })).toBe('0');
  });

  it('finds nothing with lookup unless the cluster holds the object', () => {
    const t = '{{ with (lookup "v1" "Secret" "ns" "s").data }}{{ .k }}{{ else }}none{{ end }}';
    expect(render(t)).toBe('none');
    const found = renderChart(new Map([['t.yaml', t]]), {
      values: {},
      chart: { Name: 'c', Version: '1.0.0', AppVersion: '2.0.0' },
      release: { Name: 'r', Namespace: 'ns' },
      lookup: (apiVersion, kind, namespace, name) => (apiVersion === 'v1' && kind === 'Secret' && namespace === 'ns' && name === 's' ? { data: { k: 'v' } } : {}),
    }).get('t.yaml');
    expect(found).toBe('v');
  });

  it('reads chart files with .Files.Get, untemplated, and "" for a missing one, like Helm', () => {
    expect(render('x:\n{{ .Files.Get "files/a.json" | indent 2 }}')).toBe('x:\n  {"legend": "{{route}}"}\n  ');
    expect(render('[{{ .Files.Get "files/missing.json" }}]')).toBe('[]');
  });

  it('refuses functions it does not know, and fail aborts the render', () => {
    expect(() => render('{{ semverCompare ">=1" "1.2" }}')).toThrow(/unsupported function "semverCompare"/);
    expect(() => render('{{ fail "stop" }}')).toThrow(HelmRenderError);
  });
});
