/**
 * `/work-orders`: the board of a district water officer. Every open work order the token may
 * see, the overdue ones first (a response or a repair target passed), then by the response
 * target, soonest first: what needs a phone call comes at the top. Filters by state, region and
 * technician are a plain GET form, so a filtered board is a link one can send.
 */
import type { Borehole } from '../../config/registry.js';
import { INCIDENT_STATES, type Incident, type IncidentState } from '../../incidents/incident.js';
import { severityBadge } from './alerts-page.js';
import { ago, INCIDENT_STATE_LABELS, plural, ruleTitle, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';

/** The states a work order is open in: the board's state filter. */
export const OPEN_WORK_ORDER_STATES = INCIDENT_STATES.filter((state) => state !== 'verified');

/** Nobody acknowledged nor arrived, and the response target has passed. */
export function respondOverdue(incident: Incident, nowMs: number): boolean {
  return (
    incident.workOrder &&
    incident.state !== 'verified' &&
    incident.respondByMs !== null &&
    incident.acknowledgedAtMs === null &&
    incident.onSiteAtMs === null &&
    nowMs > incident.respondByMs
  );
}

/**
 * Not repaired (or repaired and reopened) and the repair target has passed. A claimed repair is
 * the technician's part done: waiting for the data is not the technician being late.
 */
export function repairOverdue(incident: Incident, nowMs: number): boolean {
  return incident.workOrder && incident.repairByMs !== null && incident.state !== 'verified' && incident.state !== 'repair_claimed' && nowMs > incident.repairByMs;
}

export const isOverdue = (incident: Incident, nowMs: number): boolean => respondOverdue(incident, nowMs) || repairOverdue(incident, nowMs);

/** Overdue first, then by response target (soonest first, none last), then the oldest first. */
export function boardOrder(nowMs: number) {
  return (a: Incident, b: Incident): number => {
    const late = Number(isOverdue(b, nowMs)) - Number(isOverdue(a, nowMs));
    if (late !== 0) return late;
    const respond = (a.respondByMs ?? Number.POSITIVE_INFINITY) - (b.respondByMs ?? Number.POSITIVE_INFINITY);
    if (respond !== 0 && Number.isFinite(respond)) return respond;
    if (a.respondByMs === null && b.respondByMs !== null) return 1;
    if (b.respondByMs === null && a.respondByMs !== null) return -1;
    return a.openedAtMs - b.openedAtMs || a.code - b.code;
  };
}

export interface BoardFilters {
  state: IncidentState | undefined;
  region: string | undefined;
  technician: string | undefined;
}

/** The filters a query string asks for; an unknown value is no filter. */
export function boardFiltersOf(query: Record<string, string | undefined>): BoardFilters {
  const state = (OPEN_WORK_ORDER_STATES as readonly string[]).includes(query.state ?? '') ? (query.state as IncidentState) : undefined;
  const text = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim().slice(0, 200));
  return { state, region: text(query.region), technician: text(query.technician) };
}

export function applyBoardFilters(incidents: readonly Incident[], filters: BoardFilters, boreholeOf: (id: string) => Borehole | undefined): Incident[] {
  return incidents.filter(
    (incident) =>
      (filters.state === undefined || incident.state === filters.state) &&
      (filters.region === undefined || boreholeOf(incident.boreholeId)?.region === filters.region) &&
      (filters.technician === undefined || incident.assignee?.name === filters.technician),
  );
}

export const incidentStateBadge = (state: IncidentState): SafeHtml => html`<span class="state incident-state incident-${state}">${INCIDENT_STATE_LABELS[state]}</span>`;

export const overdueBadge = (): SafeHtml => html`<span class="sev sev-critical overdue">En retard</span>`;

/** A target, in red when it has passed with the work not done. */
export function targetCell(targetMs: number | null, overdue: boolean, done: { label: string; atMs: number } | null, format: Formatter): SafeHtml {
  if (targetMs === null) return html`<span class="muted">—</span>`;
  return html`<span class="nowrap">${format.dateTimeOf(targetMs)}</span>${overdue ? html` ${overdueBadge()}` : ''}${
    done ? html`<br><span class="muted">${done.label} le <span class="nowrap">${format.dateTimeOf(done.atMs)}</span></span>` : ''
  }`;
}

export interface WorkOrdersView {
  /** Filtered and in board order. */
  incidents: readonly Incident[];
  filters: BoardFilters;
  /** The regions and technicians to choose from. */
  regions: readonly string[];
  technicians: readonly string[];
  boreholeOf: (id: string) => Borehole | undefined;
  format: Formatter;
  nowMs: number;
  /** More open work orders than the board reads at once. */
  truncated: boolean;
}

export function workOrdersPage(view: WorkOrdersView): SafeHtml {
  const { format, nowMs, filters } = view;
  const overdueCount = view.incidents.filter((incident) => isOverdue(incident, nowMs)).length;
  const option = (value: string, label: string, selected: boolean) => html`<option value="${value}" ${selected ? html`selected` : ''}>${label}</option>`;
  const form = html`<form class="filters actions" method="get" action="/work-orders" aria-label="Filtrer les interventions">
      <label for="f-state">État</label>
      <select id="f-state" name="state">${option('', 'Tous les états en cours', filters.state === undefined)}${OPEN_WORK_ORDER_STATES.map((state) =>
        option(state, INCIDENT_STATE_LABELS[state], filters.state === state),
      )}</select>
      <label for="f-region">Région</label>
      <select id="f-region" name="region">${option('', 'Toutes les régions', filters.region === undefined)}${view.regions.map((region) => option(region, region, filters.region === region))}</select>
      <label for="f-technician">Technicien</label>
      <select id="f-technician" name="technician">${option('', 'Tous les techniciens', filters.technician === undefined)}${view.technicians.map((name) =>
        option(name, name, filters.technician === name),
      )}</select>
      <button type="submit" class="btn">Filtrer</button>
      ${filters.state || filters.region || filters.technician ? html`<a href="/work-orders">Tout afficher</a>` : ''}
    </form>`;

  const rows = view.incidents.map((incident) => {
    const borehole = view.boreholeOf(incident.boreholeId);
    const lateRespond = respondOverdue(incident, nowMs);
    const lateRepair = repairOverdue(incident, nowMs);
    const answered = incident.acknowledgedAtMs ?? incident.onSiteAtMs;
    return html`<tr class="work-order-row ${lateRespond || lateRepair ? 'row-alert overdue-row' : ''}" data-code="${incident.code}" data-state="${incident.state}">
      <td data-label="N°"><a class="strong" href="/incidents/${incident.id}">n° ${incident.code}</a></td>
      <td data-label="Forage">${borehole ? html`<a href="/boreholes/${borehole.id}">${borehole.name}</a><br><span class="muted">${borehole.region}</span>` : incident.boreholeId}</td>
      <td data-label="Panne"><strong>${ruleTitle(incident.cause)}</strong> ${severityBadge(incident)}${incident.manual ? html`<br><span class="muted">« ${incident.manual.text} »</span>` : ''}${
        incident.failedRepairs > 0 ? html`<br><span class="muted">${plural(incident.failedRepairs, 'réparation échouée', 'réparations échouées')}</span>` : ''
      }</td>
      <td data-label="État">${incidentStateBadge(incident.state)}</td>
      <td data-label="Technicien">${incident.assignee?.name ?? html`<span class="muted">personne</span>`}</td>
      <td data-label="Réponse avant">${targetCell(incident.respondByMs, lateRespond, answered === null ? null : { label: 'pris en compte', atMs: answered }, format)}</td>
      <td data-label="Réparation avant">${targetCell(incident.repairByMs, lateRepair, incident.state === 'repair_claimed' && incident.repairClaimedAtMs !== null ? { label: 'réparée', atMs: incident.repairClaimedAtMs } : null, format)}</td>
      <td data-label="Ouverte"><span class="nowrap">${format.dateTimeOf(incident.openedAtMs)}</span><br><span class="muted">${ago(incident.openedAtMs, nowMs)}</span></td>
    </tr>`;
  });

  return html`<div class="page-head">
      <h1>Interventions en cours</h1>
      <p class="meta">${plural(view.incidents.length, 'ordre de travail', 'ordres de travail')}${
        overdueCount > 0 ? html` · <strong class="overdue-count">${plural(overdueCount, 'en retard', 'en retard')}</strong>` : ''
      } · état au ${format.dateTimeOf(nowMs)}</p>
    </div>
    ${form}
    ${view.truncated ? html`<p class="note">Seuls les ordres de travail les plus récents sont lus : filtrez par région pour voir les autres.</p>` : ''}
    ${view.incidents.length === 0
      ? html`<p class="empty">Aucun ordre de travail en cours${filters.state || filters.region || filters.technician ? ' avec ces filtres' : ''}.</p>`
      : html`<table class="list work-orders">
          <thead><tr><th scope="col">N°</th><th scope="col">Forage</th><th scope="col">Panne</th><th scope="col">État</th><th scope="col">Technicien</th><th scope="col">Réponse avant</th><th scope="col">Réparation avant</th><th scope="col">Ouverte</th></tr></thead>
          <tbody>${rows}</tbody>
        </table>`}
    <p class="muted">En retard : personne n'a pris l'intervention en compte avant le délai de réponse, ou la réparation n'est pas annoncée avant le délai de réparation.</p>`;
}
