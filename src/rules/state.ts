/**
 * Reading a saved rule state back: through the state's schema, never a cast. Every earlier shape
 * loads: a state saved before the version field (version 1) is brought to the current shape, and
 * the facts of a rule added since start from that rule's initial facts (so adding a rule needs no
 * migration). What does not fit the schema is refused with the reason, not half-used.
 */
import { z } from 'zod';
import { initialJointTimeline, initialRuleState, RULE_IDS, RULE_STATE_VERSION, ruleStateSchema, type RuleState } from './types.js';

export class RuleStateError extends Error {
  override name = 'RuleStateError';
}

const savedSchema = z.looseObject({ version: z.number().int().positive().optional() });

/** Version 1 had no joint timeline at first: it starts where its single timeline stood. */
function fromVersion1(saved: Record<string, unknown>): Record<string, unknown> {
  if (saved.joint !== undefined) return saved;
  const field = (key: string): unknown => saved[key] ?? null;
  return {
    ...saved,
    joint: { ...initialJointTimeline(), atMs: field('lastTsMs'), running: field('running'), pumpTsMs: field('lastPumpTsMs'), flowLpm: field('flowLpm'), flowTsMs: field('lastFlowTsMs') },
  };
}

/** A saved state (parsed JSON, any version), in the current shape. Throws RuleStateError when it cannot be read. */
export function readRuleState(saved: unknown): RuleState {
  const envelope = savedSchema.safeParse(saved);
  if (!envelope.success) throw new RuleStateError(`rule state is not an object: ${z.prettifyError(envelope.error)}`);
  const version = envelope.data.version ?? 1;
  if (version > RULE_STATE_VERSION) throw new RuleStateError(`rule state version ${version} is newer than this service reads (${RULE_STATE_VERSION})`);
  let document: Record<string, unknown> = envelope.data;
  if (version === 1) document = fromVersion1(document);
  // A rule removed since: its condition goes with it.
  const conditions = document.conditions;
  if (conditions !== null && typeof conditions === 'object') {
    document = { ...document, conditions: Object.fromEntries(Object.entries(conditions).filter(([rule]) => (RULE_IDS as readonly string[]).includes(rule))) };
  }
  // What the document lacks (a rule added since, a field added since) starts from its initial value.
  const parsed = ruleStateSchema.safeParse({ ...initialRuleState(), ...document, version: RULE_STATE_VERSION });
  if (!parsed.success) throw new RuleStateError(`rule state does not fit its schema: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A saved state as stored (JSON text), in the current shape. */
export function parseRuleState(json: string): RuleState {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new RuleStateError(`rule state is not JSON: ${(error as Error).message}`);
  }
  return readRuleState(value);
}
