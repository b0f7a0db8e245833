/**
 * deploy/caddy/Caddyfile, checked by Caddy itself (Debian's `caddy`, as scripts/test.sh installs
 * it): it validates with the variables docker-compose.yml gives it, and its JSON form says what an
 * operator relies on: the domain from SERVICE_DOMAIN, HSTS, the proxy to the service, the admin
 * API on loopback. Run for real in front of the service: tests/integration/caddy-tls.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/fixtures.js';
import { hasBinary } from '../../support/servers.js';
import { ROOT } from './support.js';

const haveCaddy = hasBinary('caddy');
if (!haveCaddy) {
  if (process.env.CI === 'true') throw new Error('the Caddyfile checks need caddy: apt-get install -y --no-install-recommends caddy');
  console.warn('!!! Caddyfile checks SKIPPED: caddy not found (apt-get install -y --no-install-recommends caddy)');
}

const CADDYFILE = join(ROOT, 'deploy', 'caddy', 'Caddyfile');

/** Caddy with its state in a new directory, never the user's, and only the given variables. */
function caddy(args: string[], env: Record<string, string>): { status: number | null; stdout: string; output: string } {
  const home = tempDir('caddy-check');
  const result = spawnSync('caddy', args, {
    cwd: home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), ...env },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

const COMPOSE_ENV = { SERVICE_DOMAIN: 'boreholes.example.org', SERVICE_UPSTREAM: 'service:8080' };

interface Handler {
  handler: string;
  response?: { set?: Record<string, string[]>; deferred?: boolean };
  upstreams?: { dial: string }[];
}

describe.skipIf(!haveCaddy)('deploy/caddy/Caddyfile', () => {
  it('is valid for Caddy with the variables of docker-compose.yml', () => {
    const result = caddy(['validate', '--config', CADDYFILE, '--adapter', 'caddyfile'], COMPOSE_ENV);
    expect(result.output).toMatch(/Valid configuration/);
    expect(result.status, result.output).toBe(0);
  });

  it('is refused without SERVICE_DOMAIN, so the container\'s hint is what an operator sees first', () => {
    expect(caddy(['validate', '--config', CADDYFILE, '--adapter', 'caddyfile'], { SERVICE_UPSTREAM: 'service:8080' }).status).not.toBe(0);
  });

  it('serves SERVICE_DOMAIN over HTTPS with HSTS, proxying to the service, its admin API on loopback', () => {
    const result = caddy(['adapt', '--config', CADDYFILE, '--adapter', 'caddyfile'], COMPOSE_ENV);
    expect(result.status, result.output).toBe(0);
    const config = JSON.parse(result.stdout) as {
      admin: { listen: string };
      apps: { http: { servers: Record<string, { listen: string[]; routes: { match: { host: string[] }[]; handle: { handler: string; routes: { handle: Handler[] }[] }[] }[] }> } };
    };
    expect(config.admin.listen).toBe('127.0.0.1:2019');
    const servers = Object.values(config.apps.http.servers);
    expect(servers).toHaveLength(1);
    const [server] = servers;
    expect(server?.listen).toEqual([':443']);
    const [route] = server?.routes ?? [];
    expect(route?.match).toEqual([{ host: ['boreholes.example.org'] }]);
    const handlers = (route?.handle ?? []).flatMap((h) => (h.handler === 'subroute' ? h.routes.flatMap((r) => r.handle) : [h as unknown as Handler]));
    const headers = handlers.find((h) => h.handler === 'headers');
    expect(headers?.response).toMatchObject({ set: { 'Strict-Transport-Security': ['max-age=31536000'] }, deferred: true });
    const proxy = handlers.find((h) => h.handler === 'reverse_proxy');
    expect(proxy?.upstreams).toEqual([{ dial: 'service:8080' }]);
  });
});
