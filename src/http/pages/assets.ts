/**
 * The pages' static files, served from memory: our stylesheet and chart script (plain CSS and
 * JavaScript, no build step) and uPlot from node_modules. Nothing is fetched from the internet.
 * URLs carry a content hash, so a phone on a slow link keeps them cached until they change.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import type { AssetUrls } from './layout.js';

interface Asset {
  body: Buffer;
  type: string;
  hash: string;
}

/**
 * `src/http/pages/assets`, found by walking up from this module, which sits at another depth when
 * built (`dist/src/http/pages`), where tsc copies no CSS or JavaScript.
 */
function assetDir(): string {
  const relative = join('src', 'http', 'pages', 'assets');
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, relative, 'app.css'))) return join(dir, relative);
    if (existsSync(join(dir, 'assets', 'app.css'))) return join(dir, 'assets');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`page assets not found (looked for ${relative} above ${fileURLToPath(import.meta.url)})`);
    dir = parent;
  }
}

function load(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) };
}

export interface PageAssets {
  urls: AssetUrls;
  plugin: FastifyPluginAsync;
}

export function loadPageAssets(): PageAssets {
  const dir = assetDir();
  const require = createRequire(import.meta.url);
  const uplotDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const assets = new Map<string, Asset>([
    ['app.css', load(join(dir, 'app.css'), 'text/css; charset=utf-8')],
    ['charts.js', load(join(dir, 'charts.js'), 'text/javascript; charset=utf-8')],
    ['favicon.svg', load(join(dir, 'favicon.svg'), 'image/svg+xml')],
    ['uplot.min.css', load(join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8')],
    ['uplot.iife.min.js', load(join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
  ]);
  const url = (name: string): string => `/assets/${name}?v=${assets.get(name)?.hash ?? ''}`;
  const plugin: FastifyPluginAsync = async (app) => {
    app.get<{ Params: { name: string } }>('/assets/:name', { schema: { hide: true } }, async (request, reply) => {
      const asset = assets.get(request.params.name);
      if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
      const etag = `"${asset.hash}"`;
      reply.header('etag', etag).header('cache-control', 'public, max-age=604800');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    });
  };
  return {
    urls: { css: url('app.css'), icon: url('favicon.svg'), chartsJs: url('charts.js'), uplotCss: url('uplot.min.css'), uplotJs: url('uplot.iife.min.js') },
    plugin,
  };
}
