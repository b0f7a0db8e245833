/** Test registries and configurations built from the same schemas as production. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type Config } from '../../src/config/env.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../src/config/registry.js';

export function registryEntry(id: string, index = 0) {
  return {
    id,
    name: `Forage ${id}`,
    village: `Village ${id}`,
    commune: index % 2 === 0 ? 'Kayes' : 'Marena Diombougou',
    region: 'Kayes',
    location: { lat: 14.4 + (index % 1000) / 1000, lon: -11.4 - Math.floor(index / 1000) / 1000 },
    pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
    committee: { language: 'fr' as const, contacts: [{ name: 'Président', phone: `+2237600${String(index).padStart(4, '0')}` }] },
    technician: { name: 'Technicien', phone: '+22379000003' },
  };
}

export function registryFile(ids: readonly string[]) {
  return { boreholes: ids.map((id, index) => registryEntry(id, index)) };
}

export function testRegistry(ids: readonly string[]): Registry {
  return buildRegistry(registryFileSchema.parse(registryFile(ids)));
}

/** Writes a registry YAML file (for a service started as a child process). */
export function registryYaml(ids: readonly string[]): string {
  return stringify(registryFile(ids));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

let counter = 0;
/** A name no other test of this run uses: database, topic root, client id. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}_${Date.now().toString(36)}`;
}

export const VIEWER_TOKEN = 'viewer-token-for-tests-0001';
export const OPERATOR_TOKEN = 'operator-token-for-tests-0001';

export function testConfig(env: Record<string, string>): Config {
  return loadConfig({
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
    JOURNAL_FSYNC_MS: '50',
    API_TOKENS: `viewer:${VIEWER_TOKEN},operator:${OPERATOR_TOKEN}`,
    ...env,
  });
}
