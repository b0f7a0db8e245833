/**
 * Every SMS gateway the service can use, one line each. What SMS_PROVIDER accepts, the
 * settings each gateway reads from the environment, and which of them the log scrubber hides all
 * come from this list (config.ts); a new gateway is its adapter file, which ends with its
 * definition, plus its line here (docs/sms.md, "Adding a gateway").
 */
import { africasTalkingDefinition } from './africas-talking.js';
import { consoleDefinition } from './console.js';
import type { GatewayVariables, SettingsOf, SmsGatewayDefinition } from './definition.js';
import { orangeDefinition } from './orange.js';
import { twilioDefinition } from './twilio.js';
import { webhookDefinition } from './webhook.js';

/**
 * In this order the names are listed in messages and in docs/contract.md, and the problems of
 * several gateways reported. The console gateway first: it is the default.
 */
export const SMS_GATEWAYS = [consoleDefinition, webhookDefinition, orangeDefinition, africasTalkingDefinition, twilioDefinition] as const;

/** The same list, each seen through the common shape, for the code that handles them alike. */
export const SMS_GATEWAY_DEFINITIONS: readonly SmsGatewayDefinition<SmsGatewayName, GatewayVariables>[] = SMS_GATEWAYS;

type Definitions = typeof SMS_GATEWAYS;
type Definition = Definitions[number];

export type SmsGatewayName = Definition['name'];

/** The names as a tuple, first the default (the tuple keeps `SMS_GATEWAY_NAMES[0]` a name). */
type NamesOf<T extends readonly { name: string }[]> = { readonly [I in keyof T]: T[I] extends { name: infer N } ? N : never };

export const SMS_GATEWAY_NAMES = SMS_GATEWAYS.map((definition) => definition.name) as unknown as NamesOf<Definitions>;

export const DEFAULT_SMS_GATEWAY: SmsGatewayName = consoleDefinition.name;

/** Gateways with no settings (console) have no entry. */
type SettingsByName = {
  [D in Definition as keyof D['settings'] extends never ? never : D['name']]?: SettingsOf<D['settings']>;
};

export interface SmsGatewaySettings extends SettingsByName {
  /** In failover order; at least one. */
  providers: SmsGatewayName[];
}
