/**
 * `/boreholes/{id}`: one borehole over the last 7 days (flow, water level against the pump
 * intake, pump running time and current, drawn by uPlot from a JSON data block), its open
 * incident and work order, its alerts, its maintenance visits and who to call.
 */
import type { Alert } from '../../alerts/alert.js';
import type { Contact } from '../../config/registry.js';
import type { Incident } from '../../incidents/incident.js';
import type { MaintenanceRecord } from '../../storage/sqlite-store.js';
import type { SeriesBucket } from '../../storage/telemetry.js';
import { hasRole, type Identity } from '../auth.js';
import type { BoreholeSummary } from '../network.js';
import { maskPhones } from '../schemas.js';
import { alertActions, alertTimes, severityBadge, stateBadge } from './alerts-page.js';
import { LANGUAGE_LABELS, number, plural, ruleTitle, type Formatter } from './format.js';
import { html, jsonData, type SafeHtml } from './html.js';
import { lastSeen, statusBadge } from './network-page.js';
import { incidentStateBadge, isOverdue, overdueBadge } from './work-orders-page.js';

export interface BoreholeView {
  summary: BoreholeSummary;
  /** null: the time-series store did not answer. */
  buckets: readonly SeriesBucket[] | null;
  window: { fromMs: number; toMs: number; everyMs: number };
  recentAlerts: readonly Alert[];
  alertTotal: number;
  maintenance: readonly MaintenanceRecord[];
  /** Its open incidents, newest first; absent when the service keeps no incidents. */
  openIncidents?: readonly Incident[];
  identity: Identity | undefined;
  format: Formatter;
  nowMs: number;
  here: string;
}

/** The series on a regular grid, gaps as nulls, so that a silent day shows as a gap, not a ramp. */
export interface ChartData {
  tz: string;
  intakeDepthM: number;
  ratedFlowLpm: number;
  everyMinutes: number;
  /** Bucket starts, epoch seconds (uPlot's unit). */
  t: number[];
  flow: (number | null)[];
  depthMin: (number | null)[];
  depthMean: (number | null)[];
  depthMax: (number | null)[];
  /** Minutes the pump ran in each bucket. */
  runMinutes: (number | null)[];
  current: (number | null)[];
}

const round = (value: number | null, digits: number): number | null => (value === null ? null : Number(value.toFixed(digits)));

export function chartData(view: Pick<BoreholeView, 'buckets' | 'window' | 'summary' | 'format'>): ChartData {
  const { fromMs, toMs, everyMs } = view.window;
  const count = Math.max(0, Math.ceil((toMs - fromMs) / everyMs));
  const byIndex = new Map<number, SeriesBucket>();
  for (const bucket of view.buckets ?? []) byIndex.set(Math.round((bucket.timeMs - fromMs) / everyMs), bucket);
  const data: ChartData = {
    tz: view.format.timeZone,
    intakeDepthM: view.summary.borehole.pump.intake_depth_m,
    ratedFlowLpm: view.summary.borehole.pump.rated_flow_lpm,
    everyMinutes: everyMs / 60_000,
    t: [],
    flow: [],
    depthMin: [],
    depthMean: [],
    depthMax: [],
    runMinutes: [],
    current: [],
  };
  for (let index = 0; index < count; index += 1) {
    const bucket = byIndex.get(index);
    data.t.push((fromMs + index * everyMs) / 1000);
    data.flow.push(round(bucket?.flowLpmMean ?? null, 2));
    data.depthMin.push(round(bucket?.depthMMin ?? null, 2));
    data.depthMean.push(round(bucket?.depthMMean ?? null, 2));
    data.depthMax.push(round(bucket?.depthMMax ?? null, 2));
    data.runMinutes.push(bucket?.runningFraction == null ? null : round(bucket.runningFraction * (everyMs / 60_000), 1));
    data.current.push(round(bucket?.currentAMean ?? null, 2));
  }
  return data;
}

export interface DayRow {
  dayMs: number;
  volumeM3: number | null;
  pumpingHours: number | null;
  deepestM: number | null;
  meanFlowLpm: number | null;
}

/** One line a day, newest first: what a committee's register would hold. */
export function dailyRows(buckets: readonly SeriesBucket[], everyMs: number, format: Formatter): DayRow[] {
  const days = new Map<string, DayRow & { flowSum: number; flowCount: number }>();
  for (const bucket of buckets) {
    const key = format.dayKeyOf(bucket.timeMs);
    let day = days.get(key);
    if (!day) {
      day = { dayMs: bucket.timeMs, volumeM3: null, pumpingHours: null, deepestM: null, meanFlowLpm: null, flowSum: 0, flowCount: 0 };
      days.set(key, day);
    }
    if (bucket.volumeM3 !== null) day.volumeM3 = (day.volumeM3 ?? 0) + bucket.volumeM3;
    if (bucket.runningFraction !== null) day.pumpingHours = (day.pumpingHours ?? 0) + (bucket.runningFraction * everyMs) / 3_600_000;
    if (bucket.depthMMax !== null) day.deepestM = Math.max(day.deepestM ?? 0, bucket.depthMMax);
    // Mean flow while pumping: the buckets in which the pump ran.
    if (bucket.flowLpmMean !== null && (bucket.runningFraction ?? 0) > 0) {
      day.flowSum += bucket.flowLpmMean / (bucket.runningFraction ?? 1);
      day.flowCount += 1;
    }
  }
  return [...days.values()]
    .map(({ flowSum, flowCount, ...day }) => ({ ...day, meanFlowLpm: flowCount > 0 ? flowSum / flowCount : null }))
    .sort((a, b) => b.dayMs - a.dayMs);
}

function contactLine(contact: Contact, identity: Identity | undefined): SafeHtml {
  const phone = hasRole(identity, 'operator')
    ? html`<a class="tel" href="tel:${contact.phone}">${contact.phone}</a>`
    : html`<span class="muted">numéro visible par les opérateurs</span>`;
  return html`<li><span class="strong">${contact.name}</span><br>${phone}</li>`;
}

const CHARTS = [
  { id: 'chart-flow', title: 'Débit moyen', unit: 'litres par minute' },
  { id: 'chart-level', title: "Niveau de l'eau", unit: 'mètres sous le sol, crépine de la pompe en rouge' },
  { id: 'chart-run', title: 'Marche de la pompe', unit: 'minutes de marche par heure' },
  { id: 'chart-current', title: 'Courant de la pompe', unit: 'ampères' },
] as const;

export function boreholePage(view: BoreholeView): SafeHtml {
  const { summary, format, identity } = view;
  const { borehole } = summary;
  const operator = hasRole(identity, 'operator');
  const data = chartData(view);
  const haveData = (view.buckets?.length ?? 0) > 0;
  const days = view.buckets ? dailyRows(view.buckets, view.window.everyMs, format) : [];
  const openAlerts = summary.openAlerts;

  const charts =
    view.buckets === null
      ? html`<p class="empty">Les mesures ne sont pas disponibles pour le moment (la base de mesures ne répond pas). Réessayez dans quelques minutes.</p>`
      : !haveData
        ? html`<p class="empty">Aucune mesure reçue de ce forage pendant ces 7 jours.</p>`
        : html`<div class="charts">
            ${CHARTS.map(
              (chart) => html`<figure class="chart-box"><figcaption><strong>${chart.title}</strong> <span class="muted">${chart.unit}</span></figcaption><div class="chart" id="${chart.id}"></div></figure>`,
            )}
          </div>
          <script type="application/json" id="series-data">${jsonData(data)}</script>
          <noscript><p class="note">Les graphiques demandent JavaScript ; le tableau ci-dessous donne l'essentiel jour par jour.</p></noscript>`;

  const dayTable =
    days.length === 0
      ? ''
      : html`<table class="list days">
          <thead><tr><th scope="col">Jour</th><th scope="col">Eau pompée</th><th scope="col">Heures de pompage</th><th scope="col">Débit en marche</th><th scope="col">Niveau le plus bas</th></tr></thead>
          <tbody>${days.map(
            (day) => html`<tr>
              <td data-label="Jour">${format.shortDayOf(day.dayMs)}</td>
              <td data-label="Eau pompée">${number(day.volumeM3, 'm³')}</td>
              <td data-label="Heures de pompage">${number(day.pumpingHours, 'h')}</td>
              <td data-label="Débit en marche">${number(day.meanFlowLpm, 'l/min')}</td>
              <td data-label="Niveau le plus bas">${number(day.deepestM, 'm')}${
                day.deepestM !== null && day.deepestM >= borehole.pump.intake_depth_m - borehole.rules.low_water_margin_m
                  ? html` <span class="sev sev-warning">près de la crépine</span>`
                  : ''
              }</td>
            </tr>`,
          )}</tbody>
        </table>`;

  const alertRows = view.recentAlerts.map(
    (alert) => html`<tr class="state-row-${alert.state}">
      <td data-label="N°"><strong>${alert.code}</strong></td>
      <td data-label="Problème">${alert.message}</td>
      <td data-label="Gravité">${severityBadge(alert)}</td>
      <td data-label="État">${stateBadge(alert.state)}</td>
      <td data-label="Dates">${alertTimes(alert, format, view.nowMs)}</td>
    </tr>`,
  );

  const maintenanceRows = view.maintenance.map(
    (record) => html`<tr>
      <td data-label="Date">${format.dateTimeOf(record.atMs)}</td>
      <td data-label="Par">${operator ? record.by : maskPhones(record.by)}</td>
      <td data-label="Note">${record.note || html`<span class="muted">—</span>`}</td>
    </tr>`,
  );

  return html`<p class="crumbs"><a href="/">Réseau</a> › Région de ${borehole.region}</p>
    <div class="page-head">
      <h1>${borehole.name} ${statusBadge(summary.status)}</h1>
      <p class="meta">Village de ${borehole.village} · commune de ${borehole.commune} · région de ${borehole.region} · dernier message ${lastSeen(summary.lastSeenAtMs, format, view.nowMs)}${
        summary.lastSeenAtMs !== null ? html` <span class="muted">(${format.dateTimeOf(summary.lastSeenAtMs)})</span>` : ''
      }</p>
    </div>

    ${(view.openIncidents ?? []).length > 0
      ? html`<section class="card open-incidents" aria-labelledby="incident-title">
          <h2 id="incident-title">${plural((view.openIncidents ?? []).length, 'intervention en cours', 'interventions en cours')}</h2>
          <ul class="plain">${(view.openIncidents ?? []).map(
            (incident) => html`<li class="open-incident" data-code="${incident.code}">
              <a class="strong" href="/incidents/${incident.id}">Intervention n° ${incident.code}</a> · ${ruleTitle(incident.cause)} ${incidentStateBadge(incident.state)}${
                isOverdue(incident, view.nowMs) ? html` ${overdueBadge()}` : ''
              }<br><span class="muted">${incident.workOrder ? `ordre de travail${incident.assignee ? ` confié à ${incident.assignee.name}` : ''}` : "sans ordre de travail"} · depuis le ${format.dateTimeOf(incident.openedAtMs)}</span>
            </li>`,
          )}</ul>
        </section>`
      : ''}

    ${openAlerts.length > 0
      ? html`<section class="callout" aria-labelledby="open-title">
          <h2 id="open-title">${plural(openAlerts.length, 'alerte en cours', 'alertes en cours')}</h2>
          <ul class="open-alerts">${openAlerts.map(
            (alert) => html`<li>
              <div><strong>N° ${alert.code}</strong> · ${severityBadge(alert)} ${stateBadge(alert.state)}<br>${alert.message}<br><span class="muted">depuis le ${format.dateTimeOf(alert.openedAtMs)}</span></div>
              ${operator ? alertActions(alert, view.here) : ''}
            </li>`,
          )}</ul>
        </section>`
      : ''}

    <div class="columns">
      <div class="main-col">
        <section>
          <h2>Les 7 derniers jours</h2>
          <p class="meta">du ${format.dateOf(view.window.fromMs)} à aujourd'hui, moyennes par heure</p>
          ${charts}
          ${dayTable}
        </section>

        <section>
          <h2>Alertes</h2>
          ${view.recentAlerts.length === 0
            ? html`<p class="empty">Aucune alerte pour ce forage.</p>`
            : html`<table class="list"><thead><tr><th scope="col">N°</th><th scope="col">Problème</th><th scope="col">Gravité</th><th scope="col">État</th><th scope="col">Dates</th></tr></thead><tbody>${alertRows}</tbody></table>
              ${view.alertTotal > view.recentAlerts.length ? html`<p><a href="/alerts?state=all&amp;borehole=${borehole.id}">Les ${view.alertTotal} alertes de ce forage</a></p>` : ''}`}
        </section>

        <section>
          <h2>Entretien</h2>
          ${view.maintenance.length === 0
            ? html`<p class="empty">Aucune visite d'entretien enregistrée.</p>`
            : html`<table class="list"><thead><tr><th scope="col">Date</th><th scope="col">Par</th><th scope="col">Note</th></tr></thead><tbody>${maintenanceRows}</tbody></table>`}
        </section>
      </div>

      <aside class="side-col">
        <section class="card">
          <h2>Comité de gestion</h2>
          <p class="muted">SMS en ${LANGUAGE_LABELS[borehole.committee.language] ?? borehole.committee.language}</p>
          <ul class="contacts">${borehole.committee.contacts.map((contact) => contactLine(contact, identity))}</ul>
          <h2>Technicien</h2>
          <ul class="contacts">${contactLine(borehole.technician, identity)}</ul>
        </section>
        <section class="card">
          <h2>Pompe</h2>
          <dl class="facts">
            <dt>Débit nominal</dt><dd>${number(borehole.pump.rated_flow_lpm, 'l/min')}</dd>
            <dt>Crépine à</dt><dd>${number(borehole.pump.intake_depth_m, 'm')}</dd>
            <dt>Alerte « muet » après</dt><dd>${number(borehole.rules.offline_minutes, 'min')}</dd>
            <dt>Coordonnées</dt><dd>${borehole.location.lat.toFixed(4)}, ${borehole.location.lon.toFixed(4)}</dd>
          </dl>
        </section>
      </aside>
    </div>`;
}
