/**
 * `GET /api/dead-letters`: the newest rejected messages, for an operator looking for a bad device.
 * `POST /api/dead-letters/replay`: the kept messages of a reason a change can cure (a borehole
 * added to the registry) judged again through ingest (docs/ingest.md, "Replaying dead letters").
 * They are network-wide (many name no known borehole), so a region-limited token is refused.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BOREHOLE_ID_PATTERN } from '../../contract/topics.js';
import { REJECT_REASONS, type RejectReason } from '../../ingest/decode.js';
import { REPLAYABLE_REASONS, whyNotReplayable, type DeadLetter, type DeadLetterFilter, type ReplayResult } from '../../ingest/dead-letters.js';
import type { TokenAuth } from '../auth.js';
import { errorSchema, pageQuery } from '../schemas.js';

export interface DeadLetterSource {
  newest(count: number, reason?: RejectReason): DeadLetter[];
  readonly size: number;
}

/** Replays the oldest `limit` letters of the filter; rejects when the journal cannot be written. */
export type DeadLetterReplayer = (filter: DeadLetterFilter, limit: number) => Promise<ReplayResult>;

/** Letters a replay takes at most: each is decoded and journaled in one synchronous turn. */
export const MAX_REPLAY_LETTERS = 10_000;

const deadLetterSchema = z.object({
  received_at: z.string(),
  topic: z.string(),
  reason: z.enum(REJECT_REASONS),
  detail: z.string(),
  index: z.number().int().optional(),
  payload: z.string(),
  payload_bytes: z.number().int(),
});

const replayQuery = z.object({
  reason: z.enum(REJECT_REASONS).describe(`the letters to replay; only ${REPLAYABLE_REASONS.join(', ')} can be (others: 400)`),
  topic: z.string().min(1).max(1000).optional().describe('only the letters of this exact topic'),
  borehole: z.string().regex(BOREHOLE_ID_PATTERN).optional().describe('only the letters of this borehole'),
  limit: z.coerce.number().int().min(1).max(MAX_REPLAY_LETTERS).default(1000).describe(`letters replayed at most, oldest first (at most ${MAX_REPLAY_LETTERS}); \`remaining\` says how many are left`),
});

const replaySchema = z.object({
  replayed: z.number().int().describe('letters judged again'),
  accepted_readings: z.number().int().describe('readings of theirs accepted, journaled and judged by the rules; their letters left the log'),
  still_refused: z
    .record(z.string(), z.number().int())
    .describe('letters the replay leaves in the log, by the reason they carry now (unknown_borehole: still not in the registry; payload_truncated: kept cut to 2 KiB, cannot be replayed; unreadable: a line of the log edited into something else)'),
  remaining: z.number().int().describe('letters of this reason (and topic or borehole) still in the log'),
});

const networkWide = { error: 'forbidden', message: 'dead letters are network-wide: they need a token without a region limit' };

export const deadLetterRoutes: FastifyPluginAsync<{ auth: TokenAuth; deadLetters: DeadLetterSource; replay?: DeadLetterReplayer | undefined }> = async (
  app,
  { auth, deadLetters, replay },
) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
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
      if (request.identity?.regions) return reply.code(403).send(networkWide);
      return { total: deadLetters.size, items: deadLetters.newest(request.query.limit, request.query.reason) };
    },
  );

  if (!replay) return;
  typed.post(
    '/api/dead-letters/replay',
    {
      preHandler: auth.require('admin'),
      schema: {
        summary: 'Judge the kept messages of a reason again, through ingest, once the cause is fixed (a borehole added to the registry)',
        description:
          'Oldest first, at their first receive time, through the same decoding, journal and rules as a live message. ' +
          'An accepted letter leaves the log; one refused again stays, once. Replaying twice stores and opens nothing twice (docs/ingest.md).',
        tags: ['ingest'],
        security: [{ bearer: [] }],
        querystring: replayQuery,
        response: { 200: replaySchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      if (request.identity?.regions) return reply.code(403).send(networkWide);
      const { reason, topic, borehole, limit } = request.query;
      const refusal = whyNotReplayable(reason);
      if (refusal) return reply.code(400).send({ error: 'not_replayable', message: refusal });
      let result: ReplayResult;
      try {
        result = await replay({ reason, topic, borehole }, limit);
      } catch (error) {
        request.log.error({ err: error, reason }, 'dead-letter replay failed');
        return reply.code(503).send({ error: 'journal_unavailable', message: 'the journal cannot be written (disk full?): nothing was replayed and the dead letters stay; try again once it is' });
      }
      return { replayed: result.replayed, accepted_readings: result.acceptedReadings, still_refused: result.stillRefused, remaining: result.remaining };
    },
  );
};
