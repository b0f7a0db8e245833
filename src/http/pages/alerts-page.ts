/** `/alerts`: the alerts, unresolved first by default, with acknowledge and resolve for operators. */
import type { Alert, AlertState } from '../../alerts/alert.js';
import type { Borehole } from '../../config/registry.js';
import { ago, plural, SEVERITY_LABELS, STATE_LABELS, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';

export const ALERT_FILTERS = ['unresolved', 'open', 'acknowledged', 'resolved', 'all'] as const;
export type AlertFilter = (typeof ALERT_FILTERS)[number];

const FILTER_LABELS: Record<AlertFilter, string> = {
  unresolved: 'En cours',
  open: 'Ouvertes',
  acknowledged: 'Acquittées',
  resolved: 'Résolues',
  all: 'Toutes',
};

export interface AlertsView {
  alerts: readonly Alert[];
  total: number;
  filter: AlertFilter;
  borehole: Borehole | undefined;
  page: number;
  pageSize: number;
  canChange: boolean;
  boreholeOf: (id: string) => Borehole | undefined;
  format: Formatter;
  nowMs: number;
  /** This page's own URL, to come back to after an action. */
  here: string;
  /** Link each alert to its SMS and their delivery states (tokens without a region limit). */
  smsLinks?: boolean;
}

export const stateBadge = (state: AlertState): SafeHtml => html`<span class="state state-${state}">${STATE_LABELS[state]}</span>`;

export const severityBadge = (alert: Pick<Alert, 'severity'>): SafeHtml =>
  html`<span class="sev sev-${alert.severity}">${SEVERITY_LABELS[alert.severity]}</span>`;

/** Acknowledge / resolve buttons: plain forms, so they work without JavaScript. */
export function alertActions(alert: Alert, back: string): SafeHtml {
  if (alert.state === 'resolved') return html``;
  return html`<div class="actions">
    ${alert.state === 'open'
      ? html`<form method="post" action="/alerts/${alert.id}/ack"><input type="hidden" name="back" value="${back}"><button type="submit" class="btn">Acquitter</button></form>`
      : ''}
    <form method="post" action="/alerts/${alert.id}/resolve" class="resolve">
      <input type="hidden" name="back" value="${back}">
      <label class="sr-only" for="note-${alert.id}">Note de résolution</label>
      <input id="note-${alert.id}" name="note" maxlength="500" placeholder="Note (facultatif)">
      <button type="submit" class="btn secondary">Résoudre</button>
    </form>
  </div>`;
}

export function alertTimes(alert: Alert, format: Formatter, nowMs: number): SafeHtml {
  return html`<span class="nowrap">${format.dateTimeOf(alert.openedAtMs)}</span>
    ${alert.state !== 'resolved' ? html`<br><span class="muted">${ago(alert.openedAtMs, nowMs)}</span>` : ''}
    ${alert.acknowledgedAtMs !== null ? html`<br><span class="muted">acquittée le <span class="nowrap">${format.dateTimeOf(alert.acknowledgedAtMs)}</span></span>` : ''}
    ${alert.resolvedAtMs !== null ? html`<br><span class="muted">résolue le <span class="nowrap">${format.dateTimeOf(alert.resolvedAtMs)}</span></span>` : ''}`;
}

export function alertsPage(view: AlertsView): SafeHtml {
  const boreholeQuery = view.borehole ? `&borehole=${encodeURIComponent(view.borehole.id)}` : '';
  const tabs = ALERT_FILTERS.map(
    (filter) =>
      html`<a href="/alerts?state=${filter}${boreholeQuery}" ${filter === view.filter ? html`aria-current="page" class="selected"` : ''}>${FILTER_LABELS[filter]}</a>`,
  );
  const pages = Math.max(1, Math.ceil(view.total / view.pageSize));
  const pageLink = (page: number, label: string) =>
    html`<a href="/alerts?state=${view.filter}${boreholeQuery}&page=${page}">${label}</a>`;
  const rows = view.alerts.map((alert) => {
    const borehole = view.boreholeOf(alert.boreholeId);
    return html`<tr class="alert-row sev-row-${alert.severity} state-row-${alert.state}" data-code="${alert.code}">
      <td data-label="N°"><strong>${alert.code}</strong></td>
      <td data-label="Forage">${borehole ? html`<a class="strong" href="/boreholes/${borehole.id}">${borehole.name}</a><br><span class="muted">${borehole.region}</span>` : alert.boreholeId}</td>
      <td data-label="Problème"><strong>${alert.message}</strong>${alert.historical ? html`<br><span class="muted">(trouvée dans des données en retard)</span>` : ''}</td>
      <td data-label="Gravité">${severityBadge(alert)}</td>
      <td data-label="État">${stateBadge(alert.state)}</td>
      <td data-label="Ouverte le">${alertTimes(alert, view.format, view.nowMs)}${view.smsLinks ? html`<br><a class="muted" href="/sms?alert=${alert.id}">SMS de l'alerte</a>` : ''}</td>
      ${view.canChange ? html`<td data-label="Actions" class="actions-cell">${alertActions(alert, view.here)}</td>` : ''}
    </tr>`;
  });
  return html`<div class="page-head">
      <h1>Alertes${view.borehole ? html` — ${view.borehole.name}` : ''}</h1>
      <p class="meta">${plural(view.total, 'alerte', 'alertes')} · état au ${view.format.dateTimeOf(view.nowMs)}${
        view.borehole ? html` · <a href="/alerts?state=${view.filter}">toutes les alertes</a>` : ''
      }</p>
    </div>
    <nav class="tabs" aria-label="Filtrer les alertes">${tabs}</nav>
    ${view.canChange ? '' : html`<p class="note">Acquitter ou résoudre une alerte demande un jeton d'opérateur.</p>`}
    ${view.alerts.length === 0
      ? html`<p class="empty">Aucune alerte ${view.filter === 'all' ? '' : FILTER_LABELS[view.filter].toLowerCase()}.</p>`
      : html`<table class="list alerts">
        <thead><tr><th scope="col">N°</th><th scope="col">Forage</th><th scope="col">Problème</th><th scope="col">Gravité</th><th scope="col">État</th><th scope="col">Ouverte le</th>${
          view.canChange ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : ''
        }</tr></thead>
        <tbody>${rows}</tbody>
      </table>`}
    ${pages > 1
      ? html`<nav class="pager" aria-label="Pages">${view.page > 1 ? pageLink(view.page - 1, '‹ Précédentes') : ''}<span>page ${view.page} sur ${pages}</span>${
          view.page < pages ? pageLink(view.page + 1, 'Suivantes ›') : ''
        }</nav>`
      : ''}`;
}
