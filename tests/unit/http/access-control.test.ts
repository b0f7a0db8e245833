import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { ConfigError } from '../../../src/config/errors.js';
import { TokenAuth } from '../../../src/http/auth.js';
import { FailedAuthLimiter } from '../../../src/http/failed-auth-limiter.js';
import { alertOf, bearer, seedNetwork, startHarness, T0_MS, TOKENS, type Harness } from './harness.js';

describe('API_TOKENS with region limits', () => {
  const token = 'koulikoro-token-0123456789';

  it('reads role:token:Region1|Region2 as a token limited to those regions', () => {
    const config = loadConfig({ API_TOKENS: `viewer:${token}:Koulikoro|Kayes, operator:operator-token-0123456789` });
    expect(config.apiTokens).toEqual([
      { role: 'viewer', token, regions: ['Koulikoro', 'Kayes'] },
      { role: 'operator', token: 'operator-token-0123456789' },
    ]);
  });

  it('takes region names with accents and spaces', () => {
    expect(loadConfig({ API_TOKENS: `operator:${token}:Ségou|District de Bamako` }).apiTokens).toEqual([
      { role: 'operator', token, regions: ['Ségou', 'District de Bamako'] },
    ]);
  });

  it('keeps reading role:token as before, a colon followed by digits staying in the token', () => {
    expect(loadConfig({ API_TOKENS: `admin:${token}` }).apiTokens).toEqual([{ role: 'admin', token }]);
    expect(loadConfig({ API_TOKENS: 'admin:abc:def-0123456789-xyz' }).apiTokens).toEqual([{ role: 'admin', token: 'abc:def-0123456789-xyz' }]);
  });

  it('still refuses a short token when it carries a region, without echoing it', () => {
    let error: unknown;
    try {
      loadConfig({ API_TOKENS: 'viewer:sh0rt-s3cret:Kayes' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['API_TOKENS: the viewer token is shorter than 16 characters']);
    expect((error as ConfigError).message).not.toContain('sh0rt-s3cret');
  });

  it('stops the app from being built when a token names a region no borehole is in, without echoing the token', async () => {
    const error = await startHarness({ apiTokens: [{ role: 'viewer', token: 's3cret-token-0123456789', regions: ['Kaye'] }] }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'API_TOKENS: a viewer token is limited to region "Kaye", which no borehole of the registry is in (regions: Kayes, Koulikoro, Sikasso)',
    ]);
    expect((error as ConfigError).message).not.toContain('s3cret');
  });
});

describe('region-limited tokens', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    seedNetwork(h);
  });

  afterEach(async () => {
    await h.close();
  });

  const get = (url: string, token: string) => h.app.inject({ method: 'GET', url, headers: bearer(token) });
  const post = (url: string, token: string) => h.app.inject({ method: 'POST', url, headers: bearer(token) });

  it('list only the boreholes of their regions', async () => {
    const body = (await get('/api/boreholes', TOKENS.koulikoroViewer)).json<{ total: number; items: { id: string }[] }>();
    expect(body.total).toBe(2);
    expect(body.items.map((b) => b.id)).toEqual(['banamba', 'kolokani']);
  });

  it.each(['/api/boreholes/khabou', '/api/boreholes/khabou/readings', '/api/boreholes/khabou/maintenance'])(
    'answer 404 for %s outside their regions, as for a borehole that does not exist',
    async (url) => {
      const outside = await get(url, TOKENS.koulikoroViewer);
      const missing = await get(url.replace('khabou', 'atlantis'), TOKENS.koulikoroViewer);
      expect(outside.statusCode).toBe(404);
      expect(outside.json()).toEqual({ error: 'not_found', message: 'no borehole khabou' });
      expect(missing.statusCode).toBe(404);
      expect((await get(url.replace('khabou', 'kolokani'), TOKENS.koulikoroViewer)).statusCode).toBe(200);
    },
  );

  it('list only the alerts of their regions, whatever the borehole filter asks', async () => {
    const all = (await get('/api/alerts?state=unresolved', TOKENS.koulikoroViewer)).json<{ total: number; items: { borehole: string }[] }>();
    expect(all.total).toBe(1);
    expect(all.items.map((a) => a.borehole)).toEqual(['kolokani']);
    expect((await get('/api/alerts?borehole=khabou', TOKENS.koulikoroViewer)).json()).toEqual({ total: 0, next_after: null, items: [] });
    expect((await get('/api/alerts?state=unresolved', TOKENS.viewer)).json<{ total: number }>().total).toBe(4);
  });

  it('answer 404 for an alert outside their regions, to read, acknowledge or resolve it, and change nothing', async () => {
    const khabou = alertOf(h, 'khabou', 'pump_fault');
    expect((await get(`/api/alerts/${khabou.id}`, TOKENS.koulikoroViewer)).statusCode).toBe(404);
    for (const action of ['ack', 'resolve']) {
      const response = await post(`/api/alerts/${khabou.id}/${action}`, TOKENS.koulikoroOperator);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: 'not_found', message: `no alert ${khabou.id}` });
    }
    expect((await post('/api/boreholes/khabou/maintenance', TOKENS.koulikoroOperator)).statusCode).toBe(404);
    expect(h.store.alertById(khabou.id)?.state).toBe('open');
    expect(h.store.listMaintenance('khabou')).toEqual([]);
  });

  it('change the alerts of their regions, as operators', async () => {
    const kolokani = alertOf(h, 'kolokani', 'low_water');
    const ack = await post(`/api/alerts/${kolokani.id}/ack`, TOKENS.koulikoroOperator);
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ state: 'acknowledged' });
    expect((await post('/api/boreholes/kolokani/maintenance', TOKENS.koulikoroOperator)).statusCode).toBe(201);
    expect((await post(`/api/alerts/${kolokani.id}/resolve`, TOKENS.koulikoroViewer)).statusCode).toBe(403);
  });

  it('are refused the network-wide dead letters with 403', async () => {
    const response = await get('/api/dead-letters', TOKENS.koulikoroViewer);
    expect(response.statusCode).toBe(403);
    expect(response.json<{ message: string }>().message).toContain('region');
    expect((await get('/api/dead-letters', TOKENS.viewer)).statusCode).toBe(200);
  });
});

describe('failed authentication', () => {
  const clock = { nowMs: T0_MS };
  let h: Harness;
  const logLines: string[] = [];

  beforeEach(async () => {
    clock.nowMs = T0_MS;
    logLines.length = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    h = await startHarness({ now: () => clock.nowMs, log: pino({ level: 'trace' }, sink) });
  });

  afterEach(async () => {
    await h.close();
  });

  const get = (token: string, ip = '10.0.0.7') =>
    h.app.inject({ method: 'GET', url: '/api/boreholes', headers: bearer(token), remoteAddress: ip });

  it('refuses an address with 429 and Retry-After after 10 wrong tokens in a minute, even with a right token', async () => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      clock.nowMs += 1000;
      expect((await get(`wrong-token-guess-${attempt}`)).statusCode).toBe(401);
    }
    const blocked = await get(TOKENS.viewer);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBe('51');
    expect(blocked.json()).toEqual({ error: 'too_many_requests', message: 'too many failed authentications from this address; retry in 51 s' });
    // Another address is not affected.
    expect((await get(TOKENS.viewer, '10.0.0.8')).statusCode).toBe(200);
    // Once the oldest failure is a minute old, the address may try again.
    clock.nowMs += 51_000;
    expect((await get(TOKENS.viewer)).statusCode).toBe(200);
  });

  it('does not count requests without a token, nor good ones', async () => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      expect((await h.app.inject({ url: '/api/boreholes', remoteAddress: '10.0.0.9' })).statusCode).toBe(401);
      expect((await get(TOKENS.viewer, '10.0.0.9')).statusCode).toBe(200);
    }
  });

  it('counts a malformed Authorization header as a failure', async () => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await h.app.inject({ url: '/api/boreholes', headers: { authorization: `Token ${TOKENS.viewer}` }, remoteAddress: '10.0.0.10' });
    }
    expect((await get(TOKENS.viewer, '10.0.0.10')).statusCode).toBe(429);
  });

  it('never writes a token to the log nor echoes it in an answer', async () => {
    const wrong = 'a-wrong-token-that-must-not-leak';
    const answers = [await get(wrong), await get(TOKENS.operator), await h.app.inject({ method: 'POST', url: '/api/alerts/nope/ack', headers: bearer(wrong) })];
    h.failingSeries.add('khabou');
    answers.push(await h.app.inject({ url: '/api/boreholes/khabou/readings', headers: bearer(TOKENS.viewer) }));
    expect(logLines.length).toBeGreaterThan(0);
    for (const text of [...logLines, ...answers.map((a) => `${JSON.stringify(a.headers)} ${a.body}`)]) {
      for (const secret of [wrong, TOKENS.operator, TOKENS.viewer]) expect(text).not.toContain(secret);
    }
  });
});

describe('FailedAuthLimiter', () => {
  it('slides its window: each failure older than the window frees one attempt', () => {
    const clock = { nowMs: 0 };
    const limiter = new FailedAuthLimiter({ max: 3, windowMs: 60_000 }, () => clock.nowMs);
    for (const atMs of [0, 10_000, 20_000]) {
      clock.nowMs = atMs;
      expect(limiter.retryAfterMs('a')).toBe(0);
      limiter.fail('a');
    }
    expect(limiter.retryAfterMs('a')).toBe(40_000);
    clock.nowMs = 60_000;
    expect(limiter.retryAfterMs('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.retryAfterMs('a')).toBe(10_000);
  });

  it('remembers at most maxClients addresses, forgetting the least recently failed', () => {
    const limiter = new FailedAuthLimiter({ max: 1, windowMs: 60_000, maxClients: 3 }, () => 0);
    for (const client of ['a', 'b', 'c', 'd']) limiter.fail(client);
    expect(limiter.size).toBe(3);
    expect(limiter.retryAfterMs('a')).toBe(0);
    expect(limiter.retryAfterMs('d')).toBeGreaterThan(0);
  });
});

describe('TokenAuth', () => {
  it('gives the highest role of the entries a token matches, with its regions', () => {
    const auth = new TokenAuth([
      { role: 'viewer', token: 'shared-token-0123456789' },
      { role: 'operator', token: 'shared-token-0123456789', regions: ['Kayes'] },
    ]);
    const identity = auth.identify('shared-token-0123456789');
    expect(identity?.role).toBe('operator');
    expect([...(identity?.regions ?? [])]).toEqual(['Kayes']);
    expect(auth.identify('shared-token-012345678')).toBeNull();
  });
});
