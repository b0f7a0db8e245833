/**
 * `offline`: no message at all for `offline_minutes`, on the service's clock (it is about the
 * link, not the pump). Warning; clears when a message arrives. `offline_minutes` is also how long
 * any fact stays fresh for every other rule.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, MINUTE_MS } from './definition.js';

const silenceLimitMs = (params: { offline_minutes: number }): number => params.offline_minutes * MINUTE_MS;

export const offline = defineRule({
  id: 'offline',
  severities: ['warning'],
  timeline: 'silence',
  params: z.object({
    offline_minutes: z.number().positive().default(60),
  }),
  facts: z.object({}),
  initialFacts: () => ({}),
  judge(_facts, { tMs, topics, params }) {
    if (topics.lastHeardAtMs === null) return null;
    const silentMs = tMs - topics.lastHeardAtMs;
    return silentMs >= silenceLimitMs(params) ? { severity: 'warning', detail: `aucun message depuis ${Math.floor(silentMs / MINUTE_MS)} min` } : null;
  },
  // The alert opens at the moment the silence reached the limit, not at the tick that saw it.
  heldSinceMs: (_facts, { tMs, topics, params }) => (topics.lastHeardAtMs ?? tMs) + silenceLimitMs(params),
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
