/**
 * Reading the deployment files the way their programs do, for tests that cannot run Docker:
 * Compose's `.env` format and `${VAR}` interpolation, Mosquitto's configuration and ACL formats,
 * and the Dockerfile's stages. Each follows its program's documentation, not our own writing
 * habits, so a file that our parser accepts and the program would not is a bug in here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const rootPath = (...parts: string[]): string => join(ROOT, ...parts);
export const readRootFile = (...parts: string[]): string => readFileSync(rootPath(...parts), 'utf8');

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

export interface ComposeHealthcheck {
  test?: string | string[];
  disable?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type: string; source?: string; target: string; read_only?: boolean; bind?: { create_host_path?: boolean } })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: ComposeHealthcheck;
  entrypoint?: string | string[];
  command?: string | string[];
  ports?: string[];
  restart?: string;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function loadCompose(): ComposeFile {
  return parseYaml(readRootFile('docker-compose.yml'), { merge: true }) as ComposeFile;
}

/** The service's environment as a mapping, whichever of Compose's two forms the file uses. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => {
      const equals = entry.indexOf('=');
      return equals < 0 ? [entry, ''] : [entry.slice(0, equals), entry.slice(equals + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

// ---------------------------------------------------------------------------------------------
// .env files (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/#env-file-syntax)

export interface EnvAssignment {
  name: string;
  value: string;
  /** `# NAME=value`: documented, not set. */
  commented: boolean;
  line: number;
}

const ASSIGNMENT = /^\s*(#\s*)?(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** Every `NAME=value` line, set or commented out; other comment lines are left alone. */
export function parseEnvFile(text: string): EnvAssignment[] {
  const out: EnvAssignment[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const match = ASSIGNMENT.exec(raw);
    if (!match) return;
    const [, comment, name, rest] = match as unknown as [string, string | undefined, string, string];
    out.push({ name, value: envValue(rest), commented: comment !== undefined, line: index + 1 });
  });
  return out;
}

function envValue(rest: string): string {
  const trimmed = rest.trim();
  if (trimmed.startsWith("'")) return trimmed.slice(1, trimmed.indexOf("'", 1) < 0 ? undefined : trimmed.indexOf("'", 1));
  if (trimmed.startsWith('"')) {
    let value = '';
    for (let i = 1; i < trimmed.length; i += 1) {
      const char = trimmed[i] as string;
      if (char === '"') break;
      if (char === '\\' && i + 1 < trimmed.length) {
        const next = trimmed[i + 1] as string;
        value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
        i += 1;
      } else {
        value += char;
      }
    }
    return value;
  }
  // An unquoted value ends at " #", an inline comment.
  return trimmed.replace(/\s+#.*$/, '');
}

/** The variables a `.env` file sets (commented lines are not set), last assignment winning. */
export function envFileVariables(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const assignment of parseEnvFile(text)) if (!assignment.commented) vars[assignment.name] = assignment.value;
  return vars;
}

// ---------------------------------------------------------------------------------------------
// Compose interpolation (https://docs.docker.com/reference/compose-file/interpolation/)

export interface VariableUse {
  name: string;
  /** `:?` or `?`: Compose refuses to start without it. */
  required: boolean;
  /** The text after `:-` or `-`, when there is one. */
  fallback?: string;
}

export class InterpolationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Finds the `}` closing the `${` that starts at `open`, allowing nested `${…}` in defaults. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i += 1) {
    if (text.startsWith('${', i)) {
      depth += 1;
      i += 1;
    } else if (text[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/**
 * Interpolates one string as Compose does: `$$` is a literal `$`; `$VAR` and `${VAR}`; `:-`/`-`
 * defaults (when unset or empty / only when unset), `:?`/`?` required, `:+`/`+` alternatives.
 * Unset variables become empty strings. Every use is reported to `uses`; missing required values
 * are collected in `problems` (Compose stops at the first, naming it).
 */
export function interpolate(text: string, vars: Record<string, string | undefined>, uses: VariableUse[] = [], problems: string[] = []): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    if (char !== '$') {
      out += char;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = closingBrace(text, i);
      if (close < 0) throw new InterpolationError([`unclosed \${ in "${text}"`]);
      const inner = text.slice(i + 2, close);
      out += expand(inner, vars, uses, problems);
      i = close + 1;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (name) {
      uses.push({ name, required: false });
      out += vars[name] ?? '';
      i += 1 + name.length;
      continue;
    }
    throw new InterpolationError([`invalid interpolation format in "${text}": a lone $ must be written $$`]);
  }
  return out;
}

function expand(inner: string, vars: Record<string, string | undefined>, uses: VariableUse[], problems: string[]): string {
  const name = NAME.exec(inner)?.[0];
  if (!name) throw new InterpolationError([`invalid interpolation format: \${${inner}}`]);
  const rest = inner.slice(name.length);
  const value = vars[name];
  const unset = value === undefined;
  const empty = unset || value === '';
  const operator = /^(:?[-?+])?/.exec(rest)?.[0] ?? '';
  const argument = rest.slice(operator.length);
  if (operator === '' && rest !== '') throw new InterpolationError([`invalid interpolation format: \${${inner}}`]);
  switch (operator) {
    case '':
      uses.push({ name, required: false });
      return value ?? '';
    case ':-':
    case '-':
      uses.push({ name, required: false, fallback: argument });
      return (operator === ':-' ? empty : unset) ? interpolate(argument, vars, uses, problems) : (value ?? '');
    case ':?':
    case '?':
      uses.push({ name, required: true });
      if (operator === ':?' ? empty : unset) problems.push(`required variable ${name} is missing a value: ${argument}`);
      return value ?? '';
    case ':+':
    case '+':
      uses.push({ name, required: false });
      return (operator === ':+' ? !empty : !unset) ? interpolate(argument, vars, uses, problems) : '';
    default:
      throw new InterpolationError([`invalid interpolation format: \${${inner}}`]);
  }
}

/** Interpolates every string in a parsed YAML tree (keys are not interpolated by Compose). */
export function interpolateTree<T>(tree: T, vars: Record<string, string | undefined>, uses: VariableUse[] = [], problems: string[] = []): T {
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return interpolate(node, vars, uses, problems);
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
    return node;
  };
  return walk(tree) as T;
}

// ---------------------------------------------------------------------------------------------
// Mosquitto configuration (mosquitto.conf(5): "name value" lines, # comments at line start)

export interface ConfLine {
  key: string;
  value: string;
  line: number;
}

/** Mosquitto's line format. Throws on what Mosquitto would refuse to read. */
export function parseMosquittoConf(text: string): ConfLine[] {
  const lines: ConfLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    if (raw.trim() === '' || raw.startsWith('#')) return;
    if (/^\s+#/.test(raw)) throw new Error(`line ${index + 1}: a comment must start at the first character: ${raw}`);
    const match = /^([a-z_0-9]+)(?: (.*))?$/.exec(raw);
    if (!match) throw new Error(`line ${index + 1}: not "name value": ${raw}`);
    const [, key, value] = match as unknown as [string, string, string | undefined];
    if (value !== undefined && /\s#/.test(value)) throw new Error(`line ${index + 1}: Mosquitto has no end-of-line comments: ${raw}`);
    lines.push({ key, value: (value ?? '').trim(), line: index + 1 });
  });
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Mosquitto ACL file (https://mosquitto.org/man/mosquitto-conf-5.html, acl_file)

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  access: AclAccess;
  topic: string;
  line: number;
}

export interface AclFile {
  /** Rules before any `user` line: anonymous clients. */
  anonymous: AclRule[];
  users: Map<string, AclRule[]>;
  /** `pattern` rules: every client, with %u and %c substituted. */
  patterns: AclRule[];
}

export function parseAcl(text: string): AclFile {
  const acl: AclFile = { anonymous: [], users: new Map(), patterns: [] };
  let current = acl.anonymous;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const where = `acl line ${index + 1}`;
    if (line === '' || raw.startsWith('#')) return;
    const [keyword, ...words] = line.split(/\s+/);
    if (keyword === 'user') {
      const name = line.slice('user'.length).trim();
      if (name === '') throw new Error(`${where}: user without a name`);
      current = acl.users.get(name) ?? [];
      acl.users.set(name, current);
      return;
    }
    if (keyword !== 'topic' && keyword !== 'pattern') throw new Error(`${where}: unknown keyword "${keyword ?? ''}"`);
    const [first, ...others] = words;
    const access: AclAccess = first === 'read' || first === 'write' || first === 'readwrite' || first === 'deny' ? first : 'readwrite';
    const topic = (access === first ? others : words).join(' ');
    if (topic === '') throw new Error(`${where}: ${keyword} without a topic`);
    (keyword === 'pattern' ? acl.patterns : current).push({ access, topic, line: index + 1 });
  });
  return acl;
}

/** MQTT topic filter matching (`+` one level, `#` the rest, `$` topics not matched by wildcards). */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i += 1) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * What Mosquitto's acl_file grants a client for one concrete topic: deny rules first, then the
 * client's own rules (anonymous: the rules before any `user` line), then patterns with `%u`/`%c`
 * substituted (never for a username or client id holding a wildcard or a slash).
 */
export function aclAllows(acl: AclFile, client: { username?: string; clientId: string }, topic: string, access: 'read' | 'write'): boolean {
  const own = client.username === undefined ? acl.anonymous : (acl.users.get(client.username) ?? []);
  const unsafe = (value: string | undefined) => value !== undefined && /[+#/]/.test(value);
  const patterns = acl.patterns.flatMap((rule) => {
    if ((rule.topic.includes('%u') && (client.username === undefined || unsafe(client.username))) || (rule.topic.includes('%c') && unsafe(client.clientId))) return [];
    return [{ ...rule, topic: rule.topic.replace(/%u/g, client.username ?? '').replace(/%c/g, client.clientId) }];
  });
  const rules = [...own, ...patterns];
  if (rules.some((rule) => rule.access === 'deny' && topicMatches(rule.topic, topic))) return false;
  return rules.some((rule) => (rule.access === 'readwrite' || rule.access === access) && topicMatches(rule.topic, topic));
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export interface DockerStage {
  from: string;
  name: string | undefined;
  instructions: { keyword: string; args: string }[];
}

/** Stages and their instructions, with `\` continuations joined and comments dropped. */
export function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (pending === '' && (raw.trim() === '' || raw.trim().startsWith('#'))) continue;
    if (pending !== '' && raw.trim().startsWith('#')) continue;
    if (raw.endsWith('\\')) {
      pending += `${raw.slice(0, -1)} `;
      continue;
    }
    logical.push(`${pending}${raw}`.trim());
    pending = '';
  }
  if (pending.trim() !== '') logical.push(pending.trim());
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!match) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: match[1] as string, name: match[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) {
      if (keyword.toUpperCase() === 'ARG') continue;
      throw new Error(`${keyword} before the first FROM`);
    }
    stage.instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return stages;
}

/** Sources and destination of a COPY, and the stage it copies from, if any. */
export function copyArgs(args: string): { from: string | undefined; sources: string[]; destination: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const word of words) {
    if (word.startsWith('--from=')) from = word.slice('--from='.length);
    else if (!word.startsWith('--')) rest.push(word);
  }
  const destination = rest.pop();
  if (destination === undefined || rest.length === 0) throw new Error(`cannot read COPY ${args}`);
  return { from, sources: rest, destination };
}

// ---------------------------------------------------------------------------------------------
// What the broker's ACL must do: checked against the file by tests/unit/deploy/mosquitto.test.ts
// and against a real Mosquitto running it by tests/integration/mosquitto-acl.test.ts.

export const SERVICE_USER = 'ingest_service';
export const SIMULATOR_USER = 'demo_simulator';

export interface AclExpectation {
  username: string;
  topic: string;
  access: 'read' | 'write';
  allowed: boolean;
  why: string;
}

export const ACL_EXPECTATIONS: readonly AclExpectation[] = [
  ...['flow', 'pump', 'level', 'status'].map((kind) => ({ username: 'khabou', topic: `boreholes/khabou/${kind}`, access: 'write' as const, allowed: true, why: 'a device publishes its own readings and status' })),
  { username: 'khabou', topic: 'boreholes/segala/flow', access: 'write', allowed: false, why: 'a device cannot publish readings for another borehole' },
  { username: 'khabou', topic: 'boreholes/segala/status', access: 'write', allowed: false, why: "a device cannot mark another borehole offline" },
  { username: 'khabou', topic: 'boreholes/khabou/flow/extra', access: 'write', allowed: false, why: 'deeper than the service subscribes: it would be heard by no one' },
  { username: 'khabou', topic: 'boreholes/khabou', access: 'write', allowed: false, why: 'not a topic of the contract' },
  { username: 'khabou', topic: 'other/khabou/flow', access: 'write', allowed: false, why: 'outside the topic root' },
  { username: 'khabou', topic: 'boreholes/khabou/flow', access: 'read', allowed: false, why: 'devices read nothing, not even their own topics' },
  { username: 'khabou', topic: 'boreholes/segala/flow', access: 'read', allowed: false, why: "devices cannot read each other's readings" },
  { username: SERVICE_USER, topic: 'boreholes/khabou/flow', access: 'read', allowed: true, why: 'the service reads every borehole' },
  { username: SERVICE_USER, topic: 'boreholes/segala/status', access: 'read', allowed: true, why: 'the service reads statuses and Last Wills' },
  { username: SERVICE_USER, topic: 'boreholes/khabou/flow', access: 'write', allowed: false, why: 'the service publishes nothing' },
  { username: SIMULATOR_USER, topic: 'boreholes/segala/pump', access: 'write', allowed: true, why: 'the demo simulator plays every borehole' },
  { username: SIMULATOR_USER, topic: 'boreholes/segala/flow/extra', access: 'write', allowed: false, why: 'the simulator is held to the contract topics too' },
  { username: SIMULATOR_USER, topic: 'boreholes/segala/flow', access: 'read', allowed: false, why: 'the simulator reads nothing' },
];
