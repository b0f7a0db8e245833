/** The telemetry store contract against InfluxDB (the embedded store runs the same suite). */
import { pino } from 'pino';
import { describe, inject } from 'vitest';
import { InfluxClient } from '../../src/storage/influx.js';
import { InfluxTelemetry } from '../../src/storage/influx-telemetry.js';
import { uniqueName } from '../support/fixtures.js';
import { telemetryContract } from '../support/telemetry-contract.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! InfluxDB telemetry contract SKIPPED: no InfluxDB (see tests/support/global-setup.ts)');

const unique = uniqueName('telemetry').toLowerCase().replace(/_/g, '-');
describe.skipIf(serverSource === 'none')('InfluxDB', () => {
  telemetryContract(
    `InfluxDB from ${serverSource}`,
    () => {
      const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
      const client = new InfluxClient({ url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket }, pino({ level: 'silent' }));
      return Promise.resolve({ store: new InfluxTelemetry(client), write: (body) => client.writeLines(body) });
    },
    { metered: `${unique}-m`, unmetered: `${unique}-u` },
  );
});
