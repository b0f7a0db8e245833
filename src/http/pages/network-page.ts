/**
 * `/`: the network at a glance: counts per status and per region, a search, a map of the
 * registry's coordinates (clustered for a country), and the boreholes: all of them by region for
 * a district, a page of 100 by id for a country (issue 19).
 */
import { STATUS_URGENCY, STATUSES_BY_URGENCY, type BoreholeStatus } from '../../domain/borehole-status.js';
import type { BoreholeSummary } from '../network.js';
import { ago, plural, ruleTitle, SEVERITY_LABELS, STATUS_HINTS, STATUS_LABELS, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';
import { formatCount, networkMap, type Cluster } from './network-map.js';
import { networkHref, type NetworkView as NetworkData, type RegionCount } from './network-query.js';

export { networkMap } from './network-map.js';

export interface NetworkView extends NetworkData {
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

/** What is filtered on, in words, with a way back to the whole network. */
function filterNote(view: NetworkView): SafeHtml {
  const { query } = view;
  const parts: SafeHtml[] = [];
  if (query.region !== undefined) parts.push(html`de la région ${query.region}`);
  if (query.q !== undefined) parts.push(html`dont le nom, le village ou l'identifiant contient « ${query.q} »`);
  if (query.bbox !== undefined) parts.push(html`de la zone choisie sur la carte`);
  if (query.status !== undefined) parts.push(html`dans l'état « ${STATUS_LABELS[query.status]} »`);
  // A link with a box that cannot be read shows the whole network, and says why.
  const bad = query.badBbox ? html`<p class="filter-note">La zone de carte demandée n'est pas lisible : elle est ignorée.</p>` : '';
  if (parts.length === 0) return bad === '' ? html`` : bad;
  const widen = query.bbox !== undefined ? html` · <a href="${networkHref({ ...query, bbox: undefined, after: undefined })}">Élargir la carte</a>` : '';
  return html`${bad}<p class="filter-note">Seuls les forages ${parts.map((part, index) => html`${index > 0 ? ', ' : ''}${part}`)} sont montrés. <a href="/">Voir tous les forages</a>${widen}</p>`;
}

function searchForm(view: NetworkView): SafeHtml {
  const { query } = view;
  return html`<form class="network-search" method="get" action="/" role="search">
      <label for="network-q">Chercher un forage</label>
      <div class="fields">
        <input id="network-q" type="search" name="q" value="${query.q ?? ''}" placeholder="nom, village ou identifiant" maxlength="100" autocomplete="off">
        ${
          view.visibleRegions.length > 1
            ? html`<select name="region" aria-label="Région"><option value="">Toutes les régions</option>${view.visibleRegions.map(
                (region) => html`<option value="${region}"${region === query.region ? html` selected` : ''}>${region}</option>`,
              )}</select>`
            : ''
        }
        <button class="btn" type="submit">Rechercher</button>
      </div>
    </form>`;
}

/** Boreholes and their statuses per region, each region a link to its own view. */
function regionTable(view: NetworkView): SafeHtml {
  if (view.regions.length === 0) return html``;
  const { query } = view;
  const columns = STATUSES_BY_URGENCY;
  const sum = (pick: (row: RegionCount) => number) => view.regions.reduce((total, row) => total + pick(row), 0);
  const cells = (row: Pick<RegionCount, 'total' | 'counts'>) =>
    html`<td class="num">${formatCount(row.total)}</td>${columns.map(
      (status) => html`<td class="num${row.counts[status] > 0 ? ` status-${status}` : ''}">${formatCount(row.counts[status])}</td>`,
    )}`;
  return html`<section class="region-counts">
    <h2>Par région</h2>
    <div class="table-scroll">
    <table class="counts">
      <thead><tr><th scope="col">Région</th><th scope="col" class="num">Forages</th>${columns.map((status) => html`<th scope="col" class="num">${STATUS_LABELS[status]}</th>`)}</tr></thead>
      <tbody>
      ${view.regions.map(
        (row) => html`<tr${row.region === query.region ? html` class="selected"` : ''}>
          <th scope="row"><a href="${networkHref({ region: row.region, q: query.q, status: query.status })}">${row.region}</a></th>
          ${cells(row)}
        </tr>`,
      )}
      </tbody>
      ${
        view.regions.length > 1
          ? html`<tfoot><tr><th scope="row">Total</th>${cells({
              total: sum((row) => row.total),
              counts: Object.fromEntries(columns.map((status) => [status, sum((row) => row.counts[status])])) as Record<BoreholeStatus, number>,
            })}</tr></tfoot>`
          : ''
      }
    </table>
    </div>
  </section>`;
}

/** A country's list: a page of 100 by id, the filters kept in the links. */
function listPage(view: NetworkView, list: Extract<NetworkView['list'], { kind: 'page' }>): SafeHtml {
  const { query } = view;
  const last = list.first + list.summaries.length;
  return html`<section class="list-page">
    <h2>Forages ${formatCount(list.first + 1)} à ${formatCount(last)} sur ${formatCount(view.shown.length)} <small>par identifiant</small></h2>
    <p class="muted">Trop de forages pour les lister tous ici : cherchez un nom, choisissez une région ou touchez un groupe de la carte.</p>
    <table class="list">
      <thead><tr><th scope="col">État</th><th scope="col">Forage</th><th scope="col">Région</th><th scope="col">Commune</th><th scope="col">Dernier message</th><th scope="col">Alertes en cours</th></tr></thead>
      <tbody>
      ${list.summaries.map(
        (s) => html`<tr class="row-${s.status}">
          <td data-label="État">${statusBadge(s.status)}</td>
          <td data-label="Forage"><a class="strong" href="/boreholes/${s.borehole.id}">${s.borehole.name}</a><br><span class="muted">${s.borehole.village} · ${s.borehole.id}</span></td>
          <td data-label="Région">${s.borehole.region}</td>
          <td data-label="Commune">${s.borehole.commune}</td>
          <td data-label="Dernier message">${lastSeen(s.lastSeenAtMs, view.format, view.nowMs)}</td>
          <td data-label="Alertes">${alertsCell(s)}</td>
        </tr>`,
      )}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages">${list.first > 0 ? html`<a href="${networkHref({ ...query, after: undefined })}">‹ Premiers</a>` : ''}<span>${formatCount(list.first + 1)}–${formatCount(last)} sur ${formatCount(view.shown.length)}</span>${
      list.after !== null ? html`<a href="${networkHref({ ...query, after: list.after })}" rel="next">Suivants ›</a>` : ''
    }</nav>
  </section>`;
}

function emptyNote(view: NetworkView): SafeHtml {
  if (view.query.q !== undefined) return html`<p class="empty">Aucun forage ne correspond à « ${view.query.q} ».</p>`;
  if (view.query.status !== undefined) return html`<p class="empty">Aucun forage dans cet état.</p>`;
  return html`<p class="empty">Aucun forage ici.</p>`;
}

export function networkPage(view: NetworkView): SafeHtml {
  const { query } = view;
  // A cluster within one region opens that region; else (or already there) the box it covers.
  const zoomHref = (cluster: Cluster): string =>
    cluster.region !== null && cluster.region !== query.region
      ? networkHref({ region: cluster.region, q: query.q, status: query.status })
      : networkHref({ region: query.region, q: query.q, status: query.status, bbox: cluster.bounds });
  const tiles = STATUSES_BY_URGENCY.map(
    (status) => html`<a class="tile status-${status}${query.status === status ? ' selected' : ''}" href="${networkHref({ ...query, status, after: undefined })}">
      <span class="n">${formatCount(view.counts[status])}</span><span class="label">${STATUS_LABELS[status]}</span></a>`,
  );
  let list: SafeHtml;
  if (view.shown.length === 0) list = emptyNote(view);
  else if (view.list.kind === 'page') list = listPage(view, view.list);
  else {
    const regions = new Map<string, BoreholeSummary[]>();
    for (const summary of view.list.summaries) {
      const found = regions.get(summary.borehole.region);
      if (found) found.push(summary);
      else regions.set(summary.borehole.region, [summary]);
    }
    list = html`${[...regions.entries()].sort(([a], [b]) => a.localeCompare(b, 'fr')).map(([region, summaries]) => regionSection(region, summaries, view))}`;
  }
  return html`<div class="page-head">
      <h1>Réseau de forages</h1>
      <p class="meta">${view.total > 1 ? `${formatCount(view.total)} forages` : plural(view.total, 'forage', 'forages')} · état au ${view.format.dateTimeOf(view.nowMs)}</p>
    </div>
    ${searchForm(view)}
    <div class="overview">
      <nav class="tiles" aria-label="Filtrer par état">${tiles}${
        query.status ? html`<a class="tile all" href="${networkHref({ ...query, status: undefined, after: undefined })}"><span class="n">${formatCount(view.total)}</span><span class="label">Tous</span></a>` : ''
      }</nav>
      ${networkMap(view.shown, zoomHref)}
    </div>
    ${filterNote(view)}
    ${regionTable(view)}
    ${list}`;
}
