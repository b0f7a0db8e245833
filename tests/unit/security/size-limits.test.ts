/**
 * Finding S7 of docs/security.md: every body the service reads is bounded, so no request can make
 * it buffer or parse megabytes. Every POST route (found from the app itself, so a new route cannot
 * slip through untested) refuses a body over its limit with 413; the SMS webhooks, reachable from
 * the internet, take at most 16 KiB and check their token before reading anything. The MQTT limits
 * (256 KiB a payload, 1,000 readings a batch) are proven by tests/unit/ingest/decode.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMS_INBOUND_BODY_LIMIT } from '../../../src/http/routes/sms-inbound.js';
import { bearer, TOKENS } from '../http/harness.js';
import { INBOUND_TOKEN, startSmsHarness, type SmsHarness } from './support.js';

const APP_BODY_LIMIT = 1024 * 1024;
const FORM_BODY_LIMIT = 16 * 1024;

/** Every route and its methods, read from fastify's own route tree. */
function routesOf(app: FastifyInstance): { path: string; methods: string[] }[] {
  const routes: { path: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([\s│]*)(?:[└├]── )?(\S+) \(([^)]+)\)$/.exec(line);
    if (!match) continue;
    const depth = Math.round((match[1] ?? '').length / 4);
    stack.length = depth;
    const path = `${stack[depth - 1] ?? ''}${match[2] ?? ''}`;
    stack[depth] = path;
    routes.push({ path, methods: (match[3] ?? '').split(', ') });
  }
  return routes;
}

let h: SmsHarness;
let postRoutes: string[];

beforeAll(async () => {
  h = await startSmsHarness();
  postRoutes = routesOf(h.app)
    .filter((route) => route.methods.includes('POST'))
    .map((route) => route.path.replace(':id', '1'));
});

afterAll(async () => {
  await h.close();
});

const isForm = (path: string) => !path.startsWith('/api/') || path.startsWith('/api/sms/inbound/');
const isSms = (path: string) => path.startsWith('/api/sms/inbound');

/** What an attacker would send: the expected content type, with credentials so that only size decides. */
function oversize(path: string, bytes: number) {
  const headers: Record<string, string> = { authorization: `Bearer ${isSms(path) ? INBOUND_TOKEN : TOKENS.operator}`, origin: 'http://localhost:80' };
  if (isForm(path)) {
    return h.app.inject({ method: 'POST', url: `${path}${path.endsWith('africastalking') ? `?token=${INBOUND_TOKEN}` : ''}`, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: `text=${'a'.repeat(bytes)}` });
  }
  return h.app.inject({ method: 'POST', url: path, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ note: 'a'.repeat(bytes), text: 'b' }) });
}

describe('S7 bodies are bounded on every POST route', () => {
  it('finds the POST routes of the app (API, pages, SMS webhooks)', () => {
    expect(postRoutes).toEqual(
      expect.arrayContaining(['/api/alerts/1/ack', '/api/alerts/1/resolve', '/api/boreholes/1/maintenance', '/api/sms/inbound', '/api/sms/inbound/twilio', '/api/sms/inbound/africastalking', '/login', '/logout', '/alerts/1/ack', '/alerts/1/resolve']),
    );
  });

  it('refuses a body over the limit with 413 on each of them, before any handler runs', async () => {
    for (const path of postRoutes) {
      const limit = isSms(path) ? SMS_INBOUND_BODY_LIMIT : isForm(path) ? FORM_BODY_LIMIT : APP_BODY_LIMIT;
      const response = await oversize(path, limit + 1);
      expect(response.statusCode, path).toBe(413);
      expect(response.body.length, path).toBeLessThan(1000);
    }
    expect(h.handled).toEqual([]);
  });

  it('takes at most 16 KiB on the SMS webhooks, JSON included (an SMS is a few hundred characters)', async () => {
    expect(SMS_INBOUND_BODY_LIMIT).toBe(16 * 1024);
    const ok = await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(INBOUND_TOKEN), payload: { from: '+22376000099', text: 'x'.repeat(8 * 1024) } });
    expect(ok.statusCode).toBe(200);
    const big = await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(INBOUND_TOKEN), payload: { from: '+22376000099', text: 'x'.repeat(SMS_INBOUND_BODY_LIMIT) } });
    expect(big.statusCode).toBe(413);
  });

  it('refuses an SMS webhook request with a wrong token before reading its body (403, not 413 nor 400)', async () => {
    for (const url of ['/api/sms/inbound', '/api/sms/inbound/africastalking?token=wrong-token-0123456789']) {
      const response = await h.app.inject({
        method: 'POST',
        url,
        headers: { ...bearer('wrong-token-0123456789'), 'content-type': url.includes('?') ? 'application/x-www-form-urlencoded' : 'application/json' },
        payload: '{"this is not even": JSON'.repeat(2000),
        remoteAddress: '10.9.9.9',
      });
      expect(response.statusCode, url).toBe(403);
    }
  });

  it('accepts only the content types a route expects (415 otherwise): no XML or multipart parser to attack', async () => {
    for (const [path, type] of [
      ['/api/alerts/1/resolve', 'application/x-www-form-urlencoded'],
      ['/api/sms/inbound', 'application/xml'],
      ['/api/sms/inbound/twilio', 'application/xml'],
      ['/login', 'multipart/form-data; boundary=x'],
    ] as const) {
      const response = await h.app.inject({ method: 'POST', url: path, headers: { ...bearer(isSms(path) ? INBOUND_TOKEN : TOKENS.operator), 'content-type': type, origin: 'http://localhost:80' }, payload: 'a=b' });
      expect(response.statusCode, `${path} ${type}`).toBe(415);
    }
  });
});
