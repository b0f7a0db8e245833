/**
 * Alert latency: from the publish of a fault reading to the alert's `open` event, at a background
 * load of 1,000 readings/s from 5,000 simulated boreholes. Starts its own Mosquitto and InfluxDB;
 * the service runs in this process (so publish and open are timed on one clock), the background
 * load in a child process (the simulator's load mode). Prints p50/p99; asserts nothing.
 *
 *   npx tsx bench/rules.ts [--boreholes 5000] [--rate 1000] [--faults 200]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { loadConfig } from '../src/config/env.js';
import { buildRegistry, registryFileSchema } from '../src/config/registry.js';
import { startService } from '../src/service.js';
import { registryEntry, tempDir } from '../tests/support/fixtures.js';
import { startInfluxd, startMosquitto } from '../tests/support/servers.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '1000' },
    faults: { type: 'string', default: '200' },
  },
});
const BOREHOLES = Number(args.boreholes);
const FAULTS = Number(args.faults);
/** A fault every this often, on a borehole not yet faulted. */
const FAULT_EVERY_MS = 100;

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const [mosquitto, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
  // The simulator's load mode names its devices load-00001, load-00002, …
  const ids = Array.from({ length: BOREHOLES }, (_, i) => `load-${String(i + 1).padStart(5, '0')}`);
  const registry = buildRegistry(registryFileSchema.parse({ boreholes: ids.map((id, i) => registryEntry(id, i)) }));
  const config = loadConfig({
    MQTT_URL: mosquitto.url,
    INFLUX_URL: influxd.url,
    INFLUX_BUCKET: 'bench_rules',
    DATA_DIR: tempDir('bench-rules'),
    HTTP_PORT: '0',
    LOG_LEVEL: 'silent',
  });
  const service = await startService({ config, registry, log: pino({ level: 'silent' }) });
  const publishedAt = new Map<string, number>();
  const latencies: number[] = [];
  service.rules.onChange((change) => {
    const sentAt = publishedAt.get(change.alert.boreholeId);
    if (change.kind === 'opened' && change.alert.rule === 'pump_fault' && sentAt !== undefined) {
      latencies.push(Date.now() - sentAt);
      publishedAt.delete(change.alert.boreholeId);
    }
  });

  const load = spawn(
    process.execPath,
    ['--import', 'tsx', 'firmware-sim/cli.ts', '--load', '--devices', String(BOREHOLES), '--rate', args.rate, '--duration', `${Math.ceil((FAULTS * FAULT_EVERY_MS) / 1000) + 30}s`, '--broker', mosquitto.url],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let loadOutput = '';
  load.stdout.on('data', (chunk: Buffer) => (loadOutput += chunk.toString()));
  // Let the background load reach its rate before the first fault.
  await new Promise((resolve) => setTimeout(resolve, 10_000));

  const device = await mqtt.connectAsync(mosquitto.url, { clientId: 'bench-faults', clean: true });
  for (let n = 0; n < FAULTS; n += 1) {
    const id = ids[(n * 7919) % ids.length] ?? '';
    publishedAt.set(id, Date.now());
    await device.publishAsync(`boreholes/${id}/pump`, JSON.stringify({ ts: Date.now(), running: false, current_a: 0, fault: 'overheat' }), { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, FAULT_EVERY_MS));
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < FAULTS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await device.endAsync();
  load.kill('SIGTERM');
  await new Promise((resolve) => load.once('exit', resolve));
  await service.stop();
  await Promise.all([mosquitto.stop(), influxd.stop()]);

  const sorted = [...latencies].sort((a, b) => a - b);
  const rateLine = loadOutput.trim().split('\n').filter((line) => /readings\/s/.test(line)).at(-1) ?? '(no rate reported)';
  process.stdout.write(`\nalert latency, fault publish → alert opened (${BOREHOLES} boreholes, background ${args.rate} readings/s)\n`);
  process.stdout.write(`  background load: ${rateLine}\n`);
  process.stdout.write(`  faults: ${FAULTS}, alerts seen: ${latencies.length}\n`);
  process.stdout.write(`  p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1) ?? NaN} ms\n`);
}

await main();
