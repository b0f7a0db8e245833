/**
 * `GET /api/dead-letters`: the newest rejected messages, for an operator looking for a bad device.
 * They are network-wide (many name no known borehole), so a region-limited token is refused.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REJECT_REASONS, type RejectReason } from '../../ingest/decode.js';
import type { DeadLetter } from '../../ingest/dead-letters.js';
import type { TokenAuth } from '../auth.js';
import { errorSchema, pageQuery } from '../schemas.js';

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
        summary: 'The newest rejected MQTT messages',
        tags: ['ingest'],
        security: [{ bearer: [] }],
        querystring: z.object({
          limit: pageQuery(100, 1000).limit,
          reason: z.enum(REJECT_REASONS).optional(),
        }),
        response: { 200: z.object({ total: z.number().int(), items: z.array(deadLetterSchema) }), 400: errorSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async (request, reply) => {
      if (request.identity?.regions) {
        return reply.code(403).send({ error: 'forbidden', message: 'dead letters are network-wide: they need a token without a region limit' });
      }
      return { total: deadLetters.size, items: deadLetters.newest(request.query.limit, request.query.reason) };
    },
  );
};
