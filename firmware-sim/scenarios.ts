/**
 * Scenario files: what happens to which borehole, and when, relative to the simulation start.
 * YAML or JSON, validated with one zod schema; every problem is reported at once, naming the
 * file, the event (index, type and borehole) and the field.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, describeIssues, formatPath } from '../src/config/errors.js';
import type { Registry } from '../src/config/registry.js';
import { BOREHOLE_ID_PATTERN } from '../src/contract/topics.js';
import { DURATION_HINT, HOUR_MS, MINUTE_MS, parseDuration } from './clock.js';
import { parseSender, PLACEHOLDERS, placeholdersOf } from './people.js';

function durationSchema(check: (ms: number) => string | null) {
  const required = (issue: { input?: unknown }): string => (issue.input === undefined ? `is required: ${DURATION_HINT}` : `must be ${DURATION_HINT}`);
  return z.union([z.string(), z.number()], { error: required }).transform((value, ctx) => {
    let ms: number;
    try {
      // A bare number is a YAML `0`; anything else must carry its unit so nobody guesses.
      if (typeof value === 'number' && value !== 0) throw new Error(`${value} has no unit: write ${DURATION_HINT}`);
      ms = parseDuration(String(value));
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
    const problem = check(ms);
    if (problem !== null) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return ms;
  });
}

const at = durationSchema((ms) => (ms < 0 ? 'must not be negative: events happen after the simulation start' : null));
const positiveDuration = durationSchema((ms) => (ms <= 0 ? 'must be longer than 0' : null));
const offset = durationSchema((ms) => (ms === 0 ? 'must not be 0' : null));

const base = {
  at,
  borehole: z.string().regex(BOREHOLE_ID_PATTERN, 'must be a borehole id such as khabou'),
  /** Free text shown in the progress output. */
  note: z.string().optional(),
};

export const SENSORS = ['flow', 'level', 'current'] as const;
export type Sensor = (typeof SENSORS)[number];

/** Share of the pumped water lost through the leak when the file does not say. */
export const DEFAULT_LEAK_LOST_FRACTION = 0.75;
const DEFAULT_DUPLICATE_FOR_MS = HOUR_MS;
const DEFAULT_MALFORMED_FOR_MS = 30 * MINUTE_MS;

/** `technician`, `committee[0]`, … (firmware-sim/people.ts): checked here, resolved against the registry by the runner. */
const senderSchema = z.string().superRefine((text, ctx) => {
  try {
    parseSender(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** An SMS is one short text; `{code}` and `{borehole}` are filled when it is sent. */
const smsTextSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(160, 'must fit one SMS (160 characters)')
  .superRefine((text, ctx) => {
    const unknown = placeholdersOf(text).filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
    if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `knows the placeholders ${PLACEHOLDERS.map((name) => `{${name}}`).join(' and ')}, not ${unknown.map((name) => `{${name}}`).join(', ')}` });
  });

export const scenarioEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...base, type: z.literal('dry_run') }),
  z.strictObject({ ...base, type: z.literal('pump_failure'), for: positiveDuration.optional() }),
  z.strictObject({
    ...base,
    type: z.literal('pipe_leak'),
    lost_fraction: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1').default(DEFAULT_LEAK_LOST_FRACTION),
    for: positiveDuration.optional(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('sensor_stuck'),
    sensor: z.enum(SENSORS).default('level'),
    value: z.number().nonnegative().optional(),
    for: positiveDuration.optional(),
  }),
  z.strictObject({ ...base, type: z.literal('short_cycling'), for: positiveDuration.optional() }),
  z.strictObject({ ...base, type: z.literal('repair') }),
  z.strictObject({ ...base, type: z.literal('offline'), for: positiveDuration }),
  z.strictObject({ ...base, type: z.literal('clock_skew'), offset, for: positiveDuration.optional() }),
  z.strictObject({ ...base, type: z.literal('duplicate_messages'), for: positiveDuration.default(DEFAULT_DUPLICATE_FOR_MS) }),
  z.strictObject({ ...base, type: z.literal('malformed_messages'), for: positiveDuration.default(DEFAULT_MALFORMED_FOR_MS) }),
  /**
   * A person sends an SMS to the service (firmware-sim/people.ts): `from` a role at the borehole,
   * `text` a command such as `REPARE {code}`. Sent only once the run has caught up with its clock:
   * what people say is not backfilled, and a replayed run must not say it twice.
   */
  z.strictObject({ ...base, type: z.literal('sms'), from: senderSchema, text: smsTextSchema }),
]);

export const EVENT_TYPES = scenarioEventSchema.options.map((option) => option.shape.type.value);

export const scenarioFileSchema = z.strictObject({
  name: z.string().trim().min(1).optional(),
  description: z.string().optional(),
  /** Default for `--from`: where the run starts, e.g. `-7d`. */
  from: z.string().optional(),
  /** Reporting interval of every device. */
  interval: positiveDuration.optional(),
  /** Only these boreholes of the registry; default: all of them. */
  boreholes: z.array(z.string()).min(1).optional(),
  events: z.array(scenarioEventSchema).default([]),
});

export type ScenarioEvent = z.infer<typeof scenarioEventSchema>;
export type ScenarioEventType = ScenarioEvent['type'];
export type Scenario = z.infer<typeof scenarioFileSchema> & { source: string };

/** An event placed on the simulation's time line. */
export type TimedEvent = ScenarioEvent & { atMs: number };
export type SmsEvent = Extract<ScenarioEvent, { type: 'sms' }>;
export type TimedSmsEvent = SmsEvent & { atMs: number };

/** What people do (SMS) rather than what the borehole or its device does. */
export const isSmsEvent = <T extends ScenarioEvent>(event: T): event is Extract<T, { type: 'sms' }> => event.type === 'sms';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** `events[2] (dry_run on khabou)` rather than a bare index, so the author finds it. */
function eventLabel(raw: unknown, index: number): string {
  const event = isRecord(raw) && Array.isArray(raw.events) ? (raw.events as unknown[])[index] : undefined;
  if (!isRecord(event)) return `events[${index}]`;
  const type = typeof event.type === 'string' ? event.type : '?';
  const borehole = typeof event.borehole === 'string' ? ` on ${event.borehole}` : '';
  return `events[${index}] (${type}${borehole})`;
}

/** Parses scenario text; `source` names the file in errors. */
export function parseScenario(content: string, source: string): Scenario {
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(content) : parseYaml(content);
  } catch (error) {
    throw new ConfigError(`scenario ${source}`, [`cannot be parsed: ${(error as Error).message}`]);
  }
  const result = scenarioFileSchema.safeParse(raw ?? {});
  if (!result.success) {
    const namePath = (path: readonly PropertyKey[]): string => {
      const [head, index, ...rest] = path;
      if (head === 'events' && typeof index === 'number') {
        return `${eventLabel(raw, index)}${rest.length > 0 ? `.${formatPath(rest)}` : ''}`;
      }
      return formatPath(path);
    };
    const problems = result.error.issues.map((issue) => {
      // zod's own words for an unknown discriminator do not say what would have been accepted.
      if (issue.code === 'invalid_union' && issue.path.at(-1) === 'type') {
        return `${namePath(issue.path)}: must be one of ${EVENT_TYPES.join(', ')}`;
      }
      return describeIssues([issue], namePath)[0] ?? issue.message;
    });
    throw new ConfigError(`scenario ${source}`, problems);
  }
  return { ...result.data, source };
}

export async function loadScenario(path: string): Promise<Scenario> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`scenario ${path}`, [`cannot be read: ${(error as Error).message}`]);
  }
  return parseScenario(content, path);
}

/** The registry's boreholes the scenario simulates; refuses ids the registry does not know. */
export function scenarioBoreholes(scenario: Scenario, registry: Registry): string[] {
  const known = [...registry.boreholes.keys()];
  const problems: string[] = [];
  scenario.boreholes?.forEach((id, index) => {
    if (!registry.boreholes.has(id)) problems.push(`boreholes[${index}]: "${id}" is not in the registry (${known.join(', ')})`);
  });
  const selected = scenario.boreholes ?? known;
  scenario.events.forEach((event, index) => {
    // People of a borehole without a telemetry unit (a handpump) still send SMS about it.
    if (isSmsEvent(event) && registry.boreholes.has(event.borehole)) return;
    if (!selected.includes(event.borehole)) {
      const why = registry.boreholes.has(event.borehole) ? 'is not among the scenario\'s boreholes' : 'is not in the registry';
      problems.push(`events[${index}] (${event.type} on ${event.borehole}).borehole: "${event.borehole}" ${why} (${selected.join(', ')})`);
    }
  });
  if (problems.length > 0) throw new ConfigError(`scenario ${scenario.source}`, problems);
  return selected.filter((id) => registry.boreholes.has(id));
}

/** Events on the time line of a run that starts at `startAtMs`, in time order (file order on ties). */
export function scheduleEvents(events: readonly ScenarioEvent[], startAtMs: number): TimedEvent[] {
  return events
    .map((event, index) => ({ event: { ...event, atMs: startAtMs + event.at }, index }))
    .sort((a, b) => a.event.atMs - b.event.atMs || a.index - b.index)
    .map(({ event }) => event);
}

/** A scenario with no events: normal life at every borehole. */
export function normalLife(): Scenario {
  return { name: 'normal life', events: [], source: '(no scenario)' };
}
