/**
 * The service image without Docker: the Dockerfile's final stage laid out in a directory by
 * following its COPY lines (the build stage's output being the project's compiled code and its
 * node_modules), then run as the image runs it. A file the service or the simulator reads at run
 * time and the Dockerfile forgets to copy fails here, not on the district server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/servers.js';
import { waitUntil } from '../../support/wait.js';
import { ROOT, copyArgs, loadCompose, parseDockerfile, readRootFile, rootPath } from './support.js';

const stages = parseDockerfile(readRootFile('Dockerfile'));
const final = stages.at(-1);
const VIEWER_TOKEN = 'viewer-image-test-0123456789';

/**
 * The build stage's `tsc -p tsconfig.build.json`: the same files and compiler, each file
 * transpiled on its own (the type check is `npx tsc`'s job, and takes a minute here).
 */
function compile(outDir: string): void {
  const configFile = ts.readConfigFile(rootPath('tsconfig.build.json'), (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, ROOT);
  expect(parsed.fileNames.length).toBeGreaterThan(10);
  for (const file of parsed.fileNames) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { ...parsed.options, module: ts.ModuleKind.ESNext, sourceMap: false, declaration: false },
    });
    const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}

/** The image's /app: every COPY of the final stage, from the context or from the build stage. */
function assemble(root: string): { app: string; env: Record<string, string>; cmd: string[]; healthcheck: string[] } {
  if (!final) throw new Error('the Dockerfile has no stage');
  const build = join(root, 'build');
  compile(join(build, 'dist'));
  const fromBuild = (source: string): string => {
    const inApp = relative('/app', source);
    if (inApp === 'dist') return join(build, 'dist');
    // npm prune --omit=dev is not repeated here: the project's node_modules stand in.
    return rootPath(inApp);
  };
  const app = join(root, 'app');
  mkdirSync(app);
  const env: Record<string, string> = {};
  let cmd: string[] = [];
  let healthcheck: string[] = [];
  for (const { keyword, args } of final.instructions) {
    if (keyword === 'WORKDIR') expect(args).toBe('/app');
    if (keyword === 'ENV') for (const pair of args.split(/\s+/)) env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
    if (keyword === 'CMD') cmd = JSON.parse(args) as string[];
    if (keyword === 'HEALTHCHECK') healthcheck = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(args)?.[1] ?? '[]') as string[];
    if (keyword !== 'COPY') continue;
    const { from, sources, destination } = copyArgs(args);
    for (const source of sources) {
      const origin = from === undefined ? rootPath(source) : fromBuild(source);
      const target = join(app, destination.endsWith('/') || destination === './' ? source.split('/').at(-1) ?? '' : destination);
      mkdirSync(dirname(target), { recursive: true });
      if (relative(ROOT, origin) === 'node_modules') symlinkSync(origin, target, 'dir');
      else cpSync(origin, target, { recursive: true });
    }
  }
  return { app, env, cmd, healthcheck };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('the service image, laid out as its Dockerfile says', () => {
  let root: string;
  let image: ReturnType<typeof assemble>;
  let service: ChildProcess | undefined;
  let output = '';
  let env: Record<string, string>;
  let httpPort: number;
  let mqttPort: number;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'image-'));
    image = assemble(root);
    httpPort = await freePort();
    mqttPort = await freePort();
    const { PATH = '', HOME = root } = process.env;
    env = {
      PATH,
      HOME,
      ...image.env,
      // Embedded broker and store: this test is about the image's files, not its neighbours.
      DATA_DIR: join(root, 'data'),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      MQTT_EMBEDDED_PORT: String(mqttPort),
      API_TOKENS: `viewer:${VIEWER_TOKEN}`,
      LOG_LEVEL: 'warn',
    };
  }, 120_000);

  afterAll(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGKILL');
      await exitOf(service);
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs the service with its CMD as an image would, and its HEALTHCHECK finds it ready', async () => {
    expect(image.cmd).toEqual(['node', 'dist/src/main.js']);
    const [command = '', ...args] = image.cmd;
    service = spawn(command, args, { cwd: image.app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    service.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    service.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [check = '', ...checkArgs] = image.healthcheck;
    expect(check).toBe('node');
    await waitUntil(() => {
      if (service?.exitCode !== null) throw new Error(`the service exited (${String(service?.exitCode)}):\n${output}`);
      return spawnSync(check, checkArgs, { cwd: image.app, env, timeout: 10_000 }).status === 0;
    }, `the image's healthcheck to pass; service output:\n${output}`, 60_000);

    // The pages' assets and the example registry come from the image, not from the project.
    const page = await fetch(`http://127.0.0.1:${httpPort}/login`);
    expect(page.status).toBe(200);
    const css = /href="(\/assets\/app\.css\?v=[0-9a-f]+)"/.exec(await page.text())?.[1];
    expect(css).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${httpPort}${css ?? ''}`)).status).toBe(200);
    expect(existsSync(join(image.app, 'src', 'http', 'pages', 'assets', 'app.css'))).toBe(true);
  }, 120_000);

  it('runs the demo profile\'s simulator from the same image, and the service stores what it sends', async () => {
    expect(service?.exitCode).toBeNull();
    const help = spawnSync('node', ['dist/firmware-sim/cli.js', '--help'], { cwd: image.app, env, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: npm run sim');

    // The compose command's scenario and seed; half an hour of history, then it stops.
    const command = [loadCompose().services.simulator?.command ?? ''].flat().join('\n');
    const scenario = /--scenario (\S+)/.exec(command)?.[1] ?? '';
    const sim = spawnSync(
      'node',
      ['dist/firmware-sim/cli.js', '--broker', `mqtt://127.0.0.1:${mqttPort}`, '--registry', 'config/boreholes.example.yaml', '--scenario', scenario, '--seed', '42', '--from', '-30m', '--duration', '20m'],
      { cwd: image.app, env, encoding: 'utf8', timeout: 60_000 },
    );
    expect(sim.status, `${sim.stdout}\n${sim.stderr}`).toBe(0);
    await expect
      .poll(async () => {
        const response = await fetch(`http://127.0.0.1:${httpPort}/api/boreholes`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
        const { items } = (await response.json()) as { items: { id: string; last_seen_at: string | null }[] };
        return items.find((b) => b.id === 'khabou')?.last_seen_at ?? null;
      }, { timeout: 30_000 })
      .not.toBeNull();
  }, 120_000);

  it('stops cleanly on SIGTERM, as docker stop sends it', async () => {
    expect(service?.exitCode).toBeNull();
    service?.kill('SIGTERM');
    expect(await exitOf(service as ChildProcess)).toBe(0);
  }, 60_000);
});
