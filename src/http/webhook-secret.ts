/**
 * The shared secret of the provider webhooks (SMS replies, delivery receipts, missed calls):
 * compared in constant time, checked before the body is read, and failed attempts from one
 * address slowed down by the same limiter as API tokens.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FailedAuthLimiter } from './failed-auth-limiter.js';

// Digests first: timingSafeEqual needs equal lengths, and the lengths must not leak either.
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function sameSecret(presented: string | undefined, expected: string | undefined): boolean {
  if (expected === undefined || expected === '' || presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

export const forbidden = (reply: FastifyReply, what: string) => reply.code(403).send({ error: 'forbidden', message: what });

export const tooMany = (reply: FastifyReply, waitMs: number) => {
  const seconds = Math.ceil(waitMs / 1000);
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .send({ error: 'too_many_requests', message: `too many failed authentications from this address; retry in ${seconds} s` });
};

/**
 * An onRequest check of a secret presented outside the body (a header, the callback URL's
 * `?token=`): refused before anything is read.
 */
export const secretGate =
  (limiter: FailedAuthLimiter, secret: string | undefined) =>
  (presentedOf: (request: FastifyRequest) => string | undefined, what: string) =>
  async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const waitMs = limiter.retryAfterMs(request.ip);
    if (waitMs > 0) {
      await tooMany(reply, waitMs);
      return;
    }
    const presented = presentedOf(request);
    if (sameSecret(presented, secret)) return;
    // As for API tokens, a request without any secret is not counted.
    if (presented !== undefined && presented !== '') limiter.fail(request.ip);
    await forbidden(reply, what);
  };
