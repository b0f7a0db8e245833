/**
 * Composition root: the one place that reads the environment. Starts the service, logs one line
 * when it is ready, reloads the registry on SIGHUP, and stops cleanly on SIGTERM or SIGINT.
 */
import { ConfigError } from './config/errors.js';
import { LiveRegistry } from './config/live-registry.js';
import { loadConfiguration } from './config/load.js';
import { configSecrets, createLogger } from './observability/logger.js';
import { startService } from './service.js';

async function main(): Promise<void> {
  let config;
  let registry;
  try {
    // The same checks as `npm run check` (src/check.ts), so that the two cannot disagree.
    const checked = await loadConfiguration(process.env);
    config = checked.config;
    registry = new LiveRegistry(checked.registry, checked.version);
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
    service = await startService({ config, registry, registryFile: config.boreholesFile, watchRegistry: true, log });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  log.info({ url: service.url, boreholes: registry.boreholes.size, registry: registry.version, dataDir: config.dataDir }, 'service ready');
  const running = service;
  // SIGHUP: read the registry again (the result is logged; an invalid file leaves the running one).
  process.on('SIGHUP', () => void running.reloadRegistry('signal'));

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
