/** `/`: the network at a glance, a map of the registry's coordinates and a list by region. */
import { BOREHOLE_STATUSES, STATUS_URGENCY, STATUSES_BY_URGENCY, type BoreholeStatus } from '../../domain/borehole-status.js';
import type { BoreholeSummary } from '../network.js';
import { ago, plural, ruleTitle, SEVERITY_LABELS, STATUS_HINTS, STATUS_LABELS, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';

export interface NetworkView {
  summaries: readonly BoreholeSummary[];
  statusFilter: BoreholeStatus | undefined;
  format: Formatter;
  nowMs: number;
}

export const statusBadge = (status: BoreholeStatus): SafeHtml =>
  html`<span class="badge status-${status}" title="${STATUS_HINTS[status]}"><span class="dot" aria-hidden="true"></span>${STATUS_LABELS[status]}</span>`;

export function lastSeen(lastSeenAtMs: number | null, format: Formatter, nowMs: number): SafeHtml {
  if (lastSeenAtMs === null) return html`<span class="muted">jamais</span>`;
  return html`<time datetime="${new Date(lastSeenAtMs).toISOString()}" title="${format.dateTimeOf(lastSeenAtMs)}">${ago(lastSeenAtMs, nowMs)}</time>`;
}

/** Problems first: what an officer should look at comes at the top of each list. */
const byName = (a: BoreholeSummary, b: BoreholeSummary): number =>
  STATUS_URGENCY[a.status] - STATUS_URGENCY[b.status] || a.borehole.name.localeCompare(b.borehole.name, 'fr');

const MAP_WIDTH = 1000;
const MAP_HEIGHT = 400;
/** Labels are 24 units on a wide screen, 28 on a phone (app.css): room is kept for the larger. */
const LABEL_SIZE = 28;

interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

const overlaps = (a: Box, b: Box): boolean => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

/** An SVG of the registry coordinates: no tiles, nothing fetched, readable on paper. */
export function networkMap(summaries: readonly BoreholeSummary[]): SafeHtml {
  if (summaries.length === 0) return html``;
  const lats = summaries.map((s) => s.borehole.location.lat);
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
  // Equirectangular, squeezed by the cosine of the latitude: right enough across a country.
  const squeeze = Math.cos((midLat * Math.PI) / 180);
  const xs = summaries.map((s) => s.borehole.location.lon * squeeze);
  const ys = summaries.map((s) => -s.borehole.location.lat);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const spanX = Math.max(...xs) - minX;
  const spanY = Math.max(...ys) - minY;
  const margin = { x: 150, y: 45 };
  // A lone borehole (or a tight cluster) is drawn at a scale of about 0.05° for the map.
  const scale = Math.min((MAP_WIDTH - 2 * margin.x) / Math.max(spanX, 0.05), (MAP_HEIGHT - 2 * margin.y) / Math.max(spanY, 0.05));
  const offsetX = (MAP_WIDTH - spanX * scale) / 2;
  const offsetY = (MAP_HEIGHT - spanY * scale) / 2;
  const labels = summaries.length <= 40;
  // Problems drawn last, so that they sit on top of their neighbours.
  const ordered = [...summaries].sort((a, b) => STATUS_URGENCY[b.status] - STATUS_URGENCY[a.status]);
  const placed = ordered.map((summary) => ({
    summary,
    x: (summary.borehole.location.lon * squeeze - minX) * scale + offsetX,
    y: (-summary.borehole.location.lat - minY) * scale + offsetY,
  }));
  // Labels placed greedily, problems first: right, left, above, below, then diagonally, whichever is free.
  const taken: Box[] = placed.map(({ x, y }) => ({ x1: x - 15, y1: y - 15, x2: x + 15, y2: y + 15 }));
  const labelOf = new Map<string, { x: number; y: number; anchor: 'start' | 'end' | 'middle' }>();
  if (labels) {
    for (const { summary, x, y } of [...placed].reverse()) {
      const width = summary.borehole.village.length * LABEL_SIZE * 0.7;
      const candidates = [
        { x: x + 19, y: y + 9, anchor: 'start' as const, box: { x1: x + 17, y1: y - 17, x2: x + 21 + width, y2: y + 15 } },
        { x: x - 19, y: y + 9, anchor: 'end' as const, box: { x1: x - 21 - width, y1: y - 17, x2: x - 17, y2: y + 15 } },
        { x, y: y - 22, anchor: 'middle' as const, box: { x1: x - width / 2, y1: y - 50, x2: x + width / 2, y2: y - 18 } },
        { x, y: y + 44, anchor: 'middle' as const, box: { x1: x - width / 2, y1: y + 18, x2: x + width / 2, y2: y + 50 } },
        { x: x + 12, y: y - 18, anchor: 'start' as const, box: { x1: x + 10, y1: y - 46, x2: x + 14 + width, y2: y - 14 } },
        { x: x + 12, y: y + 40, anchor: 'start' as const, box: { x1: x + 10, y1: y + 14, x2: x + 14 + width, y2: y + 46 } },
        { x: x - 12, y: y - 18, anchor: 'end' as const, box: { x1: x - 14 - width, y1: y - 46, x2: x - 10, y2: y - 14 } },
        { x: x - 12, y: y + 40, anchor: 'end' as const, box: { x1: x - 14 - width, y1: y + 14, x2: x - 10, y2: y + 46 } },
      ];
      const inside = (box: Box) => box.x1 >= 0 && box.x2 <= MAP_WIDTH && box.y1 >= 0 && box.y2 <= MAP_HEIGHT;
      // No room: no label (the point keeps its tooltip, and the list below names every borehole).
      const free = candidates.find((c) => inside(c.box) && !taken.some((t) => overlaps(t, c.box)));
      if (free) {
        taken.push(free.box);
        labelOf.set(summary.borehole.id, { x: free.x, y: free.y, anchor: free.anchor });
      }
    }
  }
  const points = placed.map(({ summary, x, y }) => {
    const label = labelOf.get(summary.borehole.id);
    return html`<a href="/boreholes/${summary.borehole.id}" class="pt status-${summary.status}">
      <title>${summary.borehole.name} — ${STATUS_LABELS[summary.status]}</title>
      <circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${summary.status === 'ok' ? 10 : 13}"/>
      ${label ? html`<text x="${label.x.toFixed(1)}" y="${label.y.toFixed(1)}" text-anchor="${label.anchor}">${summary.borehole.village}</text>` : ''}
    </a>`;
  });
  return html`<figure class="map">
    <svg viewBox="0 0 ${MAP_WIDTH} ${MAP_HEIGHT}" role="img" aria-label="Carte des forages">
      <rect class="map-bg" x="0" y="0" width="${MAP_WIDTH}" height="${MAP_HEIGHT}" rx="8"/>
      ${points}
    </svg>
    <figcaption>Position des forages d'après le registre (nord en haut). Touchez un point pour ouvrir le forage.</figcaption>
  </figure>`;
}

function alertsCell(summary: BoreholeSummary): SafeHtml {
  if (summary.openAlerts.length === 0) return html`<span class="muted">aucune</span>`;
  return html`<ul class="plain">${summary.openAlerts.map(
    (alert) => html`<li><span class="sev sev-${alert.severity}" title="${SEVERITY_LABELS[alert.severity]}">${ruleTitle(alert.rule)}</span>${
      alert.state === 'acknowledged' ? html` <span class="muted">(acquittée)</span>` : ''
    }</li>`,
  )}</ul>`;
}

function regionSection(region: string, summaries: readonly BoreholeSummary[], view: NetworkView): SafeHtml {
  const problems = summaries.filter((s) => s.status !== 'ok').length;
  return html`<section class="region">
    <h2>Région de ${region} <small>${plural(summaries.length, 'forage', 'forages')}${problems > 0 ? html` · <strong>${plural(problems, 'à surveiller', 'à surveiller')}</strong>` : ''}</small></h2>
    <table class="list">
      <thead><tr><th scope="col">État</th><th scope="col">Forage</th><th scope="col">Commune</th><th scope="col">Dernier message</th><th scope="col">Alertes en cours</th></tr></thead>
      <tbody>
      ${[...summaries].sort(byName).map(
        (s) => html`<tr class="row-${s.status}">
          <td data-label="État">${statusBadge(s.status)}</td>
          <td data-label="Forage"><a class="strong" href="/boreholes/${s.borehole.id}">${s.borehole.name}</a><br><span class="muted">${s.borehole.village}</span></td>
          <td data-label="Commune">${s.borehole.commune}</td>
          <td data-label="Dernier message">${lastSeen(s.lastSeenAtMs, view.format, view.nowMs)}</td>
          <td data-label="Alertes">${alertsCell(s)}</td>
        </tr>`,
      )}
      </tbody>
    </table>
  </section>`;
}

export function networkPage(view: NetworkView): SafeHtml {
  const counts = Object.fromEntries(BOREHOLE_STATUSES.map((status) => [status, 0])) as Record<BoreholeStatus, number>;
  for (const summary of view.summaries) counts[summary.status] += 1;
  const shown = view.statusFilter ? view.summaries.filter((s) => s.status === view.statusFilter) : view.summaries;
  const regions = new Map<string, BoreholeSummary[]>();
  for (const summary of shown) {
    const list = regions.get(summary.borehole.region);
    if (list) list.push(summary);
    else regions.set(summary.borehole.region, [summary]);
  }
  const tiles = STATUSES_BY_URGENCY.map(
    (status) => html`<a class="tile status-${status}${view.statusFilter === status ? ' selected' : ''}" href="/?status=${status}">
      <span class="n">${counts[status]}</span><span class="label">${STATUS_LABELS[status]}</span></a>`,
  );
  return html`<div class="page-head">
      <h1>Réseau de forages</h1>
      <p class="meta">${plural(view.summaries.length, 'forage', 'forages')} · état au ${view.format.dateTimeOf(view.nowMs)}</p>
    </div>
    <div class="overview">
      <nav class="tiles" aria-label="Filtrer par état">${tiles}${
        view.statusFilter ? html`<a class="tile all" href="/"><span class="n">${view.summaries.length}</span><span class="label">Tous</span></a>` : ''
      }</nav>
      ${networkMap(view.summaries)}
    </div>
    ${view.statusFilter ? html`<p class="filter-note">Seuls les forages « ${STATUS_LABELS[view.statusFilter]} » sont listés. <a href="/">Voir tous les forages</a></p>` : ''}
    ${shown.length === 0 ? html`<p class="empty">Aucun forage dans cet état.</p>` : ''}
    ${[...regions.entries()].sort(([a], [b]) => a.localeCompare(b, 'fr')).map(([region, list]) => regionSection(region, list, view))}`;
}
