/**
 * Composition root: the one place that reads the environment. Starts the service, logs one line
 * when it is ready, and stops cleanly on SIGTERM or SIGINT.
 */
import { loadConfig } from './config/env.js';
import { ConfigError } from './config/errors.js';
import { loadRegistry } from './config/registry.js';
import { configSecrets, createLogger } from './observability/logger.js';
import { startService } from './service.js';

async function main(): Promise<void> {
  let config;
  let registry;
  try {
    config = loadConfig(process.env);
    registry = await loadRegistry(config.boreholesFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel, undefined, { secrets: configSecrets(config) });
  let service;
  try {
    service = await startService({ config, registry, log });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  log.info({ url: service.url, boreholes: registry.boreholes.size, dataDir: config.dataDir }, 'service ready');

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    service.stop().then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
