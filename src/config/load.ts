/**
 * Everything start-up checks before it starts anything: the environment, the registry file it
 * names, and what needs both (API tokens limited to a region). `main.ts` and `check.ts` (`npm run
 * check`) both call this, so the check cannot accept a configuration that start-up refuses, nor
 * refuse one that starts, and both say the same (issue 16, "Check before you apply").
 *
 * It reads the registry file and nothing else: no broker, database, port or file written.
 */
import { envSchema, loadConfig, tokenRegionProblems, type Config } from './env.js';
import { ConfigError, ConfigErrors } from './errors.js';
import { readRegistryFile } from './live-registry.js';
import type { Registry } from './registry.js';

export interface CheckedConfiguration {
  config: Config;
  registry: Registry;
  /** The file the registry was read from (`registryFile`, or BOREHOLES_FILE). */
  registryFile: string;
  /** Its `registryVersion`, as the service's log and `registry_info` metric show it. */
  version: string;
}

export interface LoadOptions {
  /** Another registry file than the one BOREHOLES_FILE names (`npm run check -- --registry FILE`). */
  registryFile?: string | undefined;
}

/**
 * The configuration, checked whole. Throws a ConfigErrors listing every problem of the
 * environment and of the registry at once: a broken environment does not hide the registry's.
 */
export async function loadConfiguration(env: Record<string, string | undefined>, options: LoadOptions = {}): Promise<CheckedConfiguration> {
  const errors: ConfigError[] = [];
  const collect = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
      return undefined;
    }
  };
  const config = collect(() => loadConfig(env));
  // BOREHOLES_FILE alone cannot be invalid, so the registry is checked even when the rest is.
  const registryFile = options.registryFile ?? config?.boreholesFile ?? envSchema.shape.BOREHOLES_FILE.parse(env.BOREHOLES_FILE);
  let file: { registry: Registry; version: string } | undefined;
  try {
    file = await readRegistryFile(registryFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    errors.push(error);
  }
  if (config && file) {
    const problems = tokenRegionProblems(config.apiTokens, file.registry);
    if (problems.length > 0) errors.push(new ConfigError('environment', problems));
  }
  if (errors.length > 0 || !config || !file) throw new ConfigErrors(errors);
  return { config, registry: file.registry, registryFile, version: file.version };
}
