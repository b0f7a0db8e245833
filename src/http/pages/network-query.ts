/**
 * What the network page (`/`) shows, gathered in one walk over the network (network.ts
 * `forEachStatus`): the counts per status and per region, the boreholes of the map, and the
 * list, in full for a district or a page of 100 for a country. Only the listed boreholes get
 * their alerts read; the others need nothing but their status.
 */
import type { Borehole } from '../../config/registry.js';
import { BOREHOLE_STATUSES, isBoreholeStatus, summarize, type BoreholeStatus } from '../../domain/borehole-status.js';
import type { Identity } from '../auth.js';
import { forEachStatus, type BoreholeSummary, type NetworkListSources } from '../network.js';
import type { GeoBox, MapPoint } from './network-map.js';

/** Up to this many boreholes (after the filters), the page lists them all, by region. */
export const FULL_LIST_MAX = 200;
/** Beyond, a page of this many, by id. */
export const LIST_PAGE_SIZE = 100;

/** The page's query string, checked: what it filters on and where the list starts. */
export interface NetworkQuery {
  status?: BoreholeStatus | undefined;
  region?: string | undefined;
  /** Part of a name, a village or an id (accents and case ignored). */
  q?: string | undefined;
  bbox?: GeoBox | undefined;
  /** The id the previous page of the list ended with. */
  after?: string | undefined;
  /** `bbox` was given but could not be read: said on the page rather than refused. */
  badBbox?: boolean;
}

const MAX_TEXT = 100;

const text = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed.slice(0, MAX_TEXT);
};

/** `lat1,lon1,lat2,lon2` in decimal degrees, corners in any order; null when it is not that. */
export function parseBbox(value: string): GeoBox | null {
  const parts = value.split(',');
  if (parts.length !== 4 || parts.some((part) => !/^\s*-?\d{1,3}(\.\d{1,8})?\s*$/.test(part))) return null;
  const [lat1, lon1, lat2, lon2] = parts.map(Number) as [number, number, number, number];
  if (Math.abs(lat1) > 90 || Math.abs(lat2) > 90 || Math.abs(lon1) > 180 || Math.abs(lon2) > 180) return null;
  return { minLat: Math.min(lat1, lat2), minLon: Math.min(lon1, lon2), maxLat: Math.max(lat1, lat2), maxLon: Math.max(lon1, lon2) };
}

/**
 * A box's corners for a link, rounded outwards to 1e-4 degrees (about 11 m), so that every
 * borehole of the cluster it was drawn from is inside the box the link asks for.
 */
export function formatBbox(box: GeoBox): string {
  const down = (value: number) => (Math.floor(value * 1e4 + 1e-9) / 1e4).toFixed(4).replace(/\.?0+$/, '');
  const up = (value: number) => (Math.ceil(value * 1e4 - 1e-9) / 1e4).toFixed(4).replace(/\.?0+$/, '');
  return `${down(box.minLat)},${down(box.minLon)},${up(box.maxLat)},${up(box.maxLon)}`;
}

export function networkQueryOf(query: Record<string, string | undefined>): NetworkQuery {
  const bboxText = text(query.bbox);
  const bbox = bboxText === undefined ? undefined : (parseBbox(bboxText) ?? undefined);
  return {
    status: isBoreholeStatus(query.status) ? query.status : undefined,
    region: text(query.region),
    q: text(query.q),
    bbox,
    after: text(query.after)?.slice(0, 64),
    badBbox: bboxText !== undefined && bbox === undefined,
  };
}

/** The page's link with these filters, in a stable order: `/?region=Kayes&status=alert`. */
export function networkHref(query: Omit<NetworkQuery, 'badBbox'>): string {
  const params = new URLSearchParams();
  if (query.region !== undefined) params.set('region', query.region);
  if (query.q !== undefined) params.set('q', query.q);
  if (query.bbox !== undefined) params.set('bbox', formatBbox(query.bbox));
  if (query.status !== undefined) params.set('status', query.status);
  if (query.after !== undefined) params.set('after', query.after);
  const search = params.toString();
  return search === '' ? '/' : `/?${search}`;
}

const inBox = (box: GeoBox, { lat, lon }: { lat: number; lon: number }): boolean => lat >= box.minLat && lat <= box.maxLat && lon >= box.minLon && lon <= box.maxLon;

export type StatusCounts = Record<BoreholeStatus, number>;

export interface RegionCount {
  region: string;
  total: number;
  counts: StatusCounts;
}

export interface NetworkView {
  query: NetworkQuery;
  /** Boreholes matching every filter but the status: the tiles' total. */
  total: number;
  /** Of those, how many in each status (the tiles). */
  counts: StatusCounts;
  /** Matching the search and the box (not the region nor the status), per region, by name. */
  regions: RegionCount[];
  /** Every region the identity may see (the search form's choice), by name. */
  visibleRegions: string[];
  /** Matching every filter: what the map draws and the list lists. */
  shown: MapPoint[];
  /** The whole list (a district's) or one page of it (a country's), with their alerts. */
  list: { kind: 'full'; summaries: BoreholeSummary[] } | { kind: 'page'; summaries: BoreholeSummary[]; first: number; after: string | null };
}

const zeroCounts = (): StatusCounts => Object.fromEntries(BOREHOLE_STATUSES.map((status) => [status, 0])) as StatusCounts;

const byFrenchName = (a: string, b: string): number => a.localeCompare(b, 'fr');

/** A registry's regions by name, computed once per registry (a reload replaces the map). */
const regionLists = new WeakMap<ReadonlyMap<string, Borehole>, string[]>();

function regionsOf(boreholes: ReadonlyMap<string, Borehole>): string[] {
  let regions = regionLists.get(boreholes);
  if (!regions) {
    const names = new Set<string>();
    for (const borehole of boreholes.values()) names.add(borehole.region);
    regions = [...names].sort(byFrenchName);
    regionLists.set(boreholes, regions);
  }
  return regions;
}

/** One walk over what the identity may see, and the alerts of the listed boreholes only. */
export function networkView(sources: NetworkListSources, identity: Identity | undefined, query: NetworkQuery): NetworkView {
  const counts = zeroCounts();
  const perRegion = new Map<string, RegionCount>();
  const shown: (MapPoint & { borehole: Borehole })[] = [];
  let total = 0;
  // The region is filtered here, not by forEachStatus, so that the table of regions still counts them all.
  forEachStatus(sources, identity, { search: query.q }, (borehole, status) => {
    if (query.bbox !== undefined && !inBox(query.bbox, borehole.location)) return;
    let region = perRegion.get(borehole.region);
    if (!region) {
      region = { region: borehole.region, total: 0, counts: zeroCounts() };
      perRegion.set(borehole.region, region);
    }
    region.total += 1;
    region.counts[status] += 1;
    if (query.region !== undefined && borehole.region !== query.region) return;
    total += 1;
    counts[status] += 1;
    if (query.status !== undefined && status !== query.status) return;
    shown.push({ borehole, status });
  });

  const allowed = identity === undefined ? new Set<string>() : identity.regions;
  const visibleRegions = regionsOf(sources.network.registry.boreholes).filter((region) => allowed === null || allowed.has(region));
  const summariesOf = (boreholes: readonly Borehole[]): BoreholeSummary[] => {
    if (boreholes.length === 0) return [];
    const alerts = sources.alerts.unresolvedOf(boreholes.map((borehole) => borehole.id));
    return summarize(boreholes, alerts, (id) => sources.network.lastHeardAtMs(id), sources.now());
  };

  let list: NetworkView['list'];
  if (shown.length <= FULL_LIST_MAX) list = { kind: 'full', summaries: summariesOf(shown.map((point) => point.borehole)) };
  else {
    // forEachStatus walks in id order: the first borehole after the cursor starts the page.
    const after = query.after;
    let start = 0;
    if (after !== undefined) while (start < shown.length && (shown[start] as MapPoint).borehole.id <= after) start += 1;
    const page = shown.slice(start, start + LIST_PAGE_SIZE).map((point) => point.borehole);
    const more = start + LIST_PAGE_SIZE < shown.length;
    list = { kind: 'page', summaries: summariesOf(page), first: start, after: more ? (page.at(-1) as Borehole).id : null };
  }
  return { query, total, counts, regions: [...perRegion.values()].sort((a, b) => byFrenchName(a.region, b.region)), visibleRegions, shown, list };
}
