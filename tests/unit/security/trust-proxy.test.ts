/**
 * Behind a reverse proxy (TLS in front of the SMS webhooks, say) every request comes from the
 * proxy's address. Without TRUST_PROXY one guesser's ten wrong tokens would lock every client out
 * for a minute; with it, each client is counted by its own address, and a client that is not the
 * proxy cannot choose its address with X-Forwarded-For.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { bearer, startHarness, TOKENS, type Harness } from '../http/harness.js';

const PROXY = '10.0.0.2';

describe('TRUST_PROXY', () => {
  let h: Harness | undefined;

  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const api = (token: string, remoteAddress: string, forwardedFor?: string) =>
    (h as Harness).app.inject({ url: '/api/boreholes', headers: { ...bearer(token), ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) }, remoteAddress });
  const guessTenTimes = async (remoteAddress: string, forwardedFor?: string) => {
    for (let n = 0; n < 10; n += 1) expect((await api(`wrong-token-number-${n}-xxxxxxxx`, remoteAddress, forwardedFor)).statusCode).toBe(401);
  };

  it('reads its forms: false by default, true, a hop count, or addresses and CIDRs', () => {
    expect(loadConfig({}).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '1' }).http.trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' }).http.trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8', '::1']);
    expect(() => loadConfig({ TRUST_PROXY: 'nginx' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });

  it('without it, a guesser behind the proxy locks out every client of the proxy', async () => {
    h = await startHarness();
    await guessTenTimes(PROXY, '203.0.113.7');
    expect((await api(TOKENS.viewer, PROXY, '198.51.100.20')).statusCode).toBe(429);
  });

  it("with the proxy's address, each client is counted apart", async () => {
    h = await startHarness({ trustProxy: [PROXY] });
    await guessTenTimes(PROXY, '203.0.113.7');
    expect((await api(TOKENS.viewer, PROXY, '203.0.113.7')).statusCode).toBe(429);
    expect((await api(TOKENS.viewer, PROXY, '198.51.100.20')).statusCode).toBe(200);
  });

  it('does not let a client that is not the proxy choose its address', async () => {
    h = await startHarness({ trustProxy: [PROXY] });
    // Straight to the port, each guess claiming another address: all counted against the real one.
    for (let n = 0; n < 10; n += 1) expect((await api(`wrong-token-number-${n}-xxxxxxxx`, '203.0.113.9', `192.0.2.${n}`)).statusCode).toBe(401);
    expect((await api(TOKENS.viewer, '203.0.113.9', '192.0.2.200')).statusCode).toBe(429);
  });

  it('with a hop count, trusts that many proxies', async () => {
    h = await startHarness({ trustProxy: 1 });
    await guessTenTimes(PROXY, '203.0.113.7');
    expect((await api(TOKENS.viewer, PROXY, '198.51.100.20')).statusCode).toBe(200);
  });
});
