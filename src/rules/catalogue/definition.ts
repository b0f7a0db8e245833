/**
 * What a rule is, as one definition: the catalogue (`index.ts`) holds one per rule id, and the
 * evaluator (`../evaluate.ts`) runs them all the same way. A definition is plain data and pure
 * functions: no clock, no store, no logger.
 */
import type { z } from 'zod';
import type { Reading } from '../../domain/reading.js';
import type { JointTimeline, RuleId, Severity } from '../types.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/**
 * The timeline a rule is judged on (docs/rules.md, "Across topics"): one topic's own readings in
 * their ts order; `joint`, pump and flow as they stood together; `silence`, the service clock
 * since the borehole was last heard.
 */
export type Timeline = 'pump' | 'flow' | 'level' | 'joint' | 'silence';

/**
 * The parameters every rule reads whoever declares them: facts go stale after `offline_minutes`
 * (declared by `offline`), and every alert clears after `clear_minutes` (declared by the
 * lifecycle parameters of `index.ts`).
 */
export type SharedParams = {
  offline_minutes: number;
  clear_minutes: number;
};

/**
 * The latest of each topic, kept by the evaluator for every rule (read-only to definitions):
 * whose timeline a reading belongs to, and what a pump, flow or level last said.
 */
export interface TopicFacts {
  readonly lastHeardAtMs: number | null;
  readonly running: boolean | null;
  readonly lastPumpTsMs: number | null;
  readonly flowLpm: number | null;
  readonly lastFlowTsMs: number | null;
  readonly depthM: number | null;
  readonly lastLevelTsMs: number | null;
  readonly joint: JointTimeline;
}

export interface Holding {
  severity: Severity;
  /** What the rule measured, in French (the alert's message for the API and pages). */
  detail: string;
  fault?: string;
}

/**
 * What a condition is at an instant: holding, not holding (null), or unknown because the facts
 * it needs are stale. Unknown changes nothing: silence neither opens nor clears an alert (the
 * offline rule speaks for silence).
 */
export type Judgement = Holding | null | 'unknown';

/** An instant of a rule's timeline, as the rule sees it. */
export interface Instant<P> {
  tMs: number;
  params: P & SharedParams;
  intakeDepthM: number;
  topics: TopicFacts;
  /** Whether a fact stamped `factTsMs` still tells something at `tMs` (not older than offline_minutes). */
  fresh: (factTsMs: number | null) => boolean;
}

/** What a tick tells a rule: its timeline's clock advanced by the silence since the last message. */
export interface TickInstant<P> {
  tMs: number;
  elapsedMs: number;
  params: P & SharedParams;
  topics: TopicFacts;
}

/** The values a zod object shape describes. */
export type Of<Shape extends z.ZodRawShape> = z.output<z.ZodObject<Shape>>;

/**
 * One rule. Its facts are its own slice of the borehole's rule state: the keys it alone reads and
 * writes (saved flat in the state document beside the topic facts, so that the saved JSON keeps
 * the shape it always had). Methods, not function properties, so that the catalogue can hold
 * definitions of different facts and parameters side by side.
 */
export interface RuleDefinition<FactsShape extends z.ZodRawShape = z.ZodRawShape, ParamsShape extends z.ZodRawShape = z.ZodRawShape> {
  id: RuleId;
  /** The severities it raises, lowest first. An open alert's severity rises, never falls. */
  severities: readonly Severity[];
  timeline: Timeline;
  /** Its parameters, each with its default; the registry may override each (config/rule-params.ts). */
  params: z.ZodObject<ParamsShape>;
  /** The schema of its facts, for reading saved state back; its keys are the slice it owns. */
  facts: z.ZodObject<FactsShape>;
  /** Its facts before any reading; also what a state saved before the rule existed starts from. */
  initialFacts(): Of<FactsShape>;
  /**
   * Folds a reading of its borehole (any topic, in that topic's ts order) into its facts.
   * `before` is the topic facts as they stood before this reading. Returns `facts` when unchanged.
   */
  absorb?(facts: Of<FactsShape>, reading: Reading, before: TopicFacts, params: Of<ParamsShape> & SharedParams): Of<FactsShape>;
  /** For a `joint` rule: folds the joint timeline once it has advanced to `joint.atMs`. */
  absorbJoint?(facts: Of<FactsShape>, joint: JointTimeline, params: Of<ParamsShape> & SharedParams): Of<FactsShape>;
  /** What only time changes on its timeline (a day that ends). Returns `facts` when unchanged. */
  tick?(facts: Of<FactsShape>, instant: TickInstant<Of<ParamsShape>>): Of<FactsShape>;
  /** A maintenance visit was recorded. */
  maintained?(facts: Of<FactsShape>): Of<FactsShape>;
  /** Whether its condition holds at an instant of its timeline. */
  judge(facts: Of<FactsShape>, instant: Instant<Of<ParamsShape>>): Judgement;
  /** For a `silence` rule: when the condition that holds at `instant` began (the alert opens then). */
  heldSinceMs?(facts: Of<FactsShape>, instant: Instant<Of<ParamsShape>>): number;
  /** How long the condition must hold before an alert opens (0: at once). */
  durationMs(params: Of<ParamsShape> & SharedParams): number;
  /** How long the condition must stay clear before its alert resolves. */
  clearMs(params: Of<ParamsShape> & SharedParams): number;
}

/** The clear semantics of every rule today: clear for `clear_minutes` (CONTRACT.md section 4). */
export const clearAfterClearMinutes = (params: SharedParams): number => params.clear_minutes * MINUTE_MS;

export const staleAfterMs = (params: SharedParams): number => params.offline_minutes * MINUTE_MS;

/** A definition, its facts and parameters inferred from its two schemas. */
export function defineRule<FactsShape extends z.ZodRawShape, ParamsShape extends z.ZodRawShape>(
  definition: RuleDefinition<FactsShape, ParamsShape>,
): RuleDefinition<FactsShape, ParamsShape> {
  return definition;
}
