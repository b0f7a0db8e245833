/**
 * The borehole registry of CONTRACT.md section 3: a YAML or JSON file, validated at start-up.
 * The service refuses to start on an invalid file and lists every problem, naming the entry
 * (by index and id) and the field.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BOREHOLE_ID_PATTERN } from '../contract/topics.js';
import { parseRegistryPhone, type PhoneUse } from '../domain/phone.js';
import { ConfigError, describeIssues, formatPath } from './errors.js';
import { resolveRuleParams, ruleParamsOverrideSchema, type RuleParams } from './rule-params.js';

const text = z.string().trim().min(1, 'must not be empty');
// Region and commune become InfluxDB tags, where a trailing backslash would escape the separator.
const tagText = text.refine((value) => !value.includes('\\'), 'must not contain a backslash');
/** A number valid in its country's plan (src/domain/phone.ts), kept in its E.164 form. */
const phone = (use: PhoneUse) =>
  z
    .string()
    // A refinement, not a failing transform: it lets the file's other checks (duplicate ids) run
    // too, so that every problem is listed at once.
    .superRefine((value, ctx) => {
      const parsed = parseRegistryPhone(value, use);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem });
    })
    .transform((value) => {
      const parsed = parseRegistryPhone(value, use);
      return parsed.ok ? parsed.e164 : value;
    });
// Committee members and technicians are sent SMS: a mobile. The regional directorate may give
// its office line (an SMS gateway to a landline, or a call by the operator).
const contactSchema = z.object({ name: text, phone: phone('mobile') });
const escalationContactSchema = z.object({ name: text, phone: phone('any') });

export const LANGUAGES = ['fr', 'bm', 'en'] as const;
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
  rules: ruleParamsOverrideSchema.optional(),
})
  // A misspelt key (`rule:`, `technicien:`) would otherwise be dropped without a word.
  .strict();

export const registryFileSchema = z
  .object({
    boreholes: z.array(boreholeSchema).min(1, 'must list at least one borehole'),
    escalation: z.record(z.string(), escalationContactSchema).optional(),
    rules: ruleParamsOverrideSchema.optional(),
  })
  .strict()
  .superRefine((registry, ctx) => {
    const seen = new Map<string, number>();
    registry.boreholes.forEach((borehole, index) => {
      const first = seen.get(borehole.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['boreholes', index, 'id'],
          message: `duplicate id "${borehole.id}" (already used by boreholes[${first}])`,
        });
      } else {
        seen.set(borehole.id, index);
      }
    });
    const regions = new Set(registry.boreholes.map((b) => b.region));
    for (const region of Object.keys(registry.escalation ?? {})) {
      if (!regions.has(region)) {
        ctx.addIssue({
          code: 'custom',
          path: ['escalation', region],
          message: `no borehole is in region "${region}" (regions: ${[...regions].join(', ')})`,
        });
      }
    }
  });

export type RegistryFile = z.infer<typeof registryFileSchema>;
export type BoreholeEntry = z.infer<typeof boreholeSchema>;
export type Contact = z.infer<typeof contactSchema>;

/** A borehole as the service uses it: the registry entry with its rule parameters resolved. */
export interface Borehole extends Omit<BoreholeEntry, 'rules'> {
  rules: RuleParams;
}

export interface Registry {
  boreholes: ReadonlyMap<string, Borehole>;
  escalation: Readonly<Record<string, Contact>>;
}

export function buildRegistry(file: RegistryFile): Registry {
  const boreholes = new Map<string, Borehole>();
  for (const entry of file.boreholes) {
    boreholes.set(entry.id, { ...entry, rules: resolveRuleParams(file.rules, entry.rules) });
  }
  return { boreholes, escalation: file.escalation ?? {} };
}

/** Parses registry text; `source` names the file in errors. */
export function parseRegistry(content: string, source: string): Registry {
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(content) : parseYaml(content);
  } catch (error) {
    throw new ConfigError(`borehole registry ${source}`, [`cannot be parsed: ${(error as Error).message}`]);
  }
  const result = registryFileSchema.safeParse(raw);
  if (!result.success) {
    const entries = isRecord(raw) && Array.isArray(raw.boreholes) ? (raw.boreholes as unknown[]) : [];
    const namePath = (path: readonly PropertyKey[]): string => {
      const [head, index, ...rest] = path;
      if (head === 'boreholes' && typeof index === 'number') {
        const entry = entries[index];
        const id = isRecord(entry) && typeof entry.id === 'string' ? ` (id "${entry.id}")` : '';
        return `boreholes[${index}]${id}${rest.length > 0 ? `.${formatPath(rest)}` : ''}`;
      }
      return formatPath(path);
    };
    throw new ConfigError(`borehole registry ${source}`, describeIssues(result.error.issues, namePath));
  }
  return buildRegistry(result.data);
}

export async function loadRegistry(path: string): Promise<Registry> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`borehole registry ${path}`, [`cannot be read: ${(error as Error).message}`]);
  }
  return parseRegistry(content, path);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
