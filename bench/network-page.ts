/**
 * The network page (`/`) of a country (issue 19): how long one answer takes to gather (one walk
 * over the network) and to render, and how large it is, for N boreholes in 8 regions, a tenth
 * never heard and a pump fault per region. Prints one line per view and a JSON summary.
 *
 *   tsx bench/network-page.ts [boreholes=100000] [runs=5]
 */
import { openAlert } from '../src/alerts/alert.js';
import type { Identity } from '../src/http/auth.js';
import type { NetworkListSources } from '../src/http/network.js';
import { Formatter } from '../src/http/pages/format.js';
import { networkPage } from '../src/http/pages/network-page.js';
import { networkQueryOf, networkView } from '../src/http/pages/network-query.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import { COUNTRY_REGIONS, countryId, countryRegistry, NAMED_BOREHOLE } from '../tests/support/country-registry.js';

const boreholes = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 5);
const NOW_MS = Date.UTC(2026, 11, 7, 12, 0);

let startedAt = performance.now();
const registry = countryRegistry(boreholes);
process.stdout.write(`registry of ${boreholes} boreholes built in ${Math.round(performance.now() - startedAt)} ms\n`);
const store = new SqliteStore(':memory:');
for (let n = 8; n < 16 && n < boreholes; n += 1) store.insertAlert(openAlert(countryId(n), 'pump_fault', 'critical', 'bench', NOW_MS - 60_000, true));
const lastHeard = new Map<string, number>();
for (let n = 0; n < boreholes; n += 1) if (Math.floor(n / COUNTRY_REGIONS.length) % 10 !== 0) lastHeard.set(countryId(n), NOW_MS - 60_000);
const sources: NetworkListSources = {
  network: { registry, lastHeardAtMs: (id) => lastHeard.get(id) ?? null },
  alerts: {
    unresolvedRules: () => store.unresolvedRules(),
    unresolvedOf: (ids) => store.listAlerts({ state: 'unresolved', boreholeIds: ids, limit: 1_000_000, offset: 0 }).alerts,
  },
  now: () => NOW_MS,
};
const everyone: Identity = { role: 'viewer', regions: null };
const format = new Formatter('Africa/Bamako');

const views: Record<string, Record<string, string>> = {
  'the whole network': {},
  'one region': { region: 'Kayes' },
  'a status': { status: 'unknown' },
  'a search by name': { q: NAMED_BOREHOLE.search },
  'the next page': { after: countryId(800) },
  'a box of the map': { bbox: '14,-12,15,-11' },
};

const figures: Record<string, { first_ms: number; median_ms: number; html_bytes: number; map_elements: number }> = {};
for (const [name, query] of Object.entries(views)) {
  const times: number[] = [];
  let text = '';
  for (let run = 0; run < runs; run += 1) {
    startedAt = performance.now();
    text = networkPage({ ...networkView(sources, everyone, networkQueryOf(query)), format, nowMs: NOW_MS }).text;
    times.push(performance.now() - startedAt);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const map = text.slice(text.indexOf('<figure class="map'), text.indexOf('</figure>'));
  figures[name] = {
    first_ms: Math.round(times[0] ?? 0),
    median_ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
    html_bytes: Buffer.byteLength(text),
    map_elements: (map.match(/<[a-z]/g) ?? []).length,
  };
  const f = figures[name];
  process.stdout.write(`${name.padEnd(20)} first ${String(f.first_ms).padStart(5)} ms  median ${String(f.median_ms).padStart(5)} ms  ${String(Math.round(f.html_bytes / 1024)).padStart(4)} KiB  ${f.map_elements} map elements\n`);
}
process.stdout.write(`NETWORK_PAGE_JSON ${JSON.stringify({ boreholes, runs, figures })}\n`);
store.close();
