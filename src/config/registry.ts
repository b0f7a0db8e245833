/**
 * The borehole registry of CONTRACT.md section 3: a YAML or JSON file, validated at start-up.
 * The service refuses to start on an invalid file and lists every problem, naming the entry
 * (by index and id) and the field.
 */
import { readFile } from 'node:fs/promises';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { BOREHOLE_ID_PATTERN } from '../contract/topics.js';
import { parseRegistryPhone, type PhoneUse } from '../domain/phone.js';
import { ConfigError, formatPath, type ConfigProblem, type SourcePosition } from './errors.js';
import { RULE_IDS, type RuleId } from '../rules/types.js';
import { resolveRuleParams, ruleParamsOverrideSchema, type RuleParams } from './rule-params.js';

const text = z.string().trim().min(1, 'must not be empty');
// Region and commune become InfluxDB tags, where a trailing backslash would escape the separator.
const tagText = text.refine((value) => !value.includes('\\'), 'must not contain a backslash');
/** A number valid in its country's plan (src/domain/phone.ts), kept in its E.164 form. */
const phone = (use: PhoneUse) => {
  // The transform runs right after the refinement, on the same value: the number is parsed once
  // (a country's registry has 300,000 of them, 6 µs each).
  let last: { value: string; parsed: ReturnType<typeof parseRegistryPhone> } | null = null;
  const parse = (value: string) => {
    if (last?.value !== value) last = { value, parsed: parseRegistryPhone(value, use) };
    return last.parsed;
  };
  return (
    z
      .string()
      // A refinement, not a failing transform: it lets the file's other checks (duplicate ids) run
      // too, so that every problem is listed at once.
      .superRefine((value, ctx) => {
        const parsed = parse(value);
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem });
      })
      .transform((value) => {
        const parsed = parse(value);
        return parsed.ok ? parsed.e164 : value;
      })
  );
};
// Committee members and technicians are sent SMS: a mobile. The regional directorate may give
// its office line (an SMS gateway to a landline, or a call by the operator).
const contactSchema = z.object({ name: text, phone: phone('mobile') });
const escalationContactSchema = z.object({ name: text, phone: phone('any') });

export const LANGUAGES = ['fr', 'bm', 'en'] as const;

/**
 * The maintenance provider's targets (CONTRACT.md section 9): acknowledged within `respond_hours`,
 * repaired within `repair_hours`. `warning_rules` names the rules whose warnings need a technician
 * too (every critical incident does).
 */
const serviceLevelSchema = z
  .object({
    respond_hours: z.number().positive().optional(),
    repair_hours: z.number().positive().optional(),
    warning_rules: z.array(z.enum(RULE_IDS)).optional(),
  })
  .strict();
export type ServiceLevelEntry = z.infer<typeof serviceLevelSchema>;

export interface ServiceLevel {
  respond_hours: number;
  repair_hours: number;
  warning_rules: readonly RuleId[];
}

export const SERVICE_LEVEL_DEFAULTS: Readonly<ServiceLevel> = Object.freeze({ respond_hours: 72, repair_hours: 168, warning_rules: [] });
export type Language = (typeof LANGUAGES)[number];

export const boreholeSchema = z.object({
  id: z.string().regex(BOREHOLE_ID_PATTERN, 'must match ^[a-z0-9][a-z0-9-]{1,62}$ (lowercase letters, digits, dashes)'),
  name: text,
  village: text,
  commune: tagText,
  region: tagText,
  location: z.object({
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
  }),
  pump: z.object({
    rated_flow_lpm: z.number().positive(),
    intake_depth_m: z.number().positive(),
  }),
  committee: z.object({
    language: z.enum(LANGUAGES).default('fr'),
    contacts: z.array(contactSchema).min(1, 'must name at least one committee contact'),
  }),
  technician: contactSchema,
  /** Who takes the work order when the technician does not acknowledge in time. */
  backup_technician: contactSchema.optional(),
  provider: text.optional(),
  service_level: serviceLevelSchema.optional(),
  rules: ruleParamsOverrideSchema.optional(),
})
  // A misspelt key (`rule:`, `technicien:`) would otherwise be dropped without a word.
  .strict();

export const registryFileSchema = z
  .object({
    boreholes: z.array(boreholeSchema).min(1, 'must list at least one borehole'),
    escalation: z.record(z.string(), escalationContactSchema).optional(),
    /** A region's backup technician, for the boreholes that name none. */
    backup_technicians: z.record(z.string(), contactSchema).optional(),
    provider: text.optional(),
    service_level: serviceLevelSchema.optional(),
    rules: ruleParamsOverrideSchema.optional(),
  })
  .strict()
  .superRefine((registry, ctx) => {
    for (const issue of crossEntryIssues(registry)) ctx.addIssue({ code: 'custom', ...issue });
  });

/**
 * The checks across entries (an id used twice, an escalation region without a borehole). They
 * read the file as written rather than as parsed: zod skips a refinement of the whole file once
 * any entry lacks a field, and an operator must see every problem in one go (issue 16).
 */
function crossEntryIssues(raw: unknown): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (!isRecord(raw)) return issues;
  const entries = Array.isArray(raw.boreholes) ? (raw.boreholes as unknown[]) : [];
  const seen = new Map<string, number>();
  const regions = new Set<string>();
  entries.forEach((entry, index) => {
    if (!isRecord(entry)) return;
    if (typeof entry.region === 'string' && entry.region.trim() !== '') regions.add(entry.region.trim());
    if (typeof entry.id !== 'string') return;
    const first = seen.get(entry.id);
    if (first !== undefined) {
      issues.push({ path: ['boreholes', index, 'id'], message: `duplicate id "${entry.id}" (already used by boreholes[${first}])` });
    } else {
      seen.set(entry.id, index);
    }
  });
  const escalation = isRecord(raw.escalation) && !Array.isArray(raw.escalation) ? raw.escalation : {};
  for (const region of Object.keys(escalation)) {
    if (!regions.has(region)) {
      issues.push({ path: ['escalation', region], message: `no borehole is in region "${region}" (regions: ${[...regions].join(', ')})` });
    }
  }
  return issues;
}

export type RegistryFile = z.infer<typeof registryFileSchema>;
export type BoreholeEntry = z.infer<typeof boreholeSchema>;
export type Contact = z.infer<typeof contactSchema>;

/**
 * A borehole as the service uses it: the registry entry with its rule parameters, service level,
 * provider and backup technician resolved from the top level where it names none.
 */
export interface Borehole extends Omit<BoreholeEntry, 'rules' | 'service_level' | 'provider' | 'backup_technician'> {
  rules: RuleParams;
  service_level: ServiceLevel;
  provider: string | null;
  backup_technician: Contact | null;
}

export interface Registry {
  boreholes: ReadonlyMap<string, Borehole>;
  escalation: Readonly<Record<string, Contact>>;
}

export function buildRegistry(file: RegistryFile): Registry {
  const boreholes = new Map<string, Borehole>();
  // One string per region and commune name: a country has 100,000 boreholes in a few hundred
  // communes, and a list filtered by region compares each of them (issue 19).
  const names = new Map<string, string>();
  const once = (name: string): string => {
    const known = names.get(name);
    if (known !== undefined) return known;
    names.set(name, name);
    return name;
  };
  for (const entry of file.boreholes) {
    const { service_level: own, provider, backup_technician, ...rest } = entry;
    const service_level: ServiceLevel = { ...SERVICE_LEVEL_DEFAULTS };
    for (const level of [file.service_level, own]) {
      if (level?.respond_hours !== undefined) service_level.respond_hours = level.respond_hours;
      if (level?.repair_hours !== undefined) service_level.repair_hours = level.repair_hours;
      if (level?.warning_rules !== undefined) service_level.warning_rules = level.warning_rules;
    }
    boreholes.set(entry.id, {
      ...rest,
      region: once(rest.region),
      commune: once(rest.commune),
      rules: resolveRuleParams(file.rules, entry.rules),
      service_level,
      provider: provider ?? file.provider ?? null,
      backup_technician: backup_technician ?? file.backup_technicians?.[entry.region] ?? null,
    });
  }
  return { boreholes, escalation: file.escalation ?? {} };
}

/** Parses registry text; `source` names the file in errors, which list every problem at once. */
export function parseRegistry(content: string, source: string): Registry {
  const json = source.endsWith('.json');
  const lineCounter = new LineCounter();
  // JSON is YAML too: on a problem, the YAML parser gives a JSON file's problems their line and column.
  let doc: Document | undefined;
  const document = (): Document => (doc ??= parseDocument(content, { lineCounter, prettyErrors: false }));
  let raw: unknown;
  if (json) {
    try {
      raw = JSON.parse(content);
    } catch (error) {
      throw new ConfigError(`borehole registry ${source}`, [`cannot be parsed: ${(error as Error).message}`]);
    }
  } else {
    // js-yaml reads a country's registry (40 MB, 100,000 boreholes) in about 3 s where the
    // \`yaml\` document model, which keeps every node's position, takes 40 s and 3 GB (issue 19).
    // Its core schema reads what YAML 1.2 does (no dates, no \`yes\` for true), as \`yaml\` does.
    // The document model is still built, lazily, when there is a problem to place in the file.
    try {
      raw = loadYaml(content, { schema: CORE_SCHEMA, json: false });
    } catch {
      const { errors } = document();
      if (errors.length > 0) {
        throw new ConfigError(
          `borehole registry ${source}`,
          inFileOrder(errors.map((error) => ({ where: undefined, what: `cannot be parsed: ${error.message}`, at: positionAt(lineCounter, error.pos[0]) }))),
        );
      }
      // Something js-yaml refuses and \`yaml\` takes: \`yaml\`'s reading, as before.
      raw = document().toJS();
    }
  }
  const result = registryFileSchema.safeParse(raw);
  if (result.success) return buildRegistry(result.data);

  const issues: { path: readonly PropertyKey[]; message: string; issue?: z.core.$ZodIssue }[] = result.error.issues.map((issue) => ({ path: issue.path, message: issue.message, issue }));
  const known = new Set(issues.map((i) => issueKey(i.path, i.message)));
  for (const issue of crossEntryIssues(raw)) {
    if (!known.has(issueKey(issue.path, issue.message))) issues.push(issue);
  }
  const entries = isRecord(raw) && Array.isArray(raw.boreholes) ? (raw.boreholes as unknown[]) : [];
  const namePath = (path: readonly PropertyKey[]): string => {
    const [head, index, ...rest] = path;
    if (head === 'boreholes' && typeof index === 'number') {
      const entry = entries[index];
      const id = isRecord(entry) && typeof entry.id === 'string' ? ` (id "${entry.id}")` : '';
      return `boreholes[${index}]${id}${rest.length > 0 ? `.${formatPath(rest)}` : ''}`;
    }
    return path.length > 0 ? formatPath(path) : '(top level)';
  };
  const parsed = document();
  const problems = issues.map(({ path, message, issue }): ConfigProblem => {
    const unknownKey = issue?.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
    return {
      where: namePath(path),
      what: issue ? explain(issue) : message,
      at: parsed.errors.length > 0 ? undefined : positionOf(parsed, lineCounter, unknownKey === undefined ? path : [...path, unknownKey], unknownKey !== undefined),
    };
  });
  throw new ConfigError(`borehole registry ${source}`, inFileOrder(problems));
}

/** In the order of the file, as an operator goes through it (a stable sort: ties keep zod's order). */
function inFileOrder(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.column ?? 0) - (b.at?.column ?? 0));
}

const issueKey = (path: readonly PropertyKey[], message: string): string => JSON.stringify([path.map(String), message]);

/** zod's message, said as an operator needs it where zod's own is terse: what is expected. */
function explain(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return `is missing: expected ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
  }
  if (issue.code === 'unrecognized_keys') {
    const allowed = keysAt(registryFileSchema, issue.path);
    const guesses = issue.keys.map((key) => {
      const near = allowed.find((name) => editDistance(key, name) <= 2);
      return near === undefined ? `"${key}"` : `"${key}" (did you mean "${near}"?)`;
    });
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${guesses.join(', ')}${allowed.length > 0 ? `; the keys here are ${allowed.join(', ')}` : ''}`;
  }
  return issue.message;
}

/** The keys the schema allows at `path` (an object's fields), for "unknown key" problems. */
function keysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.core.$ZodType | undefined = schema;
  const unwrap = (type: z.core.$ZodType): z.core.$ZodType => {
    let current = type;
    for (;;) {
      if (current instanceof z.ZodOptional || current instanceof z.ZodDefault) current = current.unwrap();
      else if (current instanceof z.ZodPipe) current = current.in;
      else return current;
    }
  };
  for (const key of path) {
    if (node === undefined) return [];
    const current = unwrap(node);
    if (current instanceof z.ZodObject) node = (current.shape as Record<string, z.core.$ZodType | undefined>)[String(key)];
    else if (current instanceof z.ZodArray) node = current.element;
    else if (current instanceof z.ZodRecord) node = current.valueType;
    else return [];
  }
  const target = node === undefined ? undefined : unwrap(node);
  return target instanceof z.ZodObject ? Object.keys(target.shape) : [];
}

/** Levenshtein distance, enough to tell `technicien` from `technician`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function positionAt(lineCounter: LineCounter, offset: number | undefined): SourcePosition | undefined {
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/**
 * Where `path` is in the file: the node it names, or the nearest one above it that exists (the
 * mapping that lacks a field); with `key`, the last key itself rather than its value.
 */
function positionOf(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[], key = false): SourcePosition | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const [index, segment] of path.entries()) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment));
      if (!pair) break;
      next = key && index === path.length - 1 ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
    }
    if (next === undefined || rangeStart(next) === undefined) break;
    node = next;
    offset = rangeStart(next);
  }
  return positionAt(lineCounter, offset);
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) ? (node.range?.[0] ?? undefined) : undefined;
}

export async function loadRegistry(path: string): Promise<Registry> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw registryUnreadable(path, error);
  }
  return parseRegistry(content, path);
}

/** A registry file that cannot be read, said plainly (the path is in the error's first line). */
export function registryUnreadable(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'there is no such file'
    : code === 'EACCES' ? "permission denied: the service's user must be able to read it"
    : code === 'EISDIR' ? 'it is a directory: name the registry file in it'
    : (error as Error).message;
  return new ConfigError(`borehole registry ${path}`, [`cannot be read: ${why}`]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
