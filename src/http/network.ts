/**
 * The network as the API and the pages show it: which boreholes a token may see, and the status
 * of each (CONTRACT.md section 6): `unknown` never heard from; `offline` with an unresolved
 * `offline` alert or silent for longer than its `offline_minutes`; `alert` with any other
 * unresolved alert; else `ok`.
 */
import type { Alert } from '../alerts/alert.js';
import type { Borehole, Registry } from '../config/registry.js';
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

export const BOREHOLE_STATUSES = ['ok', 'alert', 'offline', 'unknown'] as const;
export type BoreholeStatus = (typeof BOREHOLE_STATUSES)[number];

export function boreholeStatus(borehole: Pick<Borehole, 'rules'>, lastHeardAtMs: number | null, unresolved: readonly Pick<Alert, 'rule'>[], nowMs: number): BoreholeStatus {
  if (lastHeardAtMs === null) return 'unknown';
  if (unresolved.some((alert) => alert.rule === 'offline')) return 'offline';
  if (nowMs - lastHeardAtMs > borehole.rules.offline_minutes * 60_000) return 'offline';
  return unresolved.length > 0 ? 'alert' : 'ok';
}

export interface BoreholeSummary {
  borehole: Borehole;
  status: BoreholeStatus;
  lastSeenAtMs: number | null;
  /** Alerts not yet resolved (open or acknowledged), newest first. */
  openAlerts: Alert[];
}

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

/** Status, last message and unresolved alerts of the given boreholes. */
export function summarize(
  boreholes: readonly Borehole[],
  unresolved: readonly Alert[],
  lastHeardAtMs: (boreholeId: string) => number | null,
  nowMs: number,
): BoreholeSummary[] {
  const byBorehole = new Map<string, Alert[]>();
  for (const alert of unresolved) {
    const list = byBorehole.get(alert.boreholeId);
    if (list) list.push(alert);
    else byBorehole.set(alert.boreholeId, [alert]);
  }
  return boreholes.map((borehole) => {
    const openAlerts = byBorehole.get(borehole.id) ?? [];
    const lastSeenAtMs = lastHeardAtMs(borehole.id);
    return { borehole, status: boreholeStatus(borehole, lastSeenAtMs, openAlerts, nowMs), lastSeenAtMs, openAlerts };
  });
}
