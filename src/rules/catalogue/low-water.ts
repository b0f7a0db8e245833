/**
 * `low_water`: the level is within `low_water_margin_m` of the pump's intake (warning), at or
 * below it (critical: an open warning rises to critical). Clears when the level is back above the
 * margin. Reads the level topic's last value only.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule } from './definition.js';

export const lowWater = defineRule({
  id: 'low_water',
  severities: ['warning', 'critical'],
  timeline: 'level',
  params: z.object({
    low_water_margin_m: z.number().nonnegative().default(3),
  }),
  facts: z.object({}),
  initialFacts: () => ({}),
  judge(_facts, { topics, params, intakeDepthM, fresh }) {
    if (!fresh(topics.lastLevelTsMs) || topics.depthM === null) return 'unknown';
    const detail = `niveau ${topics.depthM} m, crépine à ${intakeDepthM} m`;
    if (topics.depthM >= intakeDepthM) return { severity: 'critical', detail };
    return topics.depthM >= intakeDepthM - params.low_water_margin_m ? { severity: 'warning', detail } : null;
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
