/**
 * The network as the API and the pages show it: which boreholes a token may see, and the status
 * of each, derived by domain/borehole-status.ts as for the `ETAT` SMS and the WPdx report.
 */
import type { Alert } from '../alerts/alert.js';
import type { Borehole, Registry } from '../config/registry.js';
import { boreholeStatus, summarize, type BoreholeStatus, type BoreholeSummary as Summary } from '../domain/borehole-status.js';
import type { MaintenanceRecord } from '../storage/sqlite-store.js';
import type { TelemetryStore } from '../storage/telemetry.js';
import type { Identity } from './auth.js';

/** What the borehole routes and the pages need of the running service. */
export interface NetworkPort {
  registry: Pick<Registry, 'boreholes'>;
  /** Wall-clock time of the borehole's last message (rules.stateOf(id).lastHeardAtMs). */
  lastHeardAtMs(boreholeId: string): number | null;
  /** Newest first. */
  maintenance(boreholeId: string): MaintenanceRecord[];
  telemetry: Pick<TelemetryStore, 'series'>;
}

/** A borehole of the registry with its status and unresolved alerts. */
export type BoreholeSummary = Summary<Borehole, Alert>;

/** Which boreholes (and so which alerts) a token may see. */
export class Scope {
  constructor(private readonly registry: Pick<Registry, 'boreholes'>) {}

  private get boreholes(): ReadonlyMap<string, Borehole> {
    return this.registry.boreholes;
  }

  /** Whether an alert of this borehole is visible (alerts may outlive a borehole removed from the registry). */
  seesAlertOf(identity: Identity | undefined, boreholeId: string): boolean {
    if (identity === undefined) return false;
    if (identity.regions === null) return true;
    const borehole = this.boreholes.get(boreholeId);
    return borehole !== undefined && identity.regions.has(borehole.region);
  }

  /** The boreholes the identity may see, in registry order. */
  visible(identity: Identity | undefined): Borehole[] {
    return [...this.boreholes.values()].filter((borehole) => identity !== undefined && (identity.regions === null || identity.regions.has(borehole.region)));
  }

  /** Borehole ids to filter alert queries with; undefined: no filter (every region). */
  alertFilter(identity: Identity | undefined): string[] | undefined {
    if (identity?.regions === null) return undefined;
    return this.visible(identity).map((borehole) => borehole.id);
  }

  /** The borehole if it exists and the identity may see it. */
  borehole(identity: Identity | undefined, boreholeId: string): Borehole | undefined {
    const borehole = this.boreholes.get(boreholeId);
    return borehole && this.seesAlertOf(identity, boreholeId) ? borehole : undefined;
  }
}

/** What a list of boreholes may be narrowed to: the API's query, the pages' form. */
export interface NetworkFilter {
  region?: string | undefined;
  commune?: string | undefined;
  status?: BoreholeStatus | undefined;
  /** Part of an id, a name or a village; case and accents ignored ("segou" finds Ségou). */
  search?: string | undefined;
}

export interface NetworkPageQuery {
  limit: number;
  offset: number;
  /** The id the previous page ended with: the page starts after it (ids in order). */
  after?: string | undefined;
}

export interface NetworkPage {
  /** Boreholes matching the filter, all pages together. */
  total: number;
  items: BoreholeSummary[];
  /** The id to continue after; null on the last page. */
  after: string | null;
}

/** What a page of the network needs: the registry, when each borehole was last heard, and its unresolved alerts. */
export interface NetworkListSources {
  network: Pick<NetworkPort, 'registry' | 'lastHeardAtMs'>;
  alerts: {
    /** The rules of every unresolved alert, by borehole (enough for a status). */
    unresolvedRules(): ReadonlyMap<string, readonly string[]>;
    /** The unresolved alerts of a few boreholes (those of one page), newest first. */
    unresolvedOf(boreholeIds: readonly string[]): Alert[];
  };
  now: () => number;
}

/** Lower case without accents: what the search compares. */
export const searchKey = (text: string): string => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

interface Directory {
  /** The registry's boreholes by id (code-unit order, as the API has always listed them). */
  sorted: Borehole[];
  /** searchKey of each one's id, name and village, at the same index. */
  keys: string[];
}

/**
 * Sorted once per registry: a reload replaces the map, so a map seen before is a registry seen
 * before. Sorting and normalising 100,000 names is what each page must not do again.
 */
const directories = new WeakMap<ReadonlyMap<string, Borehole>, Directory>();

function directoryOf(boreholes: ReadonlyMap<string, Borehole>): Directory {
  let directory = directories.get(boreholes);
  if (!directory) {
    const sorted = [...boreholes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    directory = { sorted, keys: sorted.map((borehole) => searchKey(`${borehole.id} ${borehole.name} ${borehole.village}`)) };
    directories.set(boreholes, directory);
  }
  return directory;
}

const NO_RULES: readonly { rule: string }[] = [];

/**
 * Visits, in id order, each borehole the identity may see that matches the filter but its
 * status, with its status: what the counts of a region or the clusters of a map are made from.
 * Statuses come from what is in memory and one read of the unresolved alerts' rules.
 */
export function forEachStatus(
  sources: NetworkListSources,
  identity: Identity | undefined,
  filter: Omit<NetworkFilter, 'status'>,
  visit: (borehole: Borehole, status: BoreholeStatus) => void,
): void {
  walk(sources, identity, filter, true, visit as (borehole: Borehole, status: BoreholeStatus | null) => void);
}

/**
 * The walk itself. A status costs about a microsecond a borehole (the borehole, its rules and
 * when it was last heard, scattered in memory): 100 ms for a country, and so it is derived
 * only when asked; the walk without it is a few milliseconds.
 */
function walk(
  sources: NetworkListSources,
  identity: Identity | undefined,
  filter: Omit<NetworkFilter, 'status'>,
  withStatus: boolean,
  visit: (borehole: Borehole, status: BoreholeStatus | null) => void,
): void {
  if (identity === undefined) return;
  const { sorted, keys } = directoryOf(sources.network.registry.boreholes);
  const rulesOf = new Map<string, { rule: string }[]>();
  if (withStatus) for (const [boreholeId, rules] of sources.alerts.unresolvedRules()) rulesOf.set(boreholeId, rules.map((rule) => ({ rule })));
  const needle = filter.search === undefined || filter.search.trim() === '' ? null : searchKey(filter.search.trim());
  const nowMs = sources.now();
  for (let index = 0; index < sorted.length; index += 1) {
    const borehole = sorted[index] as Borehole;
    if (identity.regions !== null && !identity.regions.has(borehole.region)) continue;
    if (filter.region !== undefined && borehole.region !== filter.region) continue;
    if (filter.commune !== undefined && borehole.commune !== filter.commune) continue;
    if (needle !== null && !(keys[index] as string).includes(needle)) continue;
    visit(borehole, withStatus ? boreholeStatus(borehole, sources.network.lastHeardAtMs(borehole.id), rulesOf.get(borehole.id) ?? NO_RULES, nowMs) : null);
  }
}

/**
 * One page of the boreholes an identity may see, filtered. Statuses are derived for every
 * borehole only under a status filter; otherwise for the page's boreholes alone, which also get
 * their alerts read in full. Ids are unique and sorted, so paging on `after` returns every
 * borehole exactly once even while statuses change between pages.
 */
export function networkPage(sources: NetworkListSources, identity: Identity | undefined, filter: NetworkFilter, page: NetworkPageQuery): NetworkPage {
  const matching: Borehole[] = [];
  let start = 0;
  walk(sources, identity, filter, filter.status !== undefined, (borehole, status) => {
    if (filter.status !== undefined && status !== filter.status) return;
    if (page.after !== undefined && borehole.id <= page.after) start = matching.length + 1;
    matching.push(borehole);
  });
  const shown = matching.slice(start + page.offset, start + page.offset + page.limit);
  const more = start + page.offset + page.limit < matching.length;
  const alerts = shown.length === 0 ? [] : sources.alerts.unresolvedOf(shown.map((borehole) => borehole.id));
  return {
    total: matching.length,
    items: summarize(shown, alerts, (id) => sources.network.lastHeardAtMs(id), sources.now()),
    after: more ? (shown.at(-1) as Borehole).id : null,
  };
}
