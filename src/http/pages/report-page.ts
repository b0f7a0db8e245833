/**
 * `/reports`: the uptime report as the ministry reads it and prints it: the network's figures, a
 * chart of uptime per borehole, then a table per region (CONTRACT.md section 7); and the reports
 * the schedule archived, to download as they were generated.
 */
import { summarizeRows, type UptimeReport, type UptimeRow } from '../../reports/report.js';
import { quarterContaining } from '../../reports/results-report.js';
import type { UptimeFigures } from '../../reports/uptime.js';
import { number, plural, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';

/** A report the schedule archived (routes/reports.ts `ARCHIVE_KINDS`), as the page lists it. */
export interface ArchiveEntry {
  kind: string;
  fromMs: number;
  tz: string;
  /** The page's download of it, without `sep`. */
  href: string;
}

export interface ReportView {
  report: UptimeReport;
  /** The period as the form shows it: local dates, `to` excluded. */
  fromDate: string;
  toDate: string;
  /** The last day of the period, for people (`to` is excluded). */
  lastDate: string;
  /** Quick choices: label and query. */
  presets: readonly { label: string; query: string }[];
  format: Formatter;
  /** Newest first; absent or empty: no list. */
  archive?: readonly ArchiveEntry[] | undefined;
}

const percent = (value: number | null): string => (value === null ? '—' : `${number(value)} %`);

/** Below 95 % a borehole was without water more than a day and a half a month: that is what the ministry looks for. */
function uptimeClass(value: number | null): string {
  if (value === null) return 'up-none';
  if (value < 90) return 'up-bad';
  if (value < 98) return 'up-fair';
  return 'up-good';
}

const BAR_HEIGHT = 26;
const LABEL_WIDTH = 260;
const CHART_WIDTH = 1000;

/** Horizontal bars, worst first: an SVG drawn here, readable on paper and without scripts. */
export function uptimeChart(rows: readonly UptimeRow[]): SafeHtml {
  if (rows.length === 0) return html``;
  const sorted = [...rows].sort((a, b) => (a.uptime_pct ?? -1) - (b.uptime_pct ?? -1) || a.name.localeCompare(b.name, 'fr'));
  const barSpace = CHART_WIDTH - LABEL_WIDTH - 90;
  const height = sorted.length * BAR_HEIGHT + 30;
  const ticks = [0, 25, 50, 75, 100];
  return html`<figure class="uptime-chart">
  <svg viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" aria-label="Disponibilité par forage">
    ${ticks.map(
      (tick) => html`<g class="tick"><line x1="${LABEL_WIDTH + (barSpace * tick) / 100}" x2="${LABEL_WIDTH + (barSpace * tick) / 100}" y1="0" y2="${height - 22}"/>
      <text x="${LABEL_WIDTH + (barSpace * tick) / 100}" y="${height - 6}">${tick} %</text></g>`,
    )}
    ${sorted.map((row, index) => {
      const y = index * BAR_HEIGHT;
      const width = row.uptime_pct === null ? 0 : (barSpace * row.uptime_pct) / 100;
      return html`<g class="bar ${uptimeClass(row.uptime_pct)}">
      <text class="name" x="${LABEL_WIDTH - 8}" y="${y + 17}">${row.name}</text>
      <rect x="${LABEL_WIDTH}" y="${y + 4}" width="${width.toFixed(1)}" height="${BAR_HEIGHT - 8}"/>
      <text class="value" x="${LABEL_WIDTH + width + 6}" y="${y + 17}">${row.uptime_pct === null ? 'sans données' : percent(row.uptime_pct)}</text>
    </g>`;
    })}
  </svg>
  <figcaption>Disponibilité de chaque forage sur la période, les moins disponibles en haut. Les heures sans données ne comptent ni pour ni contre.</figcaption>
</figure>`;
}

const figuresCells = (figures: UptimeFigures): SafeHtml => html`
  <td data-label="Disponibilité" class="num ${uptimeClass(figures.uptime_pct)}"><strong>${percent(figures.uptime_pct)}</strong></td>
  <td data-label="Heures en panne" class="num">${number(figures.hours_down)}</td>
  <td data-label="Pannes" class="num">${figures.failures}</td>
  <td data-label="Réparation (moy.)" class="num">${figures.mttr_hours === null ? '—' : `${number(figures.mttr_hours)} h`}</td>
  <td data-label="Volume pompé" class="num">${number(figures.volume_m3, 'm³')}</td>
  <td data-label="Couverture" class="num">${percent(figures.coverage_pct)}</td>`;

function regionTable(region: string, rows: readonly UptimeRow[]): SafeHtml {
  const total = summarizeRows(rows);
  return html`<section class="region report-region">
  <h2>Région de ${region} <small>${plural(rows.length, 'forage', 'forages')}</small></h2>
  <table class="list report">
    <thead><tr><th>Forage</th><th>Village</th><th class="num">Disponibilité</th><th class="num">Heures en panne</th><th class="num">Pannes</th><th class="num">Réparation (moy.)</th><th class="num">Volume pompé</th><th class="num">Couverture</th></tr></thead>
    <tbody>
    ${[...rows]
      .sort((a, b) => a.name.localeCompare(b.name, 'fr'))
      .map((row) => html`<tr><td data-label="Forage"><a href="/boreholes/${row.borehole}">${row.name}</a></td><td data-label="Village">${row.village}</td>${figuresCells(row)}</tr>`)}
    </tbody>
    <tfoot><tr class="total"><td data-label="Forage" colspan="2">Total de la région</td>${figuresCells(total)}</tr></tfoot>
  </table>
</section>`;
}

/**
 * The downloads, French spreadsheets first: Excel in French splits a CSV on `;` and reads 98,5 as
 * a number, and so does LibreOffice in French; the comma files are for other languages and for
 * programs (the WPdx upload). docs/reports.md, "Opening the CSV files".
 */
function downloads(query: string, quarter: string): SafeHtml {
  return html`<p class="small downloads">Télécharger le tableau : <a href="/reports/uptime.csv?${query}&sep=semicolon">pour Excel ou LibreOffice en français (CSV « ; »)</a>
    · <a href="/reports/uptime.csv?${query}">CSV séparé par des virgules (autres langues, logiciels)</a><br>
    État actuel au format WPdx : <a href="/reports/wpdx.csv?sep=semicolon">pour Excel ou LibreOffice en français</a>
    · <a href="/reports/wpdx.csv">CSV séparé par des virgules (envoi au WPdx)</a><br>
    Interventions de la période (délais d'accusé, d'arrivée, de réparation, par forage, technicien, prestataire et région) :
    <a href="/reports/service.csv?${query}&sep=semicolon">pour Excel ou LibreOffice en français</a>
    · <a href="/reports/service.csv?${query}">CSV séparé par des virgules</a><br>
    Résultats du trimestre ${quarter} (jours fonctionnels par forage et prestataire) :
    <a href="/reports/results.csv?quarter=${quarter}&sep=semicolon">pour Excel ou LibreOffice en français</a>
    · <a href="/reports/results.csv?quarter=${quarter}">CSV séparé par des virgules</a></p>`;
}

/** "de novembre", "d'avril": French elides before a vowel, and three months start with one. */
const ofMonth = (month: string): string => (/^[aeiouâéèêîôû]/i.test(month) ? `d'${month}` : `de ${month}`);

/** The French title of an archived report: "Interventions de novembre 2026", "Résultats T4 2026". */
export function archiveLabel(entry: Pick<ArchiveEntry, 'kind' | 'fromMs' | 'tz'>): string {
  const month = new Intl.DateTimeFormat('fr-FR', { timeZone: entry.tz, month: 'long', year: 'numeric' }).format(entry.fromMs);
  switch (entry.kind) {
    case 'week':
      return `Disponibilité, semaine du ${new Intl.DateTimeFormat('fr-FR', { timeZone: entry.tz, day: 'numeric', month: 'long', year: 'numeric' }).format(entry.fromMs)}`;
    case 'month':
      return `Disponibilité ${ofMonth(month)}`;
    case 'service-month':
      return `Interventions ${ofMonth(month)}`;
    case 'results-quarter': {
      const [year, quarter] = quarterContaining(entry.fromMs, entry.tz).label.split('-Q');
      return `Résultats T${quarter ?? ''} ${year ?? ''}`;
    }
    default:
      return `${entry.kind} ${month}`;
  }
}

/** The archived reports, each in both CSV dialects, French spreadsheets first as in `downloads`. */
function archiveList(entries: readonly ArchiveEntry[]): SafeHtml {
  if (entries.length === 0) return html``;
  const withSep = (href: string) => `${href}${href.includes('?') ? '&' : '?'}sep=semicolon`;
  return html`<section class="card archive">
  <h2>Rapports archivés</h2>
  <p class="small">Tels qu'ils ont été établis à la fin de chaque période : les données arrivées plus tard ne les changent pas.</p>
  <ul class="archive-list">
    ${entries.map((entry) => html`<li>${archiveLabel(entry)} : <a href="${withSep(entry.href)}">CSV pour Excel ou LibreOffice en français</a> · <a href="${entry.href}">CSV séparé par des virgules</a></li>`)}
  </ul>
</section>`;
}

export function reportPage(view: ReportView): SafeHtml {
  const { report, format } = view;
  const regions = new Map<string, UptimeRow[]>();
  for (const row of report.boreholes) {
    const rows = regions.get(row.region);
    if (rows) rows.push(row);
    else regions.set(row.region, [row]);
  }
  const network = summarizeRows(report.boreholes);
  const query = `from=${view.fromDate}&to=${view.toDate}`;
  return html`<div class="report-head">
  <h1>Rapport de disponibilité des forages</h1>
  <p class="period">Du <strong>${format.dateOf(Date.parse(report.from))}</strong> au <strong>${view.lastDate}</strong> inclus
    ${report.complete ? '' : html`<span class="note">période en cours : chiffres arrêtés au ${format.dateTimeOf(Date.parse(report.generated_at))}</span>`}</p>
</div>
<form class="card period-form" method="get" action="/reports">
  <div class="actions">
    <label for="from">Du</label><input type="date" id="from" name="from" value="${view.fromDate}" required>
    <label for="to">au (exclu)</label><input type="date" id="to" name="to" value="${view.toDate}" required>
    <button type="submit" class="btn">Afficher</button>
  </div>
  <p class="small">${view.presets.map((preset, index) => html`${index > 0 ? ' · ' : ''}<a href="/reports?${preset.query}">${preset.label}</a>`)}
  </p>
  ${downloads(query, quarterContaining(Date.parse(report.from), report.tz).label)}
</form>
${
  report.boreholes.length === 0
    ? html`<p class="empty">Aucun forage visible avec votre jeton.</p>`
    : html`<section class="card network-figures">
  <h2>Ensemble du réseau</h2>
  <dl class="facts">
    <dt>Disponibilité</dt><dd class="${uptimeClass(network.uptime_pct)}">${percent(network.uptime_pct)}</dd>
    <dt>Heures en panne</dt><dd>${number(network.hours_down)} h sur ${number(network.hours_total)} h</dd>
    <dt>Pannes</dt><dd>${network.failures}${network.repairs > 0 ? html`, dont ${plural(network.repairs, 'réparée', 'réparées')} en ${number(network.mttr_hours)} h en moyenne` : ''}</dd>
    <dt>Volume pompé</dt><dd>${number(network.volume_m3, 'm³')}</dd>
    <dt>Couverture des données</dt><dd>${percent(network.coverage_pct)}</dd>
  </dl>
</section>
${uptimeChart(report.boreholes)}
${[...regions.entries()].sort(([a], [b]) => a.localeCompare(b, 'fr')).map(([region, rows]) => regionTable(region, rows))}`
}
${archiveList(view.archive ?? [])}
<section class="card how">
  <h2>Comment lire ce rapport</h2>
  <ul>
    <li><strong>Heures en panne</strong> : le temps pendant lequel une alerte critique (panne de pompe, pas de débit, niveau d'eau sous la crépine) n'était pas résolue.</li>
    <li><strong>Couverture</strong> : la part du temps où le boîtier a envoyé des mesures. Les silences plus longs que le délai « hors ligne » du forage ne comptent pas dans la disponibilité.</li>
    <li><strong>Disponibilité</strong> = (heures − heures en panne − heures sans données) ÷ (heures − heures sans données).</li>
    <li><strong>Réparation (moy.)</strong> : temps moyen entre l'ouverture et la résolution des pannes réparées.</li>
  </ul>
</section>`;
}
