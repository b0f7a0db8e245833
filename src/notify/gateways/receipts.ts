/**
 * Delivery receipts as each provider posts them, read into one shape. Pure functions: the HTTP
 * route authenticates the request and hands the decoded body here (docs/sms.md, "Delivery
 * receipts").
 *
 * - webhook: JSON `{"id": "<the service's message id>", "status": "delivered" | "undelivered" |
 *   "failed" | "sent", "error": "…"}`, the gateway's own report, `Authorization: Bearer
 *   $SMS_INBOUND_TOKEN` (the id is the `id` the service sent it).
 * - Africa's Talking (SMS "Delivery reports" callback): a form POST with `id` (the `messageId`
 *   its send answered), `status` (`Sent`, `Submitted`, `Buffered` on the way; `Success`
 *   delivered; `Failed`, `Rejected` final failures), `phoneNumber`, `networkCode`,
 *   `failureReason` (`InsufficientCredit`, `UserDoesNotExist`, `DeliveryFailure` …), `retryCount`.
 *   Not signed: protected like the inbound callback, by the token in its URL.
 * - Twilio (Messaging "status callback"): a form POST with `MessageSid`, `MessageStatus`
 *   (`queued`, `sending`, `sent` on the way; `delivered`; `undelivered`, `failed` final), and
 *   `ErrorCode`; signed with `X-Twilio-Signature` as the inbound webhook is.
 * - Orange (OneAPI "deliveryInfoNotification"): JSON `{"deliveryInfoNotification": {"callbackData":
 *   "…", "deliveryInfo": {"address": "tel:+223…", "deliveryStatus": "DeliveredToTerminal"}}}`;
 *   `DeliveredToTerminal` is delivered, `DeliveryImpossible` undelivered, the others
 *   (`DeliveredToNetwork`, `MessageWaiting`, `DeliveryUncertain`) not final. It names no message
 *   id unless `callbackData` carries one, so without it the receipt is matched to the oldest sent
 *   message to that address still waiting for one (Orange reports in the order it delivers).
 */
import { z } from 'zod';
import type { ReceiptMatch, SmsDelivery } from '../../storage/sqlite-store.js';

export interface DeliveryReceipt {
  match: ReceiptMatch;
  /** null: a report on the way (queued, buffered…), which changes nothing. */
  delivery: SmsDelivery | null;
  /** The provider's own words, for the operator: status and reason. */
  detail: string;
}

export type ReceiptParseResult = { ok: true; receipt: DeliveryReceipt } | { ok: false; error: string };

const id = z
  .string()
  .transform((value) => value.trim())
  .pipe(z.string().min(1, 'must not be empty').max(200));

function parsed<T>(schema: z.ZodType<T>, body: unknown, read: (value: T) => DeliveryReceipt): ReceiptParseResult {
  const result = schema.safeParse(body);
  if (!result.success) return { ok: false, error: result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ') };
  return { ok: true, receipt: read(result.data) };
}

const webhookSchema = z.object({ id, status: z.enum(['delivered', 'undelivered', 'failed', 'sent']), error: z.string().max(300).optional() });

export function parseWebhookReceipt(body: unknown): ReceiptParseResult {
  return parsed(webhookSchema, body, (value) => ({
    match: { messageId: value.id },
    delivery: value.status === 'delivered' ? 'delivered' : value.status === 'sent' ? null : 'undelivered',
    detail: value.error ? `${value.status}: ${value.error}` : value.status,
  }));
}

const africasTalkingSchema = z.object({ id, status: z.string().min(1), failureReason: z.string().optional(), phoneNumber: z.string().optional() });

export function parseAfricasTalkingReceipt(fields: Record<string, string>): ReceiptParseResult {
  return parsed(africasTalkingSchema, fields, (value) => ({
    match: { providerMessageId: value.id },
    delivery: value.status === 'Success' ? 'delivered' : value.status === 'Failed' || value.status === 'Rejected' ? 'undelivered' : null,
    detail: value.failureReason ? `${value.status}: ${value.failureReason}` : value.status,
  }));
}

const twilioSchema = z.object({ MessageSid: id, MessageStatus: z.string().min(1), ErrorCode: z.string().optional() });

export function parseTwilioReceipt(fields: Record<string, string>): ReceiptParseResult {
  return parsed(twilioSchema, fields, (value) => ({
    match: { providerMessageId: value.MessageSid },
    delivery: value.MessageStatus === 'delivered' ? 'delivered' : value.MessageStatus === 'undelivered' || value.MessageStatus === 'failed' ? 'undelivered' : null,
    detail: value.ErrorCode ? `${value.MessageStatus}: error ${value.ErrorCode}` : value.MessageStatus,
  }));
}

const orangeSchema = z.object({
  deliveryInfoNotification: z.object({
    callbackData: z.string().optional(),
    deliveryInfo: z.object({ address: z.string().min(1), deliveryStatus: z.string().min(1) }),
  }),
});

export function parseOrangeReceipt(body: unknown): ReceiptParseResult {
  return parsed(orangeSchema, body, ({ deliveryInfoNotification: { callbackData, deliveryInfo } }) => {
    const status = deliveryInfo.deliveryStatus;
    const messageId = callbackData?.trim() ? callbackData.trim() : undefined;
    return {
      match: messageId ? { messageId } : { recipient: deliveryInfo.address.replace(/^tel:/, '') },
      delivery: status === 'DeliveredToTerminal' ? 'delivered' : status === 'DeliveryImpossible' ? 'undelivered' : null,
      detail: status,
    };
  });
}
