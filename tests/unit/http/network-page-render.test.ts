/**
 * The network page for a country (issue 19): the map's clusters as a pure function, then `/` over
 * a generated registry of 100,000 boreholes in 8 regions: bounded HTML, the counts of each region,
 * a clustered map whose clusters add up, zoom links, the search, the paged list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAlert } from '../../../src/alerts/alert.js';
import type { Registry } from '../../../src/config/registry.js';
import type { BoreholeStatus } from '../../../src/domain/borehole-status.js';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import { clusterPoints, clusterRadius, clusterTitle, MAX_MAP_POINTS, networkMap, type MapPoint } from '../../../src/http/pages/network-map.js';
import { formatBbox, networkHref, parseBbox } from '../../../src/http/pages/network-query.js';
import { COUNTRY_REGIONS, countryId, countryRegistry, NAMED_BOREHOLE } from '../../support/country-registry.js';
import { MINUTE_MS, startHarness, T0_MS, TOKENS, type Harness } from './harness.js';

const point = (id: string, lat: number, lon: number, status: BoreholeStatus, region = 'Kayes'): MapPoint => ({
  borehole: { id, name: `Forage ${id}`, village: id, region, location: { lat, lon } },
  status,
});

const elements = (svg: string): number => (svg.match(/<[a-z]/g) ?? []).length;

describe('the clusters of the map', () => {
  // Two tight groups far apart and a borehole alone between them.
  const west = Array.from({ length: 50 }, (_, i) => point(`w${i}`, 14 + i * 0.0001, -11 + i * 0.0001, i === 7 ? 'offline' : 'ok'));
  const east = Array.from({ length: 30 }, (_, i) => point(`e${i}`, 14 + i * 0.0001, 1 + i * 0.0001, i === 3 ? 'alert' : i === 4 ? 'offline' : 'unknown', i < 15 ? 'Gao' : 'Kidal'));
  const lone = point('alone', 17, -5, 'unknown', 'Mopti');
  const clusters = clusterPoints([...west, lone, ...east]);

  it('puts every borehole in exactly one cluster: the counts add up', () => {
    expect(clusters).toHaveLength(3);
    expect(clusters.reduce((sum, cluster) => sum + cluster.count, 0)).toBe(81);
    for (const cluster of clusters) expect(Object.values(cluster.counts).reduce((a, b) => a + b, 0)).toBe(cluster.count);
  });

  it('colours a cluster by its worst status: alert over offline over unknown over ok', () => {
    const byCount = new Map(clusters.map((cluster) => [cluster.count, cluster]));
    expect(byCount.get(50)?.worst).toBe('offline');
    expect(byCount.get(30)?.worst).toBe('alert');
    expect(byCount.get(30)?.counts).toEqual({ ok: 0, alert: 1, offline: 1, unknown: 28 });
  });

  it('leaves a borehole alone in its cell a point, and knows the region of a cluster when it has one', () => {
    const alone = clusters.find((cluster) => cluster.count === 1);
    expect(alone?.lone?.borehole.id).toBe('alone');
    expect(clusters.find((cluster) => cluster.count === 50)?.region).toBe('Kayes');
    expect(clusters.find((cluster) => cluster.count === 30)?.region).toBeNull();
  });

  it('bounds each cluster by its boreholes, and a link box rounded outwards still holds them all', () => {
    const east30 = clusters.find((cluster) => cluster.count === 30);
    expect(east30?.bounds).toEqual({ minLat: 14, minLon: 1, maxLat: 14 + 29 * 0.0001, maxLon: 1 + 29 * 0.0001 });
    const box = parseBbox(formatBbox({ minLat: 14.00004, minLon: -11.00006, maxLat: 14.00291, maxLon: -10.99999 }));
    expect(box).toEqual({ minLat: 14, minLon: -11.0001, maxLat: 14.003, maxLon: -10.9999 });
  });

  it('says in the tooltip how many and how many are in trouble', () => {
    expect(clusterTitle({ count: 1234, counts: { ok: 1200, alert: 12, offline: 3, unknown: 19 } })).toBe('1\u202f234 forages — 12 en alerte, 3 hors ligne, 19 sans données');
    expect(clusterTitle({ count: 2, counts: { ok: 2, alert: 0, offline: 0, unknown: 0 } })).toBe('2 forages — tous en service');
  });

  it(`draws up to ${MAX_MAP_POINTS} boreholes as points, and beyond a bounded number of clusters whatever their number`, () => {
    const few = Array.from({ length: MAX_MAP_POINTS }, (_, i) => point(`f${i}`, 12 + (i % 20) * 0.3, -10 + Math.floor(i / 20) * 0.9, 'ok'));
    expect((networkMap(few).text.match(/class="pt /g) ?? []).length).toBe(MAX_MAP_POINTS);
    for (const n of [MAX_MAP_POINTS + 1, 10_000, 100_000]) {
      const many = Array.from({ length: n }, (_, i) => point(`m${i}`, 10 + ((i * 0.618034) % 1) * 9, -12 + ((i * 0.754877) % 1) * 16, i % 97 === 0 ? 'alert' : 'ok'));
      const svg = networkMap(many, (cluster) => `/?bbox=${formatBbox(cluster.bounds)}`).text;
      expect(elements(svg), `${n} boreholes`).toBeLessThanOrEqual(2000);
      const counted = [...svg.matchAll(/data-count="(\d+)"/g)].reduce((sum, match) => sum + Number(match[1]), 0) + (svg.match(/class="pt /g) ?? []).length;
      expect(counted).toBe(n);
      expect(svg).not.toContain('NaN');
    }
  });

  it('keeps the circles of a crowded country apart: each inside its own cell', () => {
    const crowd = Array.from({ length: 20_000 }, (_, i) => point(`c${i}`, 10 + ((i * 0.618034) % 1) * 9, -12 + ((i * 0.754877) % 1) * 16, 'ok'));
    const circles = clusterPoints(crowd)
      .filter((cluster) => cluster.lone === null)
      .map((cluster) => ({ x: cluster.x, y: cluster.y, r: clusterRadius(cluster.count) }));
    expect(circles.length).toBeGreaterThan(50);
    for (const [index, a] of circles.entries()) {
      for (const b of circles.slice(index + 1)) expect(Math.hypot(a.x - b.x, a.y - b.y)).toBeGreaterThanOrEqual(a.r + b.r - 1e-9);
    }
  });

  it('refuses a box that is not four coordinates', () => {
    for (const bad of ['', '1,2,3', '1,2,3,x', '91,0,0,0', '0,181,0,0', '1e3,0,0,0', '0,0,0,0,0']) expect(parseBbox(bad), bad).toBeNull();
    expect(parseBbox('15,-3,14.5,-4')).toEqual({ minLat: 14.5, minLon: -4, maxLat: 15, maxLon: -3 });
  });
});

// Each page walks 100,000 boreholes: a second or so on a loaded 2-core box, so a minute's timeout (nothing timed is asserted).
describe('/ at 100,000 boreholes', { timeout: 120_000 }, () => {
  const N = 100_000;
  let registry: Registry;
  let h: Harness;
  /** When each borehole was last heard: nine in ten of each region a minute ago, a tenth never. */
  const lastHeard = new Map<string, number>();

  beforeAll(async () => {
    registry = countryRegistry(N);
    for (let n = 0; n < N; n += 1) if (Math.floor(n / COUNTRY_REGIONS.length) % 10 !== 0) lastHeard.set(countryId(n), T0_MS - MINUTE_MS);
    h = await startHarness({
      network: {
        registry,
        lastHeardAtMs: (id) => lastHeard.get(id) ?? null,
        maintenance: () => [],
        telemetry: { series: async () => [] },
      },
    });
    // A pump fault in each region (n = 8..15: one a region, all heard).
    for (let n = 8; n < 16; n += 1) h.store.insertAlert(openAlert(countryId(n), 'pump_fault', 'critical', 'test', T0_MS - MINUTE_MS, true));
  }, 300_000);

  afterAll(async () => {
    await h?.close();
  });

  const page = (url: string, token: string = TOKENS.viewer) => h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', cookie: `${TOKEN_COOKIE}=${token}` } });
  /** The network map's SVG (the page's header has a logo SVG of its own). */
  const mapOf = (body: string): string => {
    const start = body.indexOf('<figure class="map');
    return start < 0 ? '' : body.slice(start, body.indexOf('</figure>', start));
  };
  const mapCount = (body: string): number => {
    const map = mapOf(body);
    return [...map.matchAll(/data-count="(\d+)"/g)].reduce((sum, match) => sum + Number(match[1]), 0) + (map.match(/class="pt /g) ?? []).length;
  };
  const regionRow = (body: string, region: string): string => {
    const table = body.slice(body.indexOf('<section class="region-counts">'), body.indexOf('</section>', body.indexOf('<section class="region-counts">')));
    const start = table.indexOf(`>${region}</a>`);
    return table.slice(start + 1, table.indexOf('</tr>', start)).replace(/<[^>]+>/g, ' ').replace(/[ \n\t]+/g, ' ').trim();
  };

  it('answers a bounded page: the counts of the 8 regions, a clustered map that adds up to 100,000, and a page of 100', async () => {
    const response = await page('/');
    expect(response.statusCode).toBe(200);
    const body = response.body;
    expect(Buffer.byteLength(body)).toBeLessThan(500_000);
    expect(body).toContain('100\u202f000 forages');
    // Region by region: 12,500 each; the tenth never heard; one pump fault.
    for (const region of COUNTRY_REGIONS) expect(regionRow(body, region.name)).toBe(`${region.name} 12\u202f500 1 0 1\u202f250 11\u202f249`);
    expect(body).toContain(`href="/?region=${encodeURIComponent('Ségou')}"`);
    // The tiles: problems first.
    expect(body).toMatch(/tile status-alert[^>]*>\s*<span class="n">8<\/span>/);
    expect(body).toMatch(/tile status-unknown[^>]*>\s*<span class="n">10\u202f000<\/span>/);
    // The map: clusters, bounded, adding up.
    const map = mapOf(body);
    expect(map).toContain('class="cluster status-alert"');
    expect(elements(map)).toBeLessThanOrEqual(2000);
    expect(mapCount(body)).toBe(N);
    // A page of 100, by id, with the link to the next.
    expect(body).toContain('Forages 1 à 100 sur 100\u202f000');
    expect((body.match(/<tr class="row-/g) ?? []).length).toBe(100);
    expect(body).not.toContain('class="region"');
    const first = [...registry.boreholes.keys()].sort();
    expect(body).toContain(`href="/?after=${first[99]}" rel="next"`);
    const next = (await page(`/?after=${first[99]}`)).body;
    expect(next).toContain('Forages 101 à 200 sur 100\u202f000');
    expect(next).toContain(`href="/boreholes/${first[100]}"`);
    expect(next).not.toContain(`href="/boreholes/${first[99]}"`);
  });

  it('zooms from a cluster: its link shows that region or that box, with fewer boreholes that add up again', async () => {
    const body = (await page('/')).body;
    const links = [...body.matchAll(/<a href="([^"]+)" class="cluster [^"]+" data-count="(\d+)"/g)].map((match) => ({ href: (match[1] ?? '').replace(/&amp;/g, '&'), count: Number(match[2]) }));
    expect(links.length).toBeGreaterThan(8);
    const biggest = links.reduce((a, b) => (b.count > a.count ? b : a));
    expect(biggest.href).toMatch(/^\/\?(region=|bbox=)/);
    const zoomed = (await page(biggest.href)).body;
    const shown = mapCount(zoomed);
    expect(shown).toBeGreaterThanOrEqual(biggest.count);
    expect(shown).toBeLessThan(N);
    // Inside a region, a cluster zooms to its box within the region.
    const kayes = (await page('/?region=Kayes')).body;
    expect(mapCount(kayes)).toBe(12_500);
    const inner = [...kayes.matchAll(/<a href="([^"]+)" class="cluster [^"]+" data-count="(\d+)"/g)].map((match) => ({ href: (match[1] ?? '').replace(/&amp;/g, '&'), count: Number(match[2]) }));
    expect(inner[0]?.href).toMatch(/^\/\?region=Kayes&bbox=/);
    const box = (await page(inner[0]?.href ?? '/')).body;
    expect(mapCount(box)).toBeGreaterThanOrEqual(inner[0]?.count ?? 0);
    expect(mapCount(box)).toBeLessThan(12_500);
  });

  it('finds the one borehole by part of its name, accents ignored, and links to its page', async () => {
    const body = (await page(`/?q=${NAMED_BOREHOLE.search.toUpperCase()}`)).body;
    expect(body).toContain(`<a class="strong" href="/boreholes/${NAMED_BOREHOLE.id}">${NAMED_BOREHOLE.name}</a>`);
    expect((body.match(/<tr class="row-/g) ?? []).length).toBe(1);
    expect(body).toContain('Région de Sikasso');
    expect(mapCount(body)).toBe(1);
    expect(body).toContain(`value="${NAMED_BOREHOLE.search.toUpperCase()}"`);
    // By id, too.
    expect((await page(`/?q=${NAMED_BOREHOLE.id}`)).body).toContain(NAMED_BOREHOLE.name);
    expect((await page('/?q=nowhere-at-all')).body).toContain('Aucun forage ne correspond à « nowhere-at-all ».');
  });

  it('keeps the filters in the links: a status within a region, and its next page', async () => {
    const body = (await page('/?region=Gao&status=unknown')).body;
    expect(body).toContain('Forages 1 à 100 sur 1\u202f250');
    const next = /href="(\/\?region=Gao&amp;status=unknown&amp;after=gao-\d+)" rel="next"/.exec(body)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toBeDefined();
    const second = (await page(next ?? '/')).body;
    expect(second).toContain('Forages 101 à 200 sur 1\u202f250');
    expect(second).not.toMatch(/row-(ok|alert|offline)/);
    expect(networkHref({ region: 'Ségou', status: 'alert' })).toBe('/?region=S%C3%A9gou&status=alert');
  });

  it('shows a region-limited token its region only, and ignores a box it cannot read', async () => {
    const body = (await page('/', TOKENS.koulikoroViewer)).body;
    expect(body).toContain('12\u202f500 forages');
    expect(body).not.toContain('>Kayes</a>');
    expect(mapCount(body)).toBe(12_500);
    const bad = (await page('/?bbox=1,2,3')).body;
    expect(bad).toContain("La zone de carte demandée n'est pas lisible");
    expect(mapCount(bad)).toBe(N);
  });
});
