/**
 * A network's history written straight into an embedded store, sparse enough to be quick to make
 * (a reading every `everyMs`), for the report's event-loop test and bench/report-load.ts. Flow
 * (with a meter) and pump readings; a pump that runs from 07:30 to 17:30 UTC.
 */
import type { Reading } from '../../src/domain/reading.js';
import type { EmbeddedTelemetry } from '../../src/storage/embedded-telemetry.js';
import { ReadingEncoder } from '../../src/storage/points.js';

export interface SparseHistory {
  ids: readonly string[];
  fromMs: number;
  toMs: number;
  everyMs: number;
}

const BATCH_LINES = 20_000;

export async function writeSparseHistory(store: EmbeddedTelemetry, { ids, fromMs, toMs, everyMs }: SparseHistory): Promise<number> {
  const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));
  let lines: string[] = [];
  let written = 0;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    await store.writeLines(Buffer.from(`${lines.join('\n')}\n`));
    written += lines.length;
    lines = [];
  };
  for (const [index, boreholeId] of ids.entries()) {
    let totalM3 = 1000 + index;
    // Each borehole on its own offset, so that nothing lines up by luck.
    for (let tsMs = fromMs + ((index * 7919) % everyMs); tsMs < toMs; tsMs += everyMs) {
      const hour = (tsMs % 86_400_000) / 3_600_000;
      const running = hour >= 7.5 && hour < 17.5;
      const rateLpm = running ? 40 + (index % 20) : 0;
      totalM3 += (rateLpm * everyMs) / 60_000 / 1000;
      const flow: Reading = { boreholeId, kind: 'flow', tsMs, values: { rate_lpm: rateLpm, total_m3: Number(totalM3.toFixed(3)) } };
      const pump: Reading = { boreholeId, kind: 'pump', tsMs, values: { running, fault: null } };
      lines.push(encoder.line(flow), encoder.line(pump));
      if (lines.length >= BATCH_LINES) await flush();
    }
  }
  await flush();
  return written;
}
