/**
 * The HTTP application, built as a plugin tree and never listening by itself: `server.ts` (or the
 * service) listens, tests call `app.inject()`.
 */
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { TokenEntry } from './auth.js';
import { TokenAuth } from './auth.js';
import { alertRoutes, type AlertsPort } from './routes/alerts.js';
import { deadLetterRoutes, type DeadLetterSource } from './routes/dead-letters.js';
import { opsRoutes, type ReadinessProbe } from './routes/ops.js';
import type { Registry as MetricsRegistry } from 'prom-client';

export interface AppDeps {
  log: Logger;
  apiTokens: readonly TokenEntry[];
  metricsRegistry: MetricsRegistry;
  readiness: ReadinessProbe;
  deadLetters: DeadLetterSource;
  /** Absent in tests of the operational routes alone. */
  alerts?: AlertsPort;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Widened to fastify's logger type so that the app is a plain FastifyInstance to its callers.
  const loggerInstance: FastifyBaseLogger = deps.log;
  const app = Fastify({
    loggerInstance,
    // Scrapes and probes every few seconds would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.url }, 'request failed');
      return reply.code(status).send({ error: 'internal', message: 'internal error' });
    }
    return reply.code(status).send({ error: error.validation ? 'invalid_request' : 'bad_request', message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'Borehole monitoring API', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  const auth = new TokenAuth(deps.apiTokens);
  await app.register(opsRoutes, { metricsRegistry: deps.metricsRegistry, readiness: deps.readiness });
  await app.register(deadLetterRoutes, { auth, deadLetters: deps.deadLetters });
  if (deps.alerts) await app.register(alertRoutes, { auth, alerts: deps.alerts });
  return app;
}
