/**
 * The network as the API and the pages show it: which boreholes a token may see, and the status
 * of each, derived by domain/borehole-status.ts as for the `ETAT` SMS and the WPdx report.
 */
import type { Alert } from '../alerts/alert.js';
import type { Borehole, Registry } from '../config/registry.js';
import type { BoreholeSummary as Summary } from '../domain/borehole-status.js';
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
