/**
 * The catalogue: every rule of CONTRACT.md section 4, one definition a file. The compiler refuses
 * a rule id without a definition (and a definition filed under another id is refused by the
 * catalogue test). The registry's parameters (config/rule-params.ts) and the rule state's schema
 * (../state.ts) are built from it.
 */
import { z } from 'zod';
import type { RuleId } from '../types.js';
import { currentRising } from './current-rising.js';
import type { RuleDefinition } from './definition.js';
import { lowOutput } from './low-output.js';
import { lowWater } from './low-water.js';
import { maintenanceDue } from './maintenance-due.js';
import { noFlow } from './no-flow.js';
import { offline } from './offline.js';
import { pumpFault } from './pump-fault.js';
import { shortCycling } from './short-cycling.js';

export const CATALOGUE = {
  pump_fault: pumpFault,
  no_flow: noFlow,
  low_water: lowWater,
  offline,
  short_cycling: shortCycling,
  low_output: lowOutput,
  maintenance_due: maintenanceDue,
  current_rising: currentRising,
} satisfies Record<RuleId, RuleDefinition>;

/**
 * The parameters of the alert lifecycle rather than of one rule: how long a condition stays clear
 * before its alert resolves, and when an unacknowledged critical alert is sent again (section 5).
 */
export const lifecycleParams = z.object({
  clear_minutes: z.number().nonnegative().default(5),
  escalate_after_minutes: z.number().positive().default(120),
});

/**
 * The parameters of incidents and repairs (CONTRACT.md section 9), overridable like the rules'.
 * `group_seconds` is ours: how long an incident's first SMS waits for the alerts that come with
 * it (a pump's fault and the flow it stopped arrive seconds apart), so that it names the root
 * cause even when a consequence was judged first. 0 (told at once) by default: the root usually
 * comes first (a fault is instant, `no_flow` takes minutes), and the SMS is one either way.
 */
export const incidentParams = z.object({
  verify_minutes: z.number().positive().default(30),
  verify_hours: z.number().positive().default(24),
  reopen_hours: z.number().nonnegative().default(72),
  functional_max_down_hours: z.number().nonnegative().max(24).default(2),
  results_threshold_pct: z.number().min(0).max(100).default(96),
  group_seconds: z.number().nonnegative().max(3600).default(0),
});

/** Every definition, widened: what the evaluator iterates. */
export const DEFINITIONS: readonly RuleDefinition[] = Object.values(CATALOGUE);

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** Every parameter of every rule, then the lifecycle's and the incidents': the registry's `rules` block. */
export type ParamsShape = UnionToIntersection<(typeof CATALOGUE)[RuleId]['params']['shape']> & typeof lifecycleParams.shape & typeof incidentParams.shape;
