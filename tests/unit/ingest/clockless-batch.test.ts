/**
 * A store-and-forward batch from a device without a clock (no `ts`), from the MQTT payload to the
 * embedded time-series store: three readings in, three points out, in the order sent. Stamped all
 * with the receive time they were one point (same series and time), the last overwriting the rest.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { decodeMessage } from '../../../src/ingest/decode.js';
import { EmbeddedTelemetry } from '../../../src/storage/embedded-telemetry.js';
import { ReadingEncoder } from '../../../src/storage/points.js';
import { tempDir } from '../../support/fixtures.js';

const dir = tempDir('clockless-batch');
const store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db') });

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const RECEIVED_AT_MS = Date.UTC(2026, 1, 5, 10, 45, 0);
const MINUTE_MS = 60_000;

it('stores the three readings of a clockless batch as three points, in the order sent, the last at the receive time', async () => {
  const payload = Buffer.from(JSON.stringify([{ rate_lpm: 11 }, { rate_lpm: 22 }, { rate_lpm: 33 }]));
  const { readings, rejections } = decodeMessage('boreholes/clockless/flow', payload, RECEIVED_AT_MS, {
    topicRoot: 'boreholes',
    isKnownBorehole: (id) => id === 'clockless',
  });
  expect(rejections).toEqual([]);
  const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));
  await store.writeLines(Buffer.from(`${readings.map((reading) => encoder.line(reading)).join('\n')}\n`));

  const buckets = await store.series({ boreholeId: 'clockless', fromMs: RECEIVED_AT_MS - 10 * MINUTE_MS, toMs: RECEIVED_AT_MS + MINUTE_MS, everyMs: MINUTE_MS });
  expect(buckets.map((bucket) => [bucket.timeMs, bucket.flowLpmMean])).toEqual([
    [RECEIVED_AT_MS - 2 * MINUTE_MS, 11],
    [RECEIVED_AT_MS - MINUTE_MS, 22],
    [RECEIVED_AT_MS, 33],
  ]);
});
