/**
 * A borehole's status (CONTRACT.md section 6), derived in this one place so that the API, the
 * pages, the `ETAT` SMS and the WPdx report cannot disagree:
 * - `unknown`: never heard from;
 * - `offline`: an unresolved `offline` alert, or silent for longer than its `offline_minutes`;
 * - `alert`: any other unresolved alert;
 * - `ok`: otherwise.
 *
 * Pure, and typed by the little it reads of a borehole and an alert, so that domain/ imports
 * nothing above it: callers keep their own `Borehole` and `Alert` types in the summaries.
 */

/** In this order in the OpenAPI document and so in docs/contract.md. */
export const BOREHOLE_STATUSES = ['ok', 'alert', 'offline', 'unknown'] as const;
export type BoreholeStatus = (typeof BOREHOLE_STATUSES)[number];

export const isBoreholeStatus = (value: string | undefined): value is BoreholeStatus => BOREHOLE_STATUSES.some((status) => status === value);

/** Problems first: the order of the pages' lists and tiles and of the `ETAT` answer. */
export const STATUS_URGENCY: Readonly<Record<BoreholeStatus, number>> = { alert: 0, offline: 1, unknown: 2, ok: 3 };

/** The statuses, problems first. */
export const STATUSES_BY_URGENCY: readonly BoreholeStatus[] = [...BOREHOLE_STATUSES].sort((a, b) => STATUS_URGENCY[a] - STATUS_URGENCY[b]);

/** What a status is derived from, of a borehole. */
export interface StatusBorehole {
  id: string;
  rules: { offline_minutes: number };
}

/** What a status is derived from, of an unresolved alert. */
export interface StatusAlert {
  boreholeId: string;
  rule: string;
}

const MINUTE_MS = 60_000;

/** The status of one borehole from when it was last heard and its unresolved (open or acknowledged) alerts. */
export function boreholeStatus(borehole: Pick<StatusBorehole, 'rules'>, lastHeardAtMs: number | null, unresolved: readonly Pick<StatusAlert, 'rule'>[], nowMs: number): BoreholeStatus {
  if (lastHeardAtMs === null) return 'unknown';
  if (unresolved.some((alert) => alert.rule === 'offline')) return 'offline';
  if (nowMs - lastHeardAtMs > borehole.rules.offline_minutes * MINUTE_MS) return 'offline';
  return unresolved.length > 0 ? 'alert' : 'ok';
}

export interface BoreholeSummary<B extends StatusBorehole = StatusBorehole, A extends StatusAlert = StatusAlert> {
  borehole: B;
  status: BoreholeStatus;
  lastSeenAtMs: number | null;
  /** Alerts not yet resolved (open or acknowledged), in the order given (the stores give newest first). */
  openAlerts: A[];
}

/** Status, last message and unresolved alerts of each of the given boreholes, in their order. */
export function summarize<B extends StatusBorehole, A extends StatusAlert>(
  boreholes: readonly B[],
  unresolved: readonly A[],
  lastHeardAtMs: (boreholeId: string) => number | null,
  nowMs: number,
): BoreholeSummary<B, A>[] {
  const byBorehole = new Map<string, A[]>();
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
