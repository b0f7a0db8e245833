/**
 * Embedded time-series store benchmark. Writes a million points (8 boreholes × a month of flow,
 * pump and level readings every minute) the way the drain does (line protocol in batches of 5,000
 * points), then times what the service asks of it: a month of one borehole in hourly buckets, a
 * day in one-minute buckets, a month's totals for every borehole, and a month of active minutes.
 * Prints figures; asserts nothing.
 *
 *   npx tsx bench/embedded-store.ts [--boreholes 8] [--days 30] [--batch-points 5000]
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Reading } from '../src/domain/reading.js';
import { EmbeddedTelemetry } from '../src/storage/embedded-telemetry.js';
import { ReadingEncoder } from '../src/storage/points.js';
import { tempDir } from '../tests/support/fixtures.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '8' },
    days: { type: 'string', default: '30' },
    'batch-points': { type: 'string', default: '5000' },
  },
});
const boreholes = Number(args.boreholes);
const days = Number(args.days);
const batchPoints = Number(args['batch-points']);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = Date.UTC(2026, 0, 1);
const ids = Array.from({ length: boreholes }, (_, index) => `bench-${String(index + 1).padStart(3, '0')}`);

function* readings(): Generator<Reading> {
  for (let minute = 0; minute < days * 24 * 60; minute += 1) {
    const tsMs = START + minute * MINUTE;
    const hour = (minute / 60) % 24;
    const running = hour >= 7.5 && hour < 17.5;
    for (const [index, boreholeId] of ids.entries()) {
      const rate = running ? 40 + ((minute + index) % 20) : 0;
      yield { boreholeId, kind: 'flow', tsMs, values: { rate_lpm: rate, total_m3: 10_000 + (minute * rate) / 1000 } };
      yield { boreholeId, kind: 'pump', tsMs, values: { running, current_a: running ? 5 : 0, voltage_v: 240, fault: null } };
      yield { boreholeId, kind: 'level', tsMs, values: { depth_m: 20 + (running ? 8 : 0) + (index % 5) } };
    }
  }
}

async function time<T>(what: string, work: () => Promise<T>, runs = 5): Promise<T> {
  let result: T | undefined;
  const durations: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const startedAt = performance.now();
    result = await work();
    durations.push(performance.now() - startedAt);
  }
  durations.sort((a, b) => a - b);
  console.log(`${what.padEnd(58)} median ${(durations[Math.floor(runs / 2)] ?? 0).toFixed(1)} ms (best ${(durations[0] ?? 0).toFixed(1)} ms)`);
  return result as T;
}

const dir = tempDir('bench-embedded');
const path = join(dir, 'telemetry.db');
const store = EmbeddedTelemetry.open({ path });
const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));

let points = 0;
let lines: string[] = [];
const writeStartedAt = performance.now();
for (const reading of readings()) {
  lines.push(encoder.line(reading));
  if (lines.length >= batchPoints) {
    await store.writeLines(Buffer.from(`${lines.join('\n')}\n`));
    points += lines.length;
    lines = [];
  }
}
if (lines.length > 0) {
  await store.writeLines(Buffer.from(`${lines.join('\n')}\n`));
  points += lines.length;
}
const writeMs = performance.now() - writeStartedAt;
console.log(`wrote ${points.toLocaleString('en-US')} points (${boreholes} boreholes × ${days} days × 3 readings a minute) in batches of ${batchPoints}`);
console.log(`  ${(writeMs / 1000).toFixed(1)} s, ${Math.round(points / (writeMs / 1000)).toLocaleString('en-US')} points/s; database ${(statSync(path).size / 1e6).toFixed(0)} MB`);

const id = ids[0] as string;
const monthTo = START + days * DAY;
const hourly = await time(`a month of one borehole, hourly (${days * 24} buckets)`, () => store.series({ boreholeId: id, fromMs: START, toMs: monthTo, everyMs: HOUR }));
await time('a day of one borehole, every minute (1,440 buckets)', () => store.series({ boreholeId: id, fromMs: START + 10 * DAY, toMs: START + 11 * DAY, everyMs: MINUTE }));
await time(`a month of one borehole, daily in Bamako (${days} buckets)`, () => store.series({ boreholeId: id, fromMs: START, toMs: monthTo, everyMs: DAY }));
await time(`a month's totals for all ${boreholes} boreholes`, () => store.totals(ids, START, monthTo));
await time('a month of active minutes of one borehole', () => store.activeMinutes(id, START, monthTo));
console.log(`  (hourly series: ${hourly.length} buckets, first ${JSON.stringify(hourly[8])})`);

store.close();
rmSync(dir, { recursive: true, force: true });
