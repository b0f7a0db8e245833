/**
 * The README's `npm start`: builds, starts, logs one line when ready, and on SIGTERM stops cleanly
 * with what it accepted stored.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { registryYaml, tempDir, uniqueName } from '../support/fixtures.js';
import { countPoints, influxClient } from '../support/influx.js';
import { connectPublisher } from '../support/mqtt.js';
import { freePort } from '../support/servers.js';
import { serverEnv } from '../support/service.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! npm start suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

describe.skipIf(serverSource === 'none')('npm start', () => {
  it('logs one line when ready and exits 0 on SIGTERM with what it accepted stored', async () => {
    const unique = uniqueName('start').toLowerCase().replace(/_/g, '-');
    const id = `${unique}-b`;
    const dir = tempDir('start');
    writeFileSync(join(dir, 'boreholes.yaml'), registryYaml([id]));
    const port = await freePort();
    const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
    const child = spawn('npm', ['start'], {
      env: {
        ...process.env,
        ...serverEnv(unique, bucket),
        BOREHOLES_FILE: join(dir, 'boreholes.yaml'),
        DATA_DIR: join(dir, 'data'),
        HTTP_PORT: String(port),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await expect.poll(() => output.includes('"msg":"service ready"'), { timeout: 90_000, interval: 200 }).toBe(true);
    await expect.poll(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0), { timeout: 30_000 }).toBe(200);
    const publisher = await connectPublisher(inject('mqttUrl'));
    await publisher.publishAsync(`${unique}/${id}/flow`, JSON.stringify({ ts: Date.now() - 1000, rate_lpm: 42 }), { qos: 1 });
    await publisher.endAsync();

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(output.match(/"msg":"service ready"/g)).toHaveLength(1);
    expect(output).toContain('"msg":"stopped"');
    const client = influxClient({ name: 'start', url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket: () => bucket }, bucket);
    expect(await countPoints(client, 'flow', 'rate_lpm', [id])).toBe(1);
  });
});
