import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ProxyRoute, RoutePolicy, RouteToken, UserHeader } from './config.js';
import { checkRoutePrefix, normalisePrefix, parseRouteTarget } from './parse-proxy-routes.js';
import { routesSchema } from './routes-schema.js';

/** The file as the schema describes it (schema/routes.schema.json). */
interface RawRoute {
  prefix: string;
  target: string;
  auth?: RoutePolicy['auth'];
  roles?: { anyOf?: string[]; allOf?: string[] };
  token?: 'user' | 'none' | 'client' | { type: RouteToken['type']; audience?: string; scope?: string };
  csrf?: boolean;
  websocket?: boolean;
  timeoutMs?: number;
  stripPrefix?: boolean;
  userHeaders?: UserHeader[];
  dpop?: boolean;
  acr?: string[];
  maxAuthAgeSeconds?: number;
}

// The YAML parser and the schema validator load only for a ROUTES_FILE: loaded by every gateway, they held
// 1.2 MiB of its V8 heap (docs/benchmarks.md). loadConfig is synchronous, hence require() and not import().
const require = createRequire(import.meta.url);

let validator: ValidateFunction | undefined;

function validate(value: unknown): readonly ErrorObject[] {
  validator ??= new (require('ajv') as typeof import('ajv')).Ajv({ allErrors: true, strict: true, verbose: true }).compile(routesSchema);
  return validator(value) ? [] : (validator.errors ?? []);
}

/** Reads and parses ROUTES_FILE; an unreadable file is one problem like any other. */
export function readRoutesFile(path: string, readFile: (path: string) => string): { routes: ProxyRoute[]; problems: string[] } {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    return { routes: [], problems: [`cannot be read: ${(err as Error).message.split('\n')[0]}`] };
  }
  return parseRoutesFile(text);
}

/**
 * Parses ROUTES_FILE (YAML, or JSON, which YAML reads too) into routes with
 * their policies. Every problem is one line naming the route and the field;
 * nothing is returned half-valid.
 */
export function parseRoutesFile(text: string): { routes: ProxyRoute[]; problems: string[] } {
  let doc: unknown;
  try {
    const { parse: parseYaml } = require('yaml') as typeof import('yaml');
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    return { routes: [], problems: [`is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`] };
  }
  const errors = validate(doc);
  if (errors.length > 0) return { routes: [], problems: describeSchemaErrors(doc, errors) };

  const routes: ProxyRoute[] = [];
  const problems: string[] = [];
  for (const raw of (doc as { routes: RawRoute[] }).routes) {
    const prefix = normalisePrefix(raw.prefix);
    const name = `route "${prefix || raw.prefix}"`;
    const prefixProblem = checkRoutePrefix(prefix, raw.prefix);
    if (prefixProblem) problems.push(`${name} field prefix: ${prefixProblem}`);
    if (routes.some((r) => r.prefix === prefix)) problems.push(`${name} field prefix: given twice`);
    const target = parseRouteTarget(prefix, raw.target);
    if (typeof target === 'string') problems.push(`${name} field target: ${target}`);
    const policy = toPolicy(raw);
    for (const p of policyProblems(policy)) problems.push(`${name} ${p}`);
    if (prefixProblem || typeof target === 'string') continue;
    routes.push(isDefaultPolicy(policy) ? { prefix, target } : { prefix, target, policy });
  }
  return problems.length > 0 ? { routes: [], problems } : { routes, problems };
}

function toPolicy(raw: RawRoute): RoutePolicy {
  const token = raw.token ?? 'user';
  const roles = raw.roles && { ...(raw.roles.anyOf ? { anyOf: raw.roles.anyOf } : {}), ...(raw.roles.allOf ? { allOf: raw.roles.allOf } : {}) };
  const auth = raw.auth ?? 'required';
  const routeToken: RouteToken = typeof token === 'string' ? { type: token } : toToken(token);
  const userHeaders = raw.userHeaders ?? [];
  const dpop = raw.dpop ?? false;
  return {
    auth,
    token: routeToken,
    csrf: raw.csrf ?? true,
    websocket: raw.websocket ?? true,
    stripPrefix: raw.stripPrefix ?? true,
    userHeaders,
    dpop,
    // A DPoP route needs a proof per request, a step-up route a check: route-policy.ts's path makes them.
    defaultAccess:
      auth === 'required' &&
      routeToken.type === 'user' &&
      roles === undefined &&
      userHeaders.length === 0 &&
      !dpop &&
      raw.acr === undefined &&
      raw.maxAuthAgeSeconds === undefined,
    ...(roles ? { roles } : {}),
    ...(raw.acr !== undefined ? { acr: raw.acr } : {}),
    ...(raw.maxAuthAgeSeconds !== undefined ? { maxAuthAgeSeconds: raw.maxAuthAgeSeconds } : {}),
    ...(raw.timeoutMs !== undefined ? { timeoutMs: raw.timeoutMs } : {}),
  };
}

function toToken(token: Exclude<RawRoute['token'], string | undefined>): RouteToken {
  const scope = token.scope ? { scope: token.scope } : {};
  if (token.type === 'exchange') return { type: 'exchange', audience: token.audience ?? '', ...scope };
  if (token.type === 'client') return { type: 'client', ...scope };
  return { type: token.type };
}

/** Combinations the schema cannot express: a role check, a step-up check or a user token needs a user. */
function policyProblems(policy: RoutePolicy): string[] {
  const problems: string[] = [];
  if (policy.roles && policy.auth !== 'required') problems.push(`field roles: a role check needs auth: required (got auth: ${policy.auth})`);
  // A step-up answer sends the browser to log in again: only meaningful where a login is required anyway.
  if (policy.acr && policy.auth !== 'required') problems.push(`field acr: a step-up check needs auth: required (got auth: ${policy.auth})`);
  if (policy.maxAuthAgeSeconds !== undefined && policy.auth !== 'required') {
    problems.push(`field maxAuthAgeSeconds: a step-up check needs auth: required (got auth: ${policy.auth})`);
  }
  if (policy.auth === 'none' && (policy.token.type === 'user' || policy.token.type === 'exchange')) {
    problems.push(`field token: auth: none has no user, so token ${policy.token.type} cannot be sent (use none or client)`);
  }
  // Only the user's own token is bound to the session's key; an exchanged or client token is not.
  if (policy.dpop && policy.token.type !== 'user') problems.push(`field dpop: only token user is bound to the session's DPoP key (got token ${policy.token.type})`);
  if (policy.auth === 'none' && policy.userHeaders.length > 0) problems.push('field userHeaders: auth: none has no user to describe');
  return problems;
}

function isDefaultPolicy(policy: RoutePolicy): boolean {
  return (
    policy.defaultAccess &&
    policy.csrf &&
    policy.websocket &&
    policy.stripPrefix &&
    policy.timeoutMs === undefined &&
    policy.userHeaders.length === 0
  );
}

const TOKEN_FORMS = 'must be user, none, client, {type: exchange, audience, scope?} or {type: client, scope?}';

/** One line per problem: `route "/api" field auth: must be one of …`. */
function describeSchemaErrors(doc: unknown, errors: readonly ErrorObject[]): string[] {
  const lines: string[] = [];
  const add = (line: string) => {
    if (!lines.includes(line)) lines.push(line);
  };
  const routesOf = (doc as { routes?: unknown })?.routes;
  for (const err of errors) {
    const segments = err.instancePath.split('/').slice(1);
    if (segments[0] !== 'routes' || segments.length < 2) {
      add(`${err.instancePath || 'the file'}: ${messageOf(err)}`);
      continue;
    }
    const index = Number(segments[1]);
    const entry = Array.isArray(routesOf) ? (routesOf[index] as { prefix?: unknown } | undefined) : undefined;
    const name = typeof entry?.prefix === 'string' ? `route "${entry.prefix}"` : `route #${index + 1}`;
    const field = segments.slice(2).join('.');
    // The token's alternatives (oneOf) each report their own mismatch: one line says what fits instead.
    if (field === 'token' || field.startsWith('token.') || err.schemaPath.includes('/token/')) {
      add(`${name} field token: ${TOKEN_FORMS}`);
      continue;
    }
    // An acr value travels space-separated in acr_values and quoted in WWW-Authenticate.
    if (field.startsWith('acr.') && err.keyword === 'pattern') {
      add(`${name} field ${field}: must be printable ASCII without spaces, quotes or backslashes (got ${JSON.stringify(err.data)})`);
      continue;
    }
    if (err.keyword === 'additionalProperties') {
      const extra = String((err.params as { additionalProperty: string }).additionalProperty);
      add(`${name}${field ? ` field ${field}` : ''}: unknown field "${extra}"`);
      continue;
    }
    if (err.keyword === 'required') {
      add(`${name} field ${field ? `${field}.` : ''}${String((err.params as { missingProperty: string }).missingProperty)}: is required`);
      continue;
    }
    add(field ? `${name} field ${field}: ${messageOf(err)}` : `${name}: ${messageOf(err)}`);
  }
  return lines;
}

function messageOf(err: ErrorObject): string {
  if (err.keyword === 'enum') {
    return `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')} (got ${JSON.stringify(err.data)})`;
  }
  return `${err.message ?? 'is not valid'}${err.keyword === 'type' ? ` (got ${JSON.stringify(err.data)})` : ''}`;
}
