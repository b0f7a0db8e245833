import { z } from 'zod';
import { DEFINITIONS, incidentParams, lifecycleParams, type ParamsShape } from '../rules/catalogue/index.js';

/**
 * Every tunable of CONTRACT.md sections 4 (rules) and 5 (SMS), with its default: each rule's
 * parameters as its definition declares them (src/rules/catalogue/), in catalogue order, then the
 * alert lifecycle's, then the incidents' (section 9). The registry may override any of them for all boreholes (top-level `rules`)
 * or per borehole; minutes accept decimals so tests and pilots can use short windows
 * (`offline_minutes: 0.5`).
 */
const paramsShape = Object.assign({}, ...DEFINITIONS.map((definition) => definition.params.shape), lifecycleParams.shape, incidentParams.shape) as ParamsShape;

export type RuleParams = z.output<z.ZodObject<ParamsShape>>;

export const RULE_DEFAULTS: Readonly<RuleParams> = Object.freeze(z.object(paramsShape).parse({}));

type OverrideShape = { [K in keyof ParamsShape]: ReturnType<ParamsShape[K]['unwrap']> };

export const ruleParamsOverrideSchema = z
  .object(Object.fromEntries(Object.entries(paramsShape).map(([name, schema]) => [name, schema.unwrap()])) as OverrideShape)
  .partial()
  // A misspelt parameter silently ignored would leave a village on the wrong threshold.
  .strict();

export type RuleParamsOverride = z.infer<typeof ruleParamsOverrideSchema>;

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
