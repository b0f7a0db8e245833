/** The telemetry store contract against InfluxDB (the embedded store runs the same suite). */
import { describe, inject } from 'vitest';
import { InfluxTelemetry } from '../../src/storage/influx-telemetry.js';
import { uniqueName } from '../support/fixtures.js';
import { influxClient, influxTargets } from '../support/influx.js';
import { telemetryContract } from '../support/telemetry-contract.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! InfluxDB telemetry contract SKIPPED: no InfluxDB (see tests/support/global-setup.ts)');

const targets = influxTargets('telemetry contract');
describe.skipIf(serverSource === 'none' || targets.length === 0).each(targets)('$name', (target) => {
  const unique = uniqueName('telemetry').toLowerCase().replace(/_/g, '-');
  telemetryContract(
    target.name,
    () => {
      const client = influxClient(target, target.bucket(unique.replace(/-/g, '_')));
      return Promise.resolve({ store: new InfluxTelemetry(client), write: (body) => client.writeLines(body) });
    },
    { metered: `${unique}-m`, unmetered: `${unique}-u` },
  );
});
