/**
 * `no_flow`: the pump runs and the flow is below `no_flow_lpm` for `no_flow_minutes`. Critical;
 * clears when the pump stops or the flow returns. The one rule judged on the joint pump and flow
 * timeline (docs/rules.md, "Across topics"): it keeps no facts of its own.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, MINUTE_MS } from './definition.js';

export const noFlow = defineRule({
  id: 'no_flow',
  severities: ['critical'],
  timeline: 'joint',
  params: z.object({
    no_flow_lpm: z.number().nonnegative().default(1.0),
    no_flow_minutes: z.number().positive().default(10),
  }),
  facts: z.object({}),
  initialFacts: () => ({}),
  judge(_facts, { topics: { joint }, params, fresh }) {
    if (!fresh(joint.pumpTsMs)) return 'unknown';
    if (joint.running !== true) return null;
    if (!fresh(joint.flowTsMs) || joint.flowLpm === null) return 'unknown';
    return joint.flowLpm < params.no_flow_lpm ? { severity: 'critical', detail: `débit ${joint.flowLpm} l/min, pompe en marche` } : null;
  },
  durationMs: (params) => params.no_flow_minutes * MINUTE_MS,
  clearMs: clearAfterClearMinutes,
});
