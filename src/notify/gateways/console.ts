/**
 * The `console` gateway (CONTRACT.md section 5, the default): writes the message to the log and
 * counts it as sent. The number goes in the `to` field, which the root logger redacts, never in
 * the log message.
 */
import type { OutgoingSms, SendReceipt, SmsGateway } from '../gateway.js';
import { defineSmsGateway, type SmsGatewayLog } from './definition.js';

/** All this gateway needs of a pino logger. */
export type ConsoleGatewayLog = SmsGatewayLog;

export class ConsoleGateway implements SmsGateway {
  readonly name = 'console';

  constructor(private readonly log: ConsoleGatewayLog) {}

  async send(message: OutgoingSms): Promise<SendReceipt> {
    this.log.info({ smsId: message.id, to: message.to, text: message.text }, 'sms written to the log (console gateway)');
    return {};
  }
}

/** The default gateway: no settings. */
export const consoleDefinition = defineSmsGateway({
  name: 'console',
  settings: {},
  create: (_settings, deps) => new ConsoleGateway(deps.log),
});
