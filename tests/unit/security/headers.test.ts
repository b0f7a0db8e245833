/**
 * Finding S9 of docs/security.md: what every answer tells a browser and an attacker. Security
 * headers on every kind of answer (pages, API, errors, open routes, webhooks), the session cookie
 * out of reach of scripts and other sites, and no internals (stack, paths, error text) in a 5xx.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import type { AlertsPort } from '../../../src/http/routes/alerts.js';
import { bearer, seedNetwork, TOKENS } from '../http/harness.js';
import { form, INBOUND_TOKEN, PHONES, startSmsHarness, type SmsHarness } from './support.js';

const INTERNAL = 'SQLITE_CORRUPT: database disk image is malformed at /var/lib/boreholes/state.db';

function failing(): AlertsPort {
  const fail = (): never => {
    throw new Error(INTERNAL);
  };
  return { list: fail, unresolvedRules: fail, get: fail, history: fail, acknowledge: fail, resolve: fail, recordMaintenance: fail, isKnownBorehole: fail };
}

let h: SmsHarness;

beforeEach(async () => {
  h = await startSmsHarness();
  seedNetwork(h);
});

afterEach(async () => {
  await h.close();
});

const html = { accept: 'text/html' };
const cookie = (token: string) => ({ ...html, cookie: `${TOKEN_COOKIE}=${token}` });

function expectSecurityHeaders(response: LightMyRequestResponse, what: string): void {
  expect(response.headers['content-security-policy'], what).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
  expect(response.headers['x-content-type-options'], what).toBe('nosniff');
  expect(response.headers['x-frame-options'], what).toBe('SAMEORIGIN');
  expect(response.headers['referrer-policy'], what).toBe('same-origin');
  expect(response.headers['strict-transport-security'], what).toBe('max-age=15552000');
  expect(response.headers['x-powered-by'], what).toBeUndefined();
}

function expectNoInternals(response: LightMyRequestResponse): void {
  expect(response.body).not.toContain('SQLITE');
  expect(response.body).not.toContain('/var/lib');
  expect(response.body).not.toMatch(/\bat .*\.[jt]s:\d+/);
  expect(response.body).not.toContain('/src/');
}

describe('S9 headers, cookies and error answers', () => {
  it('puts the security headers on every kind of answer', async () => {
    const answers: [string, LightMyRequestResponse][] = [
      ['page', await h.app.inject({ url: '/', headers: cookie(TOKENS.viewer) })],
      ['login page', await h.app.inject({ url: '/login', headers: html })],
      ['redirect to login', await h.app.inject({ url: '/alerts', headers: html })],
      ['API', await h.app.inject({ url: '/api/boreholes', headers: bearer(TOKENS.viewer) })],
      ['API 401', await h.app.inject({ url: '/api/boreholes' })],
      ['API 404', await h.app.inject({ url: '/api/nothing-here' })],
      ['HTML 404', await h.app.inject({ url: '/nothing-here', headers: html })],
      ['metrics', await h.app.inject({ url: '/metrics' })],
      ['healthz', await h.app.inject({ url: '/healthz' })],
      ['openapi', await h.app.inject({ url: '/openapi.json' })],
      ['SMS webhook', await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(INBOUND_TOKEN), payload: { from: PHONES.unknown, text: 'ETAT' } })],
      ['SMS webhook 403', await h.app.inject({ method: 'POST', url: '/api/sms/inbound/africastalking', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form({ from: PHONES.unknown, text: 'x' }) })],
    ];
    for (const [what, response] of answers) expectSecurityHeaders(response, what);
  });

  it('answers a 5xx without the error, its stack or any path: JSON for the API, a page for a browser', async () => {
    await h.close();
    h = await startSmsHarness({ alerts: failing() });
    const api = await h.app.inject({ url: '/api/alerts', headers: bearer(TOKENS.viewer) });
    expect(api.statusCode).toBe(500);
    expect(api.json()).toEqual({ error: 'internal', message: 'internal error' });
    expectSecurityHeaders(api, 'API 500');
    const write = await h.app.inject({ method: 'POST', url: '/api/alerts/1/ack', headers: bearer(TOKENS.operator) });
    expect(write.statusCode).toBe(500);
    expectNoInternals(write);
    const page = await h.app.inject({ url: '/', headers: cookie(TOKENS.viewer) });
    expect(page.statusCode).toBe(500);
    expect(page.headers['content-type']).toContain('text/html');
    expectNoInternals(page);
    expectSecurityHeaders(page, 'page 500');
  });

  it('sets the session cookie HttpOnly, SameSite=Strict and on / only, and clears it the same way', async () => {
    const login = await h.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80' },
      payload: form({ token: TOKENS.viewer }),
    });
    const stale = await h.app.inject({ url: '/', headers: cookie('a-token-that-was-revoked-since') });
    const logout = await h.app.inject({ method: 'POST', url: '/logout', headers: { ...cookie(TOKENS.viewer), 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80' }, payload: '' });
    for (const [what, response] of [['login', login], ['stale cookie', stale], ['logout', logout]] as const) {
      const header = response.headers['set-cookie'];
      const set = (Array.isArray(header) ? header.join('\n') : header) ?? '';
      expect(set, what).toContain(`${TOKEN_COOKIE}=`);
      expect(set, what).toMatch(/; HttpOnly/);
      expect(set, what).toMatch(/; SameSite=Strict/);
      expect(set, what).toMatch(/; Path=\//);
      expect(set, what).not.toMatch(/Domain=/i);
    }
  });

  it('does not mark the cookie Secure from a forged X-Forwarded-Proto when no proxy is trusted', async () => {
    // Only buildApp({ trustProxy: true }) believes the header; a direct client cannot fake https.
    const response = await h.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' },
      payload: form({ token: TOKENS.viewer }),
    });
    expect(String(response.headers['set-cookie'])).not.toMatch(/Secure/);
  });
});
