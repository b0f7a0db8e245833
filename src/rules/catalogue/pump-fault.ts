/** `pump_fault`: a pump reading carries a fault code. Critical; clears with a pump reading without one. */
import { z } from 'zod';
import { describeFault } from '../messages.js';
import { clearAfterClearMinutes, defineRule } from './definition.js';

/** Fault codes are short words; a longer one is cut so that the state stays small. */
const MAX_FAULT_LENGTH = 64;

export const pumpFault = defineRule({
  id: 'pump_fault',
  severities: ['critical'],
  timeline: 'pump',
  params: z.object({}),
  facts: z.object({ fault: z.string() }),
  initialFacts: () => ({ fault: '' }),
  absorb(facts, reading) {
    if (reading.kind !== 'pump') return facts;
    return { fault: (reading.values.fault ?? '').slice(0, MAX_FAULT_LENGTH) };
  },
  judge({ fault }, { topics, fresh }) {
    if (!fresh(topics.lastPumpTsMs)) return 'unknown';
    return fault !== '' ? { severity: 'critical', detail: describeFault(fault), fault } : null;
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
