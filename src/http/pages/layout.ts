/**
 * The frame of every page: a header with the places people go (the network, the alerts, the work
 * orders, the reports), who is signed in, and a footer saying which clock the times are on. Styles
 * and scripts come from /assets only (the CSP allows nothing else).
 */
import type { Identity } from '../auth.js';
import { ROLE_LABELS } from './format.js';
import { html, type SafeHtml } from './html.js';

export interface AssetUrls {
  css: string;
  icon: string;
  uplotCss: string;
  uplotJs: string;
  chartsJs: string;
}

export interface PageFrame {
  title: string;
  section: 'network' | 'alerts' | 'borehole' | 'incidents' | 'reports' | 'sms' | 'login' | 'error';
  /** The service keeps incidents and work orders: the navigation links to their board. */
  incidents?: boolean;
  identity?: Identity | undefined;
  /** Alerts not yet resolved that the identity may see, shown next to the Alerts link. */
  unresolvedCount?: number;
  assets: AssetUrls;
  timeZone: string;
  /** Extra markup for the head (chart styles). */
  head?: SafeHtml;
  /** Scripts loaded at the end of the body. */
  scripts?: readonly string[];
  flash?: { kind: 'ok' | 'error'; text: string } | null;
  body: SafeHtml;
}

const DROP_ICON = html`<svg class="logo" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2.5C9 7 5.5 10.6 5.5 14.6a6.5 6.5 0 0 0 13 0C18.5 10.6 15 7 12 2.5z"/></svg>`;

export function renderPage(frame: PageFrame): SafeHtml {
  const { identity } = frame;
  const nav = identity
    ? html`<nav aria-label="Navigation principale">
        <a href="/" ${frame.section === 'network' || frame.section === 'borehole' ? html`aria-current="page"` : ''}>Réseau</a>
        <a href="/alerts" ${frame.section === 'alerts' ? html`aria-current="page"` : ''}>Alertes${
          frame.unresolvedCount ? html` <span class="pill" title="alertes en cours">${frame.unresolvedCount}</span>` : ''
        }</a>
        ${frame.incidents ? html`<a href="/work-orders" ${frame.section === 'incidents' ? html`aria-current="page"` : ''}>Interventions</a>` : ''}
        <a href="/reports" ${frame.section === 'reports' ? html`aria-current="page"` : ''}>Rapports</a>
        ${identity.regions === null ? html`<a href="/sms" ${frame.section === 'sms' ? html`aria-current="page"` : ''}>SMS</a>` : ''}
      </nav>
      <form class="logout" method="post" action="/logout">
        <span class="who">${ROLE_LABELS[identity.role]}${identity.regions ? html` · ${[...identity.regions].join(', ')}` : ''}</span>
        <button type="submit" class="link">Se déconnecter</button>
      </form>`
    : '';
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${frame.title} · Suivi des forages</title>
<link rel="icon" href="${frame.assets.icon}" type="image/svg+xml">
<link rel="stylesheet" href="${frame.assets.css}">
${frame.head ?? ''}
</head>
<body class="page-${frame.section}">
<header class="top">
  <div class="bar">
    <a class="brand" href="/">${DROP_ICON}<span>Suivi des forages</span></a>
    ${nav}
  </div>
</header>
<main>
${frame.flash ? html`<p class="flash flash-${frame.flash.kind}" role="status">${frame.flash.text}</p>` : ''}
${frame.body}
</main>
<footer>Heures affichées : ${frame.timeZone === 'Africa/Bamako' ? 'heure de Bamako (UTC+0)' : frame.timeZone}</footer>
${(frame.scripts ?? []).map((src) => html`<script src="${src}"></script>`)}
</body>
</html>`;
}
