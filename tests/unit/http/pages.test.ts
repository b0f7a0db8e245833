import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import { alertOf, bearer, seedNetwork, startHarness, TOKENS, type Harness } from './harness.js';

/** light-my-request's default Host. */
const HOST = 'localhost:80';
const SAME_ORIGIN = `http://${HOST}`;
const FORM = 'application/x-www-form-urlencoded';
const CSP = "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;font-src 'self';connect-src 'self';object-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'none'";

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

function setCookie(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  return (Array.isArray(header) ? header.join('\n') : header) ?? '';
}

describe('pages', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    seedNetwork(h);
  });

  afterEach(async () => {
    await h.close();
  });

  const page = (url: string, token?: string) =>
    h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', ...(token ? { cookie: `${TOKEN_COOKIE}=${token}` } : {}) } });
  const submit = (url: string, token: string | undefined, fields: Record<string, string>, origin: string | null = SAME_ORIGIN) =>
    h.app.inject({
      method: 'POST',
      url,
      payload: form(fields),
      headers: { 'content-type': FORM, ...(origin ? { origin } : {}), ...(token ? { cookie: `${TOKEN_COOKIE}=${token}` } : {}) },
    });

  describe('login', () => {
    it('shows a French form that posts to /login', async () => {
      const response = await page('/login?next=/alerts');
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.body).toContain('<html lang="fr">');
      expect(response.body).toContain('<form method="post" action="/login">');
      expect(response.body).toContain('<input type="hidden" name="next" value="/alerts">');
      expect(response.body).toContain("Jeton d'accès");
    });

    it('stores a right token in an HttpOnly SameSite=Strict cookie and goes where it was asked', async () => {
      const response = await submit('/login', undefined, { token: TOKENS.viewer, next: '/boreholes/khabou' });
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe('/boreholes/khabou');
      const cookie = setCookie(response);
      expect(cookie).toContain(`${TOKEN_COOKIE}=${TOKENS.viewer}`);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).toMatch(/Path=\//);
      // Over plain http the cookie cannot be Secure, or the browser would drop it.
      expect(cookie).not.toMatch(/Secure/);
    });

    it('marks the cookie Secure when the request came over https', async () => {
      const proxied = await startHarness({ trustProxy: true });
      try {
        const response = await proxied.app.inject({
          method: 'POST',
          url: '/login',
          payload: form({ token: TOKENS.viewer }),
          headers: { 'content-type': FORM, origin: 'https://forages.example.org', host: 'forages.example.org', 'x-forwarded-proto': 'https' },
        });
        expect(response.statusCode).toBe(303);
        expect(setCookie(response)).toMatch(/Secure/);
      } finally {
        await proxied.close();
      }
    });

    it('refuses a wrong token with 401, without echoing it, and sets no cookie', async () => {
      const response = await submit('/login', undefined, { token: 'not-the-right-token-at-all', next: '/' });
      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('Ce jeton n&#39;est pas valide.');
      expect(response.body).not.toContain('not-the-right-token-at-all');
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('never sends a browser elsewhere after login (open redirect)', async () => {
      for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
        const response = await submit('/login', undefined, { token: TOKENS.viewer, next });
        expect(response.headers.location, next).toBe('/');
      }
    });

    it('refuses a login posted from another site', async () => {
      const response = await submit('/login', undefined, { token: TOKENS.viewer }, 'https://evil.example');
      expect(response.statusCode).toBe(403);
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('answers 429 with Retry-After after 10 wrong tokens from one address', async () => {
      for (let attempt = 0; attempt < 10; attempt += 1) await submit('/login', undefined, { token: `wrong-token-number-${attempt}` });
      const response = await submit('/login', undefined, { token: TOKENS.viewer });
      expect(response.statusCode).toBe(429);
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
      expect(response.body).toContain('Trop de jetons refusés');
    });

    it('logs out by clearing the cookie', async () => {
      const response = await submit('/logout', TOKENS.viewer, {});
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe('/login?out=1');
      expect(setCookie(response)).toMatch(new RegExp(`${TOKEN_COOKIE}=;.*Expires=Thu, 01 Jan 1970`));
    });
  });

  describe('access', () => {
    it.each(['/', '/alerts', '/boreholes/khabou'])('sends %s to the login form without a cookie', async (url) => {
      const response = await page(url);
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe(`/login?next=${encodeURIComponent(url)}`);
    });

    it('sends a stale cookie to the login form and clears it', async () => {
      const response = await page('/', 'a-token-that-was-revoked-since');
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe('/login?next=%2F&expired=1');
      expect(setCookie(response)).toContain(`${TOKEN_COOKIE}=;`);
    });

    it('does not let the cookie open the API: the API wants a bearer token', async () => {
      const response = await h.app.inject({ url: '/api/boreholes', headers: { cookie: `${TOKEN_COOKIE}=${TOKENS.viewer}` } });
      expect(response.statusCode).toBe(401);
    });

    it('sends security headers with a CSP that allows only this host', async () => {
      const response = await page('/', TOKENS.viewer);
      expect(response.headers['content-security-policy']).toBe(CSP);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['referrer-policy']).toBe('same-origin');
      expect(response.headers['cache-control']).toBe('no-store');
      const api = await h.app.inject({ url: '/api/boreholes', headers: bearer(TOKENS.viewer) });
      expect(api.headers['content-security-policy']).toBe(CSP);
    });

    it('loads nothing from another host: every script, stylesheet and link is local', async () => {
      for (const url of ['/', '/alerts', '/boreholes/khabou', '/login']) {
        const body = (await page(url, TOKENS.operator)).body;
        const sources = [...body.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1] ?? '');
        expect(sources.length, url).toBeGreaterThan(0);
        for (const source of sources) expect(source, `${url}: ${source}`).toMatch(/^(\/|tel:|#)/);
        expect(body, url).not.toMatch(/<script>|style="| on[a-z]+="/);
      }
    });
  });

  describe('the network page', () => {
    it('lists every borehole by region with its status, last message and open alerts, problems first', async () => {
      const response = await page('/', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      const body = response.body;
      expect(body).toContain('Région de Kayes');
      expect(body).toContain('Région de Koulikoro');
      expect(body).toContain('Région de Sikasso');
      const kayes = body.slice(body.indexOf('Région de Kayes'), body.indexOf('Région de Koulikoro'));
      expect(kayes.indexOf('Forage de Khabou')).toBeLessThan(kayes.indexOf('Forage de Diamou'));
      expect(kayes.indexOf('Forage de Diamou')).toBeLessThan(kayes.indexOf('Forage de Ségala'));
      expect(kayes).toMatch(/row-alert[\s\S]*En alerte[\s\S]*Forage de Khabou[\s\S]*il y a 1 min[\s\S]*Panne pompe/);
      expect(kayes).toMatch(/row-offline[\s\S]*Hors ligne[\s\S]*Forage de Diamou[\s\S]*il y a 5 h[\s\S]*Forage muet/);
      expect(body).toMatch(/Sans données[\s\S]*jamais/);
      expect(body).toContain('<svg viewBox=');
      expect(body).toContain('<a href="/boreholes/khabou" class="pt status-alert">');
    });

    it('escapes every registry string', async () => {
      const body = (await page('/', TOKENS.viewer)).body;
      expect(body).toContain('Forage &lt;b&gt;de&lt;/b&gt; &quot;Zégoua&quot; &amp; Cie');
      expect(body).not.toContain('<b>de</b>');
    });

    it('filters by status', async () => {
      const body = (await page('/?status=offline', TOKENS.viewer)).body;
      expect(body).toContain('Forage de Diamou');
      expect(body).not.toContain('>Forage de Khabou<');
    });

    it('shows a region-limited token only its regions', async () => {
      const body = (await page('/', TOKENS.koulikoroViewer)).body;
      expect(body).toContain('Région de Koulikoro');
      expect(body).not.toContain('Région de Kayes');
      expect(body).not.toContain('Khabou');
    });
  });

  describe('the borehole page', () => {
    it('embeds the last 7 days for the charts and loads uPlot from this host', async () => {
      const response = await page('/boreholes/khabou', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      const json = /<script type="application\/json" id="series-data">([^<]*)<\/script>/.exec(response.body)?.[1] ?? '{}';
      const data = JSON.parse(json) as { t: number[]; flow: (number | null)[]; intakeDepthM: number; depthMean: (number | null)[] };
      // Today (up to 10:00) and the six days before, from midnight (Bamako), hourly.
      expect(data.t).toHaveLength(6 * 24 + 10);
      expect(data.intakeDepthM).toBe(55);
      expect(data.flow.filter((v) => v !== null).length).toBeGreaterThan(100);
      expect(response.body).toMatch(/<script src="\/assets\/uplot\.iife\.min\.js\?v=[0-9a-f]{12}"><\/script>/);
      expect(response.body).toMatch(/<script src="\/assets\/charts\.js\?v=[0-9a-f]{12}"><\/script>/);
      for (const id of ['chart-flow', 'chart-level', 'chart-run', 'chart-current']) expect(response.body).toContain(`id="${id}"`);
      expect(response.body).toMatch(/Eau pompée[\s\S]*29,7\u00a0m³/);
    });

    it('shows open alerts, maintenance and contact names; phone numbers for operators only', async () => {
      h.engine.recordMaintenance('khabou', 'api:operator', 'Remplacement du clapet');
      const viewer = (await page('/boreholes/khabou', TOKENS.viewer)).body;
      expect(viewer).toContain('2 alertes en cours');
      expect(viewer).toContain('Remplacement du clapet');
      expect(viewer).toContain('Président du comité');
      expect(viewer).toContain('numéro visible par les opérateurs');
      expect(viewer).not.toContain('+22376000001');
      expect(viewer).not.toContain('action="/alerts/');
      const operator = (await page('/boreholes/khabou', TOKENS.operator)).body;
      expect(operator).toContain('<a class="tel" href="tel:+22376000001">+22376000001</a>');
      expect(operator).toContain(`action="/alerts/${alertOf(h, 'khabou', 'pump_fault').id}/ack"`);
    });

    it('still shows the page, without charts, when the time-series store does not answer', async () => {
      h.failingSeries.add('khabou');
      const response = await page('/boreholes/khabou', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain('Les mesures ne sont pas disponibles pour le moment');
      expect(response.body).not.toContain('series-data');
    });

    it('answers 404 for a borehole that does not exist or lies outside the token regions', async () => {
      expect((await page('/boreholes/atlantis', TOKENS.viewer)).statusCode).toBe(404);
      const outside = await page('/boreholes/khabou', TOKENS.koulikoroViewer);
      expect(outside.statusCode).toBe(404);
      expect(outside.body).toContain('Forage introuvable');
    });
  });

  describe('the alerts page', () => {
    it('lists unresolved alerts with acknowledge and resolve forms for an operator', async () => {
      const body = (await page('/alerts', TOKENS.operator)).body;
      const alert = alertOf(h, 'khabou', 'pump_fault');
      expect(body).toContain('4 alertes');
      expect(body).toContain(`<form method="post" action="/alerts/${alert.id}/ack">`);
      expect(body).toContain(`<form method="post" action="/alerts/${alert.id}/resolve" class="resolve">`);
      expect(body).toContain('<input type="hidden" name="back" value="/alerts?state=unresolved">');
    });

    it('lists them without forms for a viewer', async () => {
      const body = (await page('/alerts', TOKENS.viewer)).body;
      expect(body).toContain('Panne pompe : marche à sec');
      expect(body).not.toContain('<form method="post" action="/alerts/');
      expect(body).toContain("demande un jeton d'opérateur");
    });

    it('filters by state and borehole, and pages', async () => {
      const body = (await page('/alerts?state=all&borehole=khabou', TOKENS.viewer)).body;
      expect(body).toContain('Alertes — Forage de Khabou');
      expect(body).toContain('2 alertes');
      expect(body).not.toContain('Kolokani');
    });

    it('acknowledges through the form and comes back with a message', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      const response = await submit(`/alerts/${alert.id}/ack`, TOKENS.operator, { back: '/alerts?state=unresolved' });
      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe(`/alerts?state=unresolved&done=ack&code=${alert.code}`);
      expect(h.store.alertById(alert.id)).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'web:operator' });
      const next = await page(String(response.headers.location), TOKENS.operator);
      expect(next.body).toContain(`Alerte n° ${alert.code} acquittée.`);
    });

    it('resolves with a note kept in the alert history', async () => {
      const alert = alertOf(h, 'kolokani', 'low_water');
      const response = await submit(`/alerts/${alert.id}/resolve`, TOKENS.operator, { back: '/boreholes/kolokani', note: 'pompe remontée de 5 m' });
      expect(response.headers.location).toBe(`/boreholes/kolokani?done=resolve&code=${alert.code}`);
      expect(h.store.alertById(alert.id)?.state).toBe('resolved');
      expect(h.store.alertHistory(alert.id).at(-1)).toMatchObject({ kind: 'resolved', actor: 'web:operator', note: 'pompe remontée de 5 m' });
    });

    it('says so when the alert was already resolved', async () => {
      const alert = alertOf(h, 'kolokani', 'low_water');
      h.engine.resolve(alert.id, 'test');
      const response = await submit(`/alerts/${alert.id}/ack`, TOKENS.operator, { back: '/alerts' });
      expect(response.headers.location).toBe(`/alerts?failed=conflict&code=${alert.code}`);
    });

    it('refuses a change posted without an Origin, or from another site (CSRF), and changes nothing', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      for (const origin of [null, 'https://evil.example', 'null']) {
        const response = await submit(`/alerts/${alert.id}/ack`, TOKENS.operator, {}, origin);
        expect(response.statusCode, String(origin)).toBe(403);
        expect(response.body).toContain('Requête refusée');
      }
      const referred = await h.app.inject({
        method: 'POST',
        url: `/alerts/${alert.id}/ack`,
        payload: '',
        headers: { 'content-type': FORM, referer: `${SAME_ORIGIN}/alerts`, cookie: `${TOKEN_COOKIE}=${TOKENS.operator}` },
      });
      expect(referred.statusCode).toBe(303);
      expect(h.store.alertById(alert.id)?.state).toBe('acknowledged');
    });

    it('refuses a viewer with 403 and changes nothing', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      const response = await submit(`/alerts/${alert.id}/ack`, TOKENS.viewer, {});
      expect(response.statusCode).toBe(403);
      expect(response.body).toContain('Cette action demande un jeton d&#39;opérateur.');
      expect(h.store.alertById(alert.id)?.state).toBe('open');
    });

    it('does not let a region-limited operator change an alert outside its regions', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      const response = await submit(`/alerts/${alert.id}/resolve`, TOKENS.koulikoroOperator, { back: '/alerts' });
      expect(response.headers.location).toBe('/alerts?failed=gone');
      expect(h.store.alertById(alert.id)?.state).toBe('open');
    });

    it('never sends the browser elsewhere after an action', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      const response = await submit(`/alerts/${alert.id}/ack`, TOKENS.operator, { back: '//evil.example/' });
      expect(response.headers.location).toBe(`/?done=ack&code=${alert.code}`);
    });
  });

  describe('assets', () => {
    it.each([
      ['/assets/app.css', 'text/css; charset=utf-8'],
      ['/assets/charts.js', 'text/javascript; charset=utf-8'],
      ['/assets/uplot.iife.min.js', 'text/javascript; charset=utf-8'],
      ['/assets/uplot.min.css', 'text/css; charset=utf-8'],
      ['/assets/favicon.svg', 'image/svg+xml'],
    ])('serves %s as %s, cached, without a login', async (url, type) => {
      const response = await h.app.inject(url);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe(type);
      expect(response.headers['cache-control']).toBe('public, max-age=604800');
      const again = await h.app.inject({ url, headers: { 'if-none-match': String(response.headers.etag) } });
      expect(again.statusCode).toBe(304);
    });

    it('answers 404 for anything else, as HTML to a browser', async () => {
      expect((await h.app.inject('/assets/../../package.json')).statusCode).toBe(404);
      const missing = await h.app.inject({ url: '/nowhere', headers: { accept: 'text/html' } });
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['content-type']).toBe('text/html; charset=utf-8');
      expect((await h.app.inject('/api/nowhere')).json()).toEqual({ error: 'not_found', message: 'no route GET /api/nowhere' });
    });
  });
});
