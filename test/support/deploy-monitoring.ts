/**
 * The monitoring kit (ServiceMonitor, PrometheusRule, Grafana dashboard) read
 * for tests: alert rules and dashboard queries, their PromQL parsed with the
 * grammar the Prometheus UI uses (@prometheus-io/lezer-promql, strict: a
 * syntax error throws), plus the type checks a grammar cannot make.
 */
import { parser } from '@prometheus-io/lezer-promql';

const strictParser = parser.configure({ strict: true });
type Tree = ReturnType<typeof strictParser.parse>;
type SyntaxNode = Tree['topNode'];

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

/** One vector selector: `metric{label op "value", …}`. */
export interface Selector {
  readonly metric: string;
  readonly matchers: Matcher[];
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface DashboardQuery {
  /** Panel title, or `variable <name>`. */
  readonly where: string;
  readonly expr: string;
}

/** Functions whose argument is a range vector (`x[5m]` or a subquery). */
const RANGE_FUNCTIONS = new Set([
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'changes', 'resets', 'predict_linear', 'holt_winters',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'quantile_over_time',
  'stddev_over_time', 'stdvar_over_time', 'last_over_time', 'present_over_time', 'absent_over_time',
]);

/** The parse tree; throws `cannot parse …` with the position of the first syntax error. */
function parsePromQL(expr: string): Tree {
  try {
    return strictParser.parse(expr);
  } catch (err) {
    throw new Error(`cannot parse PromQL (${(err as Error).message}): ${expr}`);
  }
}

/**
 * Problems Prometheus would report when loading the expression: syntax errors,
 * a range function given an instant vector (or the reverse), histogram_quantile
 * over buckets summed away from `le`, and a binary operation between two
 * aggregations grouped by different labels (it would match no series).
 */
export function promqlProblems(expr: string): string[] {
  let tree: Tree;
  try {
    tree = parsePromQL(expr);
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (node.name === 'FunctionCall') {
        const name = text(node.getChild('FunctionIdentifier')!);
        const args = callArgs(node);
        if (RANGE_FUNCTIONS.has(name)) {
          const rangeArg = name === 'quantile_over_time' ? args[1] : args[0];
          if (rangeArg?.name !== 'MatrixSelector' && rangeArg?.name !== 'SubqueryExpr') {
            problems.push(`${name}() needs a range vector: ${text(node)}`);
          }
        }
        if (name === 'histogram_quantile') {
          const grouping = args[1]?.name === 'AggregateExpr' ? groupingOf(args[1], text) : undefined;
          if (grouping && !grouping.includes('le')) problems.push(`histogram_quantile over buckets not grouped by le: ${text(node)}`);
        }
      }
      if (node.name === 'MatrixSelector' || node.name === 'SubqueryExpr') {
        const call = node.parent?.name === 'FunctionCallBody' ? node.parent.parent : null;
        const fn = call?.name === 'FunctionCall' ? text(call.getChild('FunctionIdentifier')!) : undefined;
        if (fn === undefined || !RANGE_FUNCTIONS.has(fn)) problems.push(`a range vector where an instant vector is needed: ${text(node.parent ?? node)}`);
      }
      if (node.name === 'BinaryExpr' && !node.getChild('MatchingModifierClause')) {
        const sides = [node.firstChild, node.lastChild].filter((n): n is SyntaxNode => n?.name === 'AggregateExpr');
        if (sides.length === 2) {
          const [a, b] = sides.map((s) => groupingOf(s, text)?.slice().sort().join(','));
          if (a !== b) problems.push(`binary operation between aggregations grouped by (${a}) and (${b}) matches nothing: ${text(node)}`);
        }
      }
    },
  });
  return problems;
}

/** Every vector selector of the expression, with its label matchers. */
export function selectorsOf(expr: string): Selector[] {
  const tree = parsePromQL(expr);
  const out: Selector[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.name !== 'VectorSelector') return;
      const node = ref.node;
      const id = node.getChild('Identifier');
      const matchers: Matcher[] = [];
      for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        matchers.push({
          label: expr.slice(m.getChild('LabelName')!.from, m.getChild('LabelName')!.to),
          op: expr.slice(m.getChild('MatchOp')!.from, m.getChild('MatchOp')!.to) as Matcher['op'],
          value: JSON.parse(expr.slice(m.getChild('StringLiteral')!.from, m.getChild('StringLiteral')!.to)) as string,
        });
      }
      out.push({ metric: id ? expr.slice(id.from, id.to) : '', matchers });
    },
  });
  return out;
}

function callArgs(call: SyntaxNode): SyntaxNode[] {
  const body = call.getChild('FunctionCallBody');
  const args: SyntaxNode[] = [];
  for (let c = body?.firstChild; c; c = c.nextSibling) if (!['(', ')', ','].includes(c.name)) args.push(c);
  return args;
}

/** Labels of an aggregation's `by (…)`; undefined for `without` or none (grouping we cannot compare). */
function groupingOf(agg: SyntaxNode, text: (n: SyntaxNode) => string): string[] | undefined {
  const modifier = agg.getChild('AggregateModifier');
  if (!modifier) return [];
  if (!modifier.getChild('By')) return undefined;
  return (modifier.getChild('GroupingLabels')?.getChildren('LabelName') ?? []).map(text);
}

/**
 * A Grafana query as Prometheus receives it: Grafana interpolates its
 * variables before sending, so `$__rate_interval` becomes a duration and
 * `$namespace` a value (inside the quoted matchers where the dashboard uses
 * them; a variable anywhere else would not parse, and should not).
 */
function interpolateGrafana(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?([A-Za-z_]\w*)\}?/g, 'value-of-$1');
}

/** Every alert of a PrometheusRule body. */
export function alertRules(body: Record<string, unknown>): AlertRule[] {
  const groups = (body.spec as { groups?: { rules?: AlertRule[] }[] } | undefined)?.groups ?? [];
  return groups.flatMap((g) => g.rules ?? []).filter((r) => typeof r.alert === 'string');
}

interface GrafanaPanel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: GrafanaPanel[];
}

/** Every Prometheus query of a dashboard: panel targets, and the selectors of `label_values(…)` variables. */
export function dashboardQueries(dashboard: { panels?: GrafanaPanel[]; templating?: { list?: { name: string; query?: unknown }[] } }): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: GrafanaPanel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: p.title ?? '(untitled)', expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const query = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const m = /^label_values\((.*),\s*\w+\)$/.exec(query ?? '');
    if (m) out.push({ where: `variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/** The dashboard ConfigMap's JSON (its one data key), parsed. */
export function dashboardOf(configMap: Record<string, unknown>): { text: string; json: Parameters<typeof dashboardQueries>[0] } {
  const data = (configMap.data ?? {}) as Record<string, string>;
  const keys = Object.keys(data);
  if (keys.length !== 1) throw new Error(`the dashboard ConfigMap should hold one JSON file, holds: ${keys.join(', ')}`);
  const text = data[keys[0]!]!;
  return { text, json: JSON.parse(text) as Parameters<typeof dashboardQueries>[0] };
}

/**
 * Every PromQL expression of a set of monitoring objects (PrometheusRules'
 * alerts, dashboard ConfigMaps' queries as Prometheus receives them), each
 * named by where it comes from.
 */
export function kitQueries(objects: readonly { kind: string; name: string; body: Record<string, unknown> }[]): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const o of objects) {
    if (o.kind === 'PrometheusRule') for (const r of alertRules(o.body)) out.push({ where: `${o.name} alert ${r.alert}`, expr: r.expr });
    if (o.kind === 'ConfigMap' && (o.body.metadata as { labels?: Record<string, string> } | undefined)?.labels?.['grafana_dashboard'] === '1') {
      for (const q of dashboardQueries(dashboardOf(o.body).json)) out.push({ where: `${o.name} ${q.where}`, expr: interpolateGrafana(q.expr) });
    }
  }
  return out;
}

/**
 * The GitHub anchors of a Markdown document's headings (what `#…` in a link
 * must be): lower case, punctuation dropped, spaces to hyphens, `-1`, `-2` for repeats.
 */
export function markdownAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .toLowerCase()
      .replace(/`/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
