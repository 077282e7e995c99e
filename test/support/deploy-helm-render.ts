/**
 * A small stand-in for `helm template`, for CI machines without helm: Go's
 * text/template (actions, trim markers, if/else/range/with/define, variables,
 * pipelines) with the Sprig and Helm functions our chart uses. It follows Go's
 * rules where they bite (sorted map ranges, truthiness, `<no value>` for a
 * missing key, an error when reading a field of nothing, %v number
 * formatting, `eq`/`lt`/`le`… refusing to compare different kinds, Helm's
 * `required` failing only on nil and ""); anything else is refused loudly ("unsupported function"), so
 * a template using a new function fails here until the function is added
 * below. The real helm runs too wherever it is installed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { stringify } from 'yaml';

type Value = unknown;

/**
 * An int as Go templates have it: integer literals and the results of `int`,
 * `add`, `len`… Numbers read from values are not ints: Helm decodes them as
 * float64 (int64 since 3.18), so comparing one with a literal fails on one
 * helm or the other ("incompatible types for comparison"). Keeping the two
 * apart lets the stand-in refuse what some helm refuses.
 */
class GoInt {
  constructor(readonly n: number) {}
  toString(): string {
    return String(this.n);
  }
}
/** A float literal in a template (`1.0`). */
class GoFloatLiteral {
  constructor(readonly n: number) {}
  toString(): string {
    return goFormat(this.n);
  }
}
const int = (n: number) => new GoInt(Math.trunc(n));
const numberOf = (v: Value): number | undefined =>
  v instanceof GoInt || v instanceof GoFloatLiteral ? v.n : typeof v === 'number' ? v : undefined;
type Scope = Map<string, Value>[];

interface TextNode { kind: 'text'; text: string }
interface ActionNode { kind: 'action'; pipe: Pipeline }
interface IfNode { kind: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
interface RangeNode { kind: 'range'; pipe: Pipeline; vars: string[]; body: Node[]; else: Node[] }
interface TemplateNode { kind: 'template'; name: string; pipe?: Pipeline }
type Node = TextNode | ActionNode | IfNode | RangeNode | TemplateNode;

type Operand =
  | { t: 'lit'; v: Value }
  | { t: 'field'; base: 'dot' | string | Operand; path: string[] }
  | { t: 'fn'; name: string }
  | { t: 'pipe'; pipe: Pipeline; path: string[] };
type Command = Operand[];
interface Pipeline { decl?: { names: string[]; op: ':=' | '=' }; cmds: Command[] }

export class HelmRenderError extends Error {}

// ---------------------------------------------------------------- lexing

interface Chunk { text?: string; action?: string }

function lex(src: string): Chunk[] {
  const chunks: Chunk[] = [];
  let pos = 0;
  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    if (open < 0) {
      chunks.push({ text: src.slice(pos) });
      break;
    }
    let text = src.slice(pos, open);
    let start = open + 2;
    if (/^-\s/.test(src.slice(start))) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    chunks.push({ text });
    const close = findClose(src, start);
    let inner = src.slice(start, close);
    pos = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const rest = src.slice(pos);
      pos += rest.length - rest.replace(/^\s+/, '').length;
    }
    const trimmed = inner.trim();
    if (!(trimmed.startsWith('/*') && trimmed.endsWith('*/'))) chunks.push({ action: trimmed });
  }
  return chunks;
}

/** Index of the `}}` closing an action, skipping quoted strings. */
function findClose(src: string, from: number): number {
  let i = from;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '"') {
      i += 1;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
    } else if (c === '`') {
      i = src.indexOf('`', i + 1);
      if (i < 0) break;
    } else if (src.startsWith('}}', i)) {
      return i;
    }
    i += 1;
  }
  throw new HelmRenderError('unclosed action');
}

// ---------------------------------------------------------------- parsing

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,=]|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*|\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|\.|-?\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*)/y;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(expr)) !== null) {
    tokens.push(m[1]!);
    last = re.lastIndex;
    if (last >= expr.length) break;
  }
  if (expr.slice(last).trim() !== '') throw new HelmRenderError(`cannot parse "${expr}" at "${expr.slice(last)}"`);
  return tokens;
}

function parsePipeline(expr: string): Pipeline {
  const tokens = tokenize(expr);
  let i = 0;
  let decl: Pipeline['decl'];
  // `$a := ...`, `$a = ...`, `$i, $v := ...`
  const declMatch = /^(\$\w*)(?:\s*,\s*(\$\w*))?\s*(:=|=)(?!=)/.exec(expr.trim());
  if (declMatch) {
    const names = [declMatch[1]!, ...(declMatch[2] ? [declMatch[2]] : [])];
    decl = { names, op: declMatch[3] as ':=' | '=' };
    i = names.length * 2;
  }
  const parseCmds = (stopAtParen: boolean): Command[] => {
    const cmds: Command[] = [[]];
    while (i < tokens.length) {
      const tok = tokens[i]!;
      if (tok === ')') {
        if (!stopAtParen) throw new HelmRenderError(`unexpected ) in "${expr}"`);
        return cmds;
      }
      i += 1;
      if (tok === '|') {
        cmds.push([]);
        continue;
      }
      cmds.at(-1)!.push(parseOperand(tok));
    }
    if (stopAtParen) throw new HelmRenderError(`missing ) in "${expr}"`);
    return cmds;
  };
  const parseOperand = (tok: string): Operand => {
    if (tok === '(') {
      const pipe = { cmds: parseCmds(true) };
      i += 1; // ')'
      const next = tokens[i];
      if (next && /^\.[A-Za-z_]/.test(next) && !expr.includes(`) ${next}`)) {
        i += 1;
        return { t: 'pipe', pipe, path: next.slice(1).split('.') };
      }
      return { t: 'pipe', pipe, path: [] };
    }
    if (tok.startsWith('"')) return { t: 'lit', v: JSON.parse(tok) as string };
    if (tok.startsWith('`')) return { t: 'lit', v: tok.slice(1, -1) };
    if (/^-?\d/.test(tok)) return { t: 'lit', v: /^-?\d+$/.test(tok) ? int(Number(tok)) : new GoFloatLiteral(Number(tok)) };
    if (tok === 'true' || tok === 'false') return { t: 'lit', v: tok === 'true' };
    if (tok === 'nil') return { t: 'lit', v: null };
    if (tok === '.') return { t: 'field', base: 'dot', path: [] };
    if (tok.startsWith('.')) return { t: 'field', base: 'dot', path: tok.slice(1).split('.') };
    if (tok.startsWith('$')) {
      const [name, ...path] = tok.split('.');
      return { t: 'field', base: name!, path };
    }
    return { t: 'fn', name: tok };
  };
  const cmds = parseCmds(false);
  if (cmds.some((c) => c.length === 0)) throw new HelmRenderError(`empty command in "${expr}"`);
  return decl ? { decl, cmds } : { cmds };
}

/** Parses a template's chunks into nodes; `define` blocks go to `defines`. */
function parse(chunks: Chunk[], defines: Map<string, Node[]>): Node[] {
  let pos = 0;
  const block = (): { nodes: Node[]; end: 'end' | 'else' | 'eof'; elseExpr?: string } => {
    const nodes: Node[] = [];
    while (pos < chunks.length) {
      const chunk = chunks[pos++]!;
      if (chunk.text !== undefined) {
        if (chunk.text) nodes.push({ kind: 'text', text: chunk.text });
        continue;
      }
      const action = chunk.action!;
      const word = /^([a-z]+)\b/.exec(action)?.[1];
      const rest = action.slice(word?.length ?? 0).trim();
      if (word === 'end') return { nodes, end: 'end' };
      if (word === 'else') return { nodes, end: 'else', elseExpr: rest };
      if (word === 'if' || word === 'with') {
        nodes.push(conditional(word, rest));
      } else if (word === 'range') {
        const pipe = parsePipeline(rest);
        const body = block();
        const elseNodes = body.end === 'else' ? block().nodes : [];
        nodes.push({ kind: 'range', pipe: { cmds: pipe.cmds }, vars: pipe.decl?.names ?? [], body: body.nodes, else: elseNodes });
      } else if (word === 'define') {
        const name = JSON.parse(rest) as string;
        const body = block();
        defines.set(name, body.nodes);
      } else if (word === 'template') {
        const m = /^("(?:[^"\\]|\\.)*")\s*(.*)$/.exec(rest)!;
        nodes.push({ kind: 'template', name: JSON.parse(m[1]!) as string, ...(m[2] ? { pipe: parsePipeline(m[2]) } : {}) });
      } else if (word === 'block') {
        throw new HelmRenderError('block is not supported');
      } else {
        nodes.push({ kind: 'action', pipe: parsePipeline(action) });
      }
    }
    return { nodes, end: 'eof' };
  };
  const conditional = (kind: 'if' | 'with', expr: string): IfNode => {
    const thenPart = block();
    let elseNodes: Node[] = [];
    if (thenPart.end === 'else') {
      const elseExpr = thenPart.elseExpr ?? '';
      const m = /^(if|with)\s+(.*)$/.exec(elseExpr);
      // `else if X` chains: the nested conditional consumes the shared `end`.
      elseNodes = m ? [conditional(m[1] as 'if' | 'with', m[2]!)] : block().nodes;
    }
    return { kind, pipe: parsePipeline(expr), then: thenPart.nodes, else: elseNodes };
  };
  const top = block();
  if (top.end !== 'eof') throw new HelmRenderError(`unexpected {{ ${top.end} }}`);
  return top.nodes;
}

// ---------------------------------------------------------------- values

const isMap = (v: Value): v is Record<string, Value> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Go's template truth: false, 0, nil, and empty strings, slices and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (v instanceof GoInt || v instanceof GoFloatLiteral) return v.n !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** fmt's %v: integers print plainly below 1e21, floats in Go's shortest %g (1e+06 style). */
export function goFormat(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (v instanceof GoInt) return String(v.n);
  if (v instanceof GoFloatLiteral) return goFormat(v.n);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    const [mantissa, expText] = v.toExponential().split('e');
    const exp = Number(expText);
    // %v is strconv's shortest %g, which switches to an exponent at 1e+06
    // (and below 1e-4): why Helm prints 1000000 as 1e+06.
    if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
    return String(v);
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goFormat(v[k])}`).join(' ')}]`;
  return String(v);
}

function field(base: Value, path: string[], what: string): Value {
  let cur = base;
  for (const key of path) {
    if (cur === undefined || cur === null) throw new HelmRenderError(`nil pointer evaluating ${what}.${key}`);
    if (!isMap(cur)) throw new HelmRenderError(`can't evaluate field ${key} in ${what}`);
    cur = cur[key];
  }
  return cur;
}

const empty = (v: Value) => !truthy(v);
const toInt = (v: Value): number => {
  if (v instanceof GoInt || v instanceof GoFloatLiteral) return Math.trunc(v.n);
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Math.trunc(Number(v));
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
};
type Kind = 'nil' | 'int' | 'float literal' | 'values number' | 'string' | 'bool' | 'other';
const kindOf = (v: Value): Kind =>
  v === undefined || v === null ? 'nil'
    : v instanceof GoInt ? 'int'
      : v instanceof GoFloatLiteral ? 'float literal'
        : typeof v === 'number' ? 'values number'
          : typeof v === 'string' ? 'string'
            : typeof v === 'boolean' ? 'bool'
              : 'other';
const incompatible = (fn: string, a: Kind, b: Kind) =>
  new HelmRenderError(`error calling ${fn}: incompatible types for comparison (${a}, ${b})${
    a === 'values number' || b === 'values number' ? '; a number from values is float64 before helm 3.18 and int64 after: convert it with int' : ''}`);

/** text/template's eq: true when the first argument equals any other; kinds must agree unless one is nil. */
function goEq(fn: string, first: Value, others: Value[]): boolean {
  if (others.length === 0) throw new HelmRenderError(`error calling ${fn}: missing argument for comparison`);
  const k1 = kindOf(first);
  for (const other of others) {
    const k2 = kindOf(other);
    let truth: boolean;
    if (k1 !== k2) {
      if (k1 !== 'nil' && k2 !== 'nil') throw incompatible(fn, k1, k2);
      truth = false;
    } else if (k1 === 'other') {
      throw new HelmRenderError(`error calling ${fn}: non-comparable type ${goFormat(first)}`);
    } else {
      truth = k1 === 'nil' || (numberOf(first) ?? first) === (numberOf(other) ?? other);
    }
    if (truth) return true;
  }
  return false;
}

/** text/template's lt: basic kinds only (no nil, no bool), both of one kind. */
function goLt(fn: string, a: Value, b: Value): boolean {
  const [ka, kb] = [kindOf(a), kindOf(b)];
  for (const k of [ka, kb]) if (k === 'nil' || k === 'bool' || k === 'other') throw new HelmRenderError(`error calling ${fn}: invalid type for comparison`);
  if (ka !== kb) throw incompatible(fn, ka, kb);
  return ka === 'string' ? (a as string) < (b as string) : numberOf(a)! < numberOf(b)!;
}

/** Helm's own `required` (not Sprig's empty): only nil and "" fail; false, 0 and empty maps pass. */
function helmRequired(message: Value, v: Value): Value {
  if (v === undefined || v === null || v === '') throw new HelmRenderError(`required: ${goFormat(message)}`);
  return v;
}

/** Values as YAML/JSON would hold them: GoInt back to a plain number. */
function plain(v: Value): Value {
  if (v instanceof GoInt || v instanceof GoFloatLiteral) return v.n;
  if (Array.isArray(v)) return v.map(plain);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function goPrintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([-+# 0]*\d*(?:\.\d+)?)([sdvqt%])/g, (_, __, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'd') return String(toInt(a));
    if (verb === 'q') return JSON.stringify(goFormat(a));
    return goFormat(a);
  });
}

// ---------------------------------------------------------------- rendering

export interface ChartContext {
  readonly values: Record<string, Value>;
  readonly chart: { Name: string; Version: string; AppVersion: string };
  readonly release: { Name: string; Namespace: string; Service?: string; IsInstall?: boolean; IsUpgrade?: boolean; Revision?: number };
  /** What `lookup apiVersion kind namespace name` finds in the cluster (an object, or {} for none); default none, as `helm template`. */
  readonly lookup?: (apiVersion: string, kind: string, namespace: string, name: string) => Record<string, unknown> | undefined;
  /** Chart files outside templates/ by chart-relative path, for `.Files.Get` (Helm answers "" for a missing one). */
  readonly files?: ReadonlyMap<string, string>;
}

/**
 * Renders every non-partial template of a chart (name -> text), as
 * `helm template` would with the given values and no cluster (lookup = {}).
 * Returns name -> rendered text.
 */
export function renderChart(templates: ReadonlyMap<string, string>, ctx: ChartContext): Map<string, string> {
  const defines = new Map<string, Node[]>();
  const parsed = new Map<string, Node[]>();
  for (const [name, text] of templates) {
    try {
      const nodes = parse(lex(text), defines);
      parsed.set(name, nodes);
      // Helm names each file's template by its path, so `include (print $.Template.BasePath "/x.yaml") .` works.
      defines.set(`${ctx.chart.Name}/templates/${name}`, nodes);
    } catch (err) {
      throw new HelmRenderError(`${name}: ${(err as Error).message}`);
    }
  }
  const root = (name: string) => ({
    Values: ctx.values,
    Chart: ctx.chart,
    Release: { Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1, ...ctx.release },
    Template: { Name: `${ctx.chart.Name}/templates/${name}`, BasePath: `${ctx.chart.Name}/templates` },
    Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' }, APIVersions: [] },
    Files: { Get: (path: Value) => ctx.files?.get(String(path)) ?? '' },
  });

  const renderNodes = (nodes: Node[], dot: Value, scope: Scope): string => {
    let out = '';
    for (const node of nodes) out += renderNode(node, dot, scope);
    return out;
  };
  const lookupVar = (scope: Scope, name: string): Value => {
    for (let i = scope.length - 1; i >= 0; i--) if (scope[i]!.has(name)) return scope[i]!.get(name);
    throw new HelmRenderError(`undefined variable ${name}`);
  };
  const assignVar = (scope: Scope, name: string, value: Value) => {
    for (let i = scope.length - 1; i >= 0; i--) {
      if (scope[i]!.has(name)) {
        scope[i]!.set(name, value);
        return;
      }
    }
    throw new HelmRenderError(`undefined variable ${name}`);
  };
  const includeTemplate = (name: string, data: Value): string => {
    const body = defines.get(name);
    if (!body) throw new HelmRenderError(`no template "${name}"`);
    return renderNodes(body, data, [new Map([['$', data]])]);
  };

  const callFn = (name: string, args: Value[], lazy: (() => Value)[] | undefined, dot: Value): Value => {
    switch (name) {
      case 'and': {
        let v: Value = true;
        for (const f of lazy!) if (!truthy((v = f()))) return v;
        return v;
      }
      case 'or': {
        let v: Value = false;
        for (const f of lazy!) if (truthy((v = f()))) return v;
        return v;
      }
      case 'not': return !truthy(args[0]);
      case 'eq': return goEq('eq', args[0], args.slice(1));
      case 'ne': return !goEq('ne', args[0], [args[1]]);
      case 'lt': return goLt('lt', args[0], args[1]);
      case 'le': return goLt('le', args[0], args[1]) || goEq('le', args[0], [args[1]]);
      case 'gt': return !(goLt('gt', args[0], args[1]) || goEq('gt', args[0], [args[1]]));
      case 'ge': return !goLt('ge', args[0], args[1]);
      case 'default': return empty(args[1]) ? args[0] : args[1];
      case 'empty': return empty(args[0]);
      case 'required': return helmRequired(args[0], args[1]);
      case 'fail': throw new HelmRenderError(`fail: ${goFormat(args[0])}`);
      case 'include': return includeTemplate(String(args[0]), args[1]);
      case 'print': return args.map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goFormat(a)).join('');
      case 'printf': return goPrintf(String(args[0]), args.slice(1));
      case 'quote': return args.filter((a) => a !== undefined && a !== null).map((a) => JSON.stringify(goFormat(a))).join(' ');
      case 'squote': return args.filter((a) => a !== undefined && a !== null).map((a) => `'${goFormat(a)}'`).join(' ');
      case 'toString': return goFormat(args[0] === undefined ? null : args[0]);
      case 'int': case 'int64': return int(toInt(args[0]));
      case 'add': return int(args.reduce<number>((s, a) => s + toInt(a), 0));
      case 'sub': return int(toInt(args[0]) - toInt(args[1]));
      case 'mul': return int(args.reduce<number>((s, a) => s * toInt(a), 1));
      case 'div': return int(Math.trunc(toInt(args[0]) / toInt(args[1])));
      case 'trunc': { const s = String(args[1]); const n = toInt(args[0]); return n >= 0 ? s.slice(0, n) : s.slice(n); }
      case 'trimSuffix': { const s = String(args[1]); return s.endsWith(String(args[0])) ? s.slice(0, s.length - String(args[0]).length) : s; }
      case 'trimPrefix': { const s = String(args[1]); return s.startsWith(String(args[0])) ? s.slice(String(args[0]).length) : s; }
      case 'trim': return String(args[0]).trim();
      case 'lower': return String(args[0]).toLowerCase();
      case 'upper': return String(args[0]).toUpperCase();
      case 'contains': return String(args[1]).includes(String(args[0]));
      case 'hasPrefix': return String(args[1]).startsWith(String(args[0]));
      case 'replace': return String(args[2]).split(String(args[0])).join(String(args[1]));
      case 'indent': return String(args[1]).split('\n').map((l) => ' '.repeat(toInt(args[0])) + l).join('\n');
      case 'nindent': return `\n${String(args[1]).split('\n').map((l) => ' '.repeat(toInt(args[0])) + l).join('\n')}`;
      // go-yaml (YAML 1.1) output: strings such as "off" or "yes" come out quoted.
      case 'toYaml': return args[0] === undefined || args[0] === null ? 'null' : stringify(plain(args[0]), { sortMapEntries: true, lineWidth: 0, version: '1.1' }).replace(/\n$/, '');
      case 'b64enc': return Buffer.from(String(args[0])).toString('base64');
      case 'sha256sum': return createHash('sha256').update(String(args[0])).digest('hex');
      case 'randAlphaNum': {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
        return [...randomBytes(toInt(args[0]))].map((b) => alphabet[b % alphabet.length]).join('');
      }
      case 'dict': {
        const d: Record<string, Value> = {};
        for (let i = 0; i + 1 < args.length; i += 2) d[String(args[i])] = args[i + 1];
        return d;
      }
      case 'list': return [...args];
      case 'has': return Array.isArray(args[1]) && args[1].some((x) => plain(x) === plain(args[0]));
      case 'hasKey': return isMap(args[0]) && String(args[1]) in args[0];
      case 'len': return int(Array.isArray(args[0]) || typeof args[0] === 'string' ? args[0].length : isMap(args[0]) ? Object.keys(args[0]).length : 0);
      case 'index': {
        let cur = args[0];
        for (const key of args.slice(1)) {
          if (cur === undefined || cur === null) throw new HelmRenderError('index of untyped nil');
          cur = Array.isArray(cur) ? cur[toInt(key)] : (cur as Record<string, Value>)[String(key)];
        }
        return cur;
      }
      // Without a cluster (`helm template`) every lookup finds nothing; ctx.lookup plays the cluster for upgrades.
      case 'lookup': return ctx.lookup?.(...(args.map(String) as [string, string, string, string])) ?? {};
      default:
        void dot;
        throw new HelmRenderError(`unsupported function "${name}" (add it to test/support/deploy-helm-render.ts)`);
    }
  };

  const evalOperand = (op: Operand, dot: Value, scope: Scope): Value => {
    switch (op.t) {
      case 'lit': return op.v;
      case 'fn': return callFn(op.name, [], [], dot); // a niladic function used as an argument, like `dict`
      case 'pipe': return field(evalPipeline(op.pipe, dot, scope), op.path, '(...)');
      case 'field': {
        const base = op.base === 'dot' ? dot : lookupVar(scope, op.base as string);
        return field(base, op.path, op.base === 'dot' ? '' : (op.base as string));
      }
    }
  };
  const evalCommand = (cmd: Command, piped: Value | typeof NONE, dot: Value, scope: Scope): Value => {
    const [head, ...rest] = cmd;
    if (head!.t === 'fn') {
      const lazy = [...rest.map((o) => () => evalOperand(o, dot, scope)), ...(piped === NONE ? [] : [() => piped])];
      const lazyFns = head!.name === 'and' || head!.name === 'or';
      const args = lazyFns ? [] : lazy.map((f) => f());
      return callFn(head!.name, args, lazyFns ? lazy : undefined, dot);
    }
    const value = evalOperand(head!, dot, scope);
    // A method of the root object (`.Files.Get "x"`), called with its arguments like a function.
    if (typeof value === 'function') {
      return (value as (...a: Value[]) => Value)(...rest.map((o) => evalOperand(o, dot, scope)), ...(piped === NONE ? [] : [piped]));
    }
    if (rest.length > 0 || piped !== NONE) throw new HelmRenderError("can't give arguments to a non-function");
    return value;
  };
  const NONE = Symbol('none');
  const evalPipeline = (pipe: Pipeline, dot: Value, scope: Scope): Value => {
    let value: Value | typeof NONE = NONE;
    for (const cmd of pipe.cmds) value = evalCommand(cmd, value, dot, scope);
    if (pipe.decl) {
      const name = pipe.decl.names[0]!;
      if (pipe.decl.op === ':=') scope.at(-1)!.set(name, value);
      else assignVar(scope, name, value);
    }
    return value;
  };
  const renderNode = (node: Node, dot: Value, scope: Scope): string => {
    switch (node.kind) {
      case 'text': return node.text;
      case 'action': {
        const v = evalPipeline(node.pipe, dot, scope);
        return node.pipe.decl ? '' : v === undefined ? '' : goFormat(v);
      }
      case 'template': return includeTemplate(node.name, node.pipe ? evalPipeline(node.pipe, dot, scope) : undefined);
      case 'if':
      case 'with': {
        const inner: Scope = [...scope, new Map()];
        const v = evalPipeline(node.pipe, dot, inner);
        if (truthy(v)) return renderNodes(node.then, node.kind === 'with' ? v : dot, inner);
        return renderNodes(node.else, dot, [...scope, new Map()]);
      }
      case 'range': {
        const v = evalPipeline(node.pipe, dot, scope);
        const entries: [Value, Value][] = Array.isArray(v) ? v.map((x, i) => [int(i), x]) : isMap(v) ? Object.keys(v).sort().map((k) => [k, v[k]]) : [];
        if (v !== undefined && v !== null && !Array.isArray(v) && !isMap(v)) throw new HelmRenderError(`range can't iterate over ${goFormat(v)}`);
        if (entries.length === 0) return renderNodes(node.else, dot, [...scope, new Map()]);
        return entries
          .map(([k, x]) => {
            const vars = new Map<string, Value>();
            if (node.vars.length === 1) vars.set(node.vars[0]!, x);
            if (node.vars.length === 2) {
              vars.set(node.vars[0]!, k);
              vars.set(node.vars[1]!, x);
            }
            return renderNodes(node.body, x, [...scope, vars]);
          })
          .join('');
      }
    }
  };

  const out = new Map<string, string>();
  for (const [name, nodes] of parsed) {
    if (name.startsWith('_')) continue;
    const data = root(name);
    try {
      out.set(name, renderNodes(nodes, data, [new Map([['$', data]])]));
    } catch (err) {
      throw new HelmRenderError(`${name}: ${(err as Error).message}`);
    }
  }
  return out;
}
