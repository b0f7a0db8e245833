/** Open operational routes: liveness, readiness, Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';

export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

/** Each dependency's state; the service is ready when every one is ok. */
export type ReadinessProbe = () => Promise<Record<string, ReadinessCheck>>;

const checkSchema = z.object({ ok: z.boolean(), detail: z.string().optional() });
const readinessSchema = z.object({ ready: z.boolean(), checks: z.record(z.string(), checkSchema) });

export const opsRoutes: FastifyPluginAsync<{ metricsRegistry: Registry; readiness: ReadinessProbe }> = async (
  app,
  { metricsRegistry, readiness },
) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, () => ({ status: 'ok' as const }));
  typed.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const checks = await readiness();
    const ready = Object.values(checks).every((check) => check.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
  app.get('/metrics', { schema: { produces: ['text/plain'] } }, async (_request, reply) => {
    const body = await metricsRegistry.metrics();
    return reply.header('content-type', metricsRegistry.contentType).send(body);
  });
};
