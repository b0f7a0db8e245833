/**
 * The TLS profile (issue 16): deploy/caddy/Caddyfile run by a real Caddy on loopback, in front of
 * the service. The site is the address 127.0.0.1, for which Caddy uses its own CA instead of
 * Let's Encrypt, so the same file is tested over real HTTPS; the test trusts that CA for its own
 * requests only. Checked: the headers Caddy hands the service (X-Forwarded-For the client's, not a
 * forged one; -Proto https; -Host; Host kept), HSTS, and through the real service an SMS webhook
 * POST, /healthz, and a sign-in whose cookie is Secure because TRUST_PROXY believes Caddy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, tempDir, testConfig, testRegistry } from '../support/fixtures.js';
import { freePort, hasBinary } from '../support/servers.js';

const haveCaddy = hasBinary('caddy');
if (!haveCaddy) {
  if (process.env.CI === 'true') throw new Error('the TLS profile test needs caddy: apt-get install -y --no-install-recommends caddy');
  console.warn('!!! Caddy TLS integration test SKIPPED: caddy not found (apt-get install -y --no-install-recommends caddy)');
}

const ROOT = join(import.meta.dirname, '..', '..');
const INBOUND_TOKEN = 'inbound-token-for-caddy-test-01';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface RunningCaddy {
  /** The https port. */
  port: number;
  httpPort: number;
  adminPort: number;
  ca: Buffer;
  stop(): Promise<void>;
}

/** Runs Caddy on the project's Caddyfile, in front of `upstream`, with its state in a new directory. */
async function startCaddy(upstream: string): Promise<RunningCaddy> {
  const home = tempDir('caddy');
  const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  let output = '';
  const child: ChildProcess = spawn('caddy', ['run', '--config', join(ROOT, 'deploy', 'caddy', 'Caddyfile'), '--adapter', 'caddyfile'], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CONFIG_HOME: join(home, 'config'),
      SERVICE_DOMAIN: '127.0.0.1',
      SERVICE_UPSTREAM: upstream,
      CADDY_HTTPS_PORT: String(httpsPort),
      CADDY_HTTP_PORT: String(httpPort),
      CADDY_ADMIN: `127.0.0.1:${adminPort}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    // Only the process this test started, by its PID.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const caFile = join(home, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');
  let ca: Buffer | undefined;
  try {
    await expect
      .poll(
        async () => {
          if (child.exitCode !== null) throw new Error(`caddy exited (${child.exitCode}):\n${output}`);
          try {
            ca = readFileSync(caFile);
            return (await get({ port: httpsPort, ca }, '/healthz')).status;
          } catch {
            return 0;
          }
        },
        { timeout: 30_000, interval: 200 },
      )
      .not.toBe(0);
  } catch (error) {
    await stop();
    throw new Error(`caddy did not serve https on ${httpsPort}: ${(error as Error).message}\n${output}`);
  }
  return { port: httpsPort, httpPort, adminPort, ca: ca as Buffer, stop };
}

function get(to: { port: number; ca: Buffer }, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: to.port, ca: to.ca, path, method: options.method ?? 'GET', headers: options.headers, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}

function plainGet(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe.skipIf(!haveCaddy)('deploy/caddy/Caddyfile run by Caddy in front of the service', () => {
  let caddy: RunningCaddy | undefined;
  afterEach(async () => {
    await caddy?.stop();
    caddy = undefined;
  });

  it('hands the upstream the client\'s address, https and the host, never a forged X-Forwarded-For', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const upstream: Server = createServer((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    const port = await freePort();
    await new Promise<void>((resolve) => upstream.listen(port, '127.0.0.1', resolve));
    try {
      caddy = await startCaddy(`127.0.0.1:${port}`);
      const answer = await get(caddy, '/api/sms/inbound', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.66' }, body: '{}' });
      expect(answer.status).toBe(200);
      expect(answer.headers['strict-transport-security']).toBe('max-age=31536000');
      const headers = seen.at(-1);
      expect(headers?.['x-forwarded-for']).toBe('127.0.0.1');
      expect(headers?.['x-forwarded-proto']).toBe('https');
      expect(headers?.['x-forwarded-host']).toBe(`127.0.0.1:${caddy.port}`);
      expect(headers?.host).toBe(`127.0.0.1:${caddy.port}`);
      // Plain http is only a redirect to https.
      const plain = await plainGet(caddy.httpPort, '/healthz');
      expect(plain.status).toBe(308);
      expect(plain.headers.location).toMatch(/^https:\/\/127\.0\.0\.1/);
      // The compose health check's request: the admin API on loopback answers.
      expect((await plainGet(caddy.adminPort, '/config/')).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });

  describe('with the service behind it, TRUST_PROXY=127.0.0.1', () => {
    let service: RunningService;
    beforeAll(async () => {
      const config = testConfig({
        DATA_DIR: join(tempDir('caddy-service'), 'data'),
        MQTT_EMBEDDED_PORT: String(await freePort()),
        TRUST_PROXY: '127.0.0.1',
        SMS_INBOUND_TOKEN: INBOUND_TOKEN,
      });
      service = await startService({ config, registry: testRegistry(['tls-a']), log: pino({ level: 'silent' }) });
    });
    afterAll(async () => {
      await service?.stop();
    });

    it('passes /healthz, an SMS webhook and a sign-in through, the cookie Secure', async () => {
      const upstream = new URL(service.url);
      caddy = await startCaddy(`127.0.0.1:${upstream.port}`);
      const health = await get(caddy, '/healthz');
      expect(health.status).toBe(200);
      expect(health.headers['strict-transport-security']).toBe('max-age=31536000');

      const webhook = await get(caddy, '/api/sms/inbound', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INBOUND_TOKEN}` },
        body: JSON.stringify({ from: '+22376000000', text: 'ETAT tls-a', id: 'caddy-1' }),
      });
      expect(webhook.status, webhook.body).toBe(200);
      expect(JSON.parse(webhook.body)).toHaveProperty('outcome');
      const refused = await get(caddy, '/api/sms/inbound', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-token-0000000000' }, body: '{}' });
      expect(refused.status).toBe(403);

      // The service sees https through X-Forwarded-Proto, so the sign-in cookie is Secure.
      const origin = `https://127.0.0.1:${caddy.port}`;
      const login = await get(caddy, '/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
        body: new URLSearchParams({ token: OPERATOR_TOKEN, next: '/' }).toString(),
      });
      expect(login.status, login.body).toBe(303);
      const cookie = String(login.headers['set-cookie'] ?? '');
      expect(cookie).toMatch(/;\s*Secure/i);
      expect(cookie).toMatch(/HttpOnly/i);
    });
  });
});
