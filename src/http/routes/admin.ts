/**
 * `POST /api/admin/reload`: read the borehole registry file again, as SIGHUP does, for an admin
 * who has the API but not a shell (docs/operations.md, "Registry changes without a restart").
 * An invalid file is refused with every problem listed, and the running registry stays in use.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RegistryReload } from '../../config/live-registry.js';
import type { TokenAuth } from '../auth.js';
import { errorSchema } from '../schemas.js';

export type RegistryReloader = () => Promise<RegistryReload>;

const reloadSchema = z.object({
  result: z.enum(['applied', 'unchanged']),
  version: z.string().describe('the registry in use: first 12 hex digits of the SHA-256 of its file'),
  boreholes: z.number().int(),
  added: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional().describe('retired: their unresolved alerts are resolved by "registry"'),
  changed: z.array(z.string()).optional(),
  alerts_resolved: z.number().int().optional(),
});

const refusedSchema = z.object({
  error: z.literal('registry_invalid'),
  message: z.string(),
  version: z.string().describe('the registry still in use'),
  problems: z.array(z.string()),
});

export const adminRoutes: FastifyPluginAsync<{ auth: TokenAuth; reloadRegistry: RegistryReloader }> = async (app, { auth, reloadRegistry }) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/admin/reload',
    {
      preHandler: auth.require('admin'),
      schema: {
        summary: 'Read the borehole registry file again and apply it, or refuse it and keep the running one',
        tags: ['admin'],
        security: [{ bearer: [] }],
        response: { 200: reloadSchema, 401: errorSchema, 403: errorSchema, 422: refusedSchema },
      },
    },
    async (request, reply) => {
      if (request.identity?.regions) {
        return reply.code(403).send({ error: 'forbidden', message: 'the registry is network-wide: it needs a token without a region limit' });
      }
      const outcome = await reloadRegistry();
      if (outcome.result === 'refused') {
        return reply.code(422).send({ error: 'registry_invalid', message: 'the registry file was refused; the running registry stays in use', version: outcome.version, problems: [...outcome.problems] });
      }
      if (outcome.result === 'unchanged') return { result: 'unchanged' as const, version: outcome.version, boreholes: outcome.boreholes };
      return {
        result: 'applied' as const,
        version: outcome.version,
        boreholes: outcome.boreholes,
        added: outcome.added,
        removed: outcome.removed,
        changed: outcome.changed,
        alerts_resolved: outcome.alertsResolved,
      };
    },
  );
};
