import { z } from 'zod';

/**
 * Every tunable of CONTRACT.md sections 4 (rules) and 5 (SMS), with its default. The registry may
 * override any of them for all boreholes (top-level `rules`) or per borehole; minutes accept
 * decimals so tests and pilots can use short windows (`offline_minutes: 0.5`).
 */
export const RULE_DEFAULTS = {
  no_flow_lpm: 1.0,
  no_flow_minutes: 10,
  low_water_margin_m: 3,
  offline_minutes: 60,
  max_starts_per_hour: 6,
  low_output_ratio: 0.5,
  service_hours: 2000,
  clear_minutes: 5,
  escalate_after_minutes: 120,
} as const;

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();

export const ruleParamsOverrideSchema = z
  .object({
    no_flow_lpm: nonNegative,
    no_flow_minutes: positive,
    low_water_margin_m: nonNegative,
    offline_minutes: positive,
    max_starts_per_hour: z.number().int().positive(),
    low_output_ratio: z.number().gt(0).lt(1),
    service_hours: positive,
    clear_minutes: nonNegative,
    escalate_after_minutes: positive,
  })
  .partial()
  // A misspelt parameter silently ignored would leave a village on the wrong threshold.
  .strict();

export type RuleParamsOverride = z.infer<typeof ruleParamsOverrideSchema>;
export type RuleParams = { -readonly [K in keyof typeof RULE_DEFAULTS]: number };

export function resolveRuleParams(...overrides: (RuleParamsOverride | undefined)[]): RuleParams {
  const params: RuleParams = { ...RULE_DEFAULTS };
  for (const override of overrides) {
    if (!override) continue;
    for (const [key, value] of Object.entries(override) as [keyof RuleParams, number | undefined][]) {
      if (value !== undefined) params[key] = value;
    }
  }
  return params;
}
