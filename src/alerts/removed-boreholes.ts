/**
 * Alerts of boreholes that are no longer in the registry (decommissioned, renamed): nothing can
 * resolve them any more (no reading arrives, the rules skip unknown ids, nobody sees them in the
 * scoped API), so they would count for ever in `alerts_unresolved`. They are resolved by the
 * registry itself, with the reason recorded. Called at start-up; a live reload of the registry
 * calls it again with the new registry.
 */
import type { Registry } from '../config/registry.js';
import type { OperationalStore } from '../storage/sqlite-store.js';
import { resolve, type AlertChange } from './alert.js';

export const REGISTRY_ACTOR = 'registry';
export const REMOVED_REASON = 'borehole removed from the registry';

export interface RemovedBoreholeDeps {
  store: Pick<OperationalStore, 'transaction' | 'listAlerts' | 'updateAlert' | 'recordAlertChange'>;
  registry: Pick<Registry, 'boreholes'>;
  now: () => number;
}

/** Page size of the scan: the unresolved alerts of a whole network fit in a few pages. */
const PAGE = 1000;

/**
 * Resolves every unresolved alert whose borehole the registry no longer lists, in one transaction,
 * and returns the changes for the caller to journal as alert points. The changes say `notify:
 * false`: a committee of a borehole that is gone must not receive a "water is back" SMS.
 */
export function resolveAlertsOfRemovedBoreholes({ store, registry, now }: RemovedBoreholeDeps): AlertChange[] {
  const atMs = now();
  return store.transaction(() => {
    const orphans = [];
    for (let offset = 0; ; offset += PAGE) {
      const { alerts, total } = store.listAlerts({ state: 'unresolved', limit: PAGE, offset });
      orphans.push(...alerts.filter((alert) => !registry.boreholes.has(alert.boreholeId)));
      if (alerts.length === 0 || offset + PAGE >= total) break;
    }
    return orphans.map((alert): AlertChange => {
      const change: AlertChange = { kind: 'resolved', alert: resolve(alert, REGISTRY_ACTOR, atMs), atMs, actor: REGISTRY_ACTOR, note: REMOVED_REASON, notify: false };
      store.updateAlert(change.alert);
      store.recordAlertChange(change);
      return change;
    });
  });
}
