/** `GET /api/dead-letters`: the newest rejected messages, for an operator looking for a bad device. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REJECT_REASONS, type RejectReason } from '../../ingest/decode.js';
import type { DeadLetter } from '../../ingest/dead-letters.js';
import type { TokenAuth } from '../auth.js';

export interface DeadLetterSource {
  newest(count: number, reason?: RejectReason): DeadLetter[];
  readonly size: number;
}

const deadLetterSchema = z.object({
  received_at: z.string(),
  topic: z.string(),
  reason: z.enum(REJECT_REASONS),
  detail: z.string(),
  index: z.number().int().optional(),
  payload: z.string(),
  payload_bytes: z.number().int(),
});

export const deadLetterRoutes: FastifyPluginAsync<{ auth: TokenAuth; deadLetters: DeadLetterSource }> = async (
  app,
  { auth, deadLetters },
) => {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/dead-letters',
    {
      preHandler: auth.require('viewer'),
      schema: {
        security: [{ bearer: [] }],
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          reason: z.enum(REJECT_REASONS).optional(),
        }),
        response: { 200: z.object({ total: z.number().int(), items: z.array(deadLetterSchema) }) },
      },
    },
    (request) => ({
      total: deadLetters.size,
      items: deadLetters.newest(request.query.limit, request.query.reason),
    }),
  );
};
