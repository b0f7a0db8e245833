/**
 * An environment that sets every variable every registered SMS gateway declares, each to a value
 * of its own that carries a unique tag, so that a test can tell which setting turned up where.
 */
import { SMS_GATEWAY_DEFINITIONS } from '../../../../src/notify/gateways/registry.js';

export interface MarkedVariable {
  gateway: string;
  /** The setting's key in the gateway's settings. */
  key: string;
  env: string;
  secret: boolean;
  /** Unique to this variable, and inside `value` unless the variable only takes a phone number. */
  tag: string;
  value: string;
}

/** Forms a value may need to pass a schema; a variable none of them passes fails the caller. */
function candidates(tag: string, index: number): string[] {
  return [`${tag}-value`, `https://${tag}.example.invalid`, `tel:+2239${String(index).padStart(7, '0')}`];
}

export function markedEnvironment(): { env: Record<string, string>; marked: MarkedVariable[] } {
  const env: Record<string, string> = {};
  const marked: MarkedVariable[] = [];
  for (const definition of SMS_GATEWAY_DEFINITIONS) {
    for (const [key, variable] of Object.entries(definition.settings)) {
      const index = marked.length + 1;
      // Fixed length, so that no tag is a part of another.
      const tag = `gwmark${String(index).padStart(3, '0')}q`;
      const value = candidates(tag, index).find((candidate) => variable.schema.safeParse(candidate).success);
      if (value === undefined) throw new Error(`${variable.env}: none of ${candidates(tag, index).join(', ')} passes its schema; add a form here`);
      env[variable.env] = value;
      marked.push({ gateway: definition.name, key, env: variable.env, secret: variable.secret, tag, value });
    }
  }
  return { env, marked };
}
