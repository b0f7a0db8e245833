/**
 * `npm run demo` (CONTRACT.md section 8): the whole system from one command on a bare machine.
 * The service on its embedded defaults (MQTT broker and time-series store in-process, SMS written
 * to the console) plus the firmware simulator playing the example registry with
 * `firmware-sim/scenarios/khabou-demo.yaml`: a week of history backfilled at full speed, then real
 * time, with a dry-run fault at Khabou in its first minutes.
 *
 * It prints the URLs to open and the tokens to open them with. Viewer and operator tokens are
 * generated on the first run (unless API_TOKENS is set) and kept with the simulation's start in
 * `DATA_DIR/demo.json`, so a restart carries on: same tokens, and the same simulation replayed from
 * the same start and seed, which gives the same readings (stored once) and the same fault, then
 * fills the time the demo was stopped. Ctrl-C or SIGTERM stops the devices cleanly, then the
 * service, flushing what it holds.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulation, type SimulationHandle } from '../firmware-sim/runner.js';
import { loadScenario } from '../firmware-sim/scenarios.js';
import { loadConfig, type Config } from './config/env.js';
import { ConfigError } from './config/errors.js';
import { loadRegistry } from './config/registry.js';
import { localDate } from './reports/periods.js';
import { configSecrets, createLogger } from './observability/logger.js';
import { startService, type RunningService } from './service.js';

const DAY_MS = 86_400_000;
const SEED = 42;
/** An older demo timeline is not replayed (it would take a while): a new week starts instead. */
const MAX_REPLAY_MS = 60 * DAY_MS;
/** The devices get this long to leave cleanly; the service then has the rest of the 10 seconds. */
const SIMULATOR_STOP_MS = 4000;

interface DemoState {
  startAtMs: number;
  seed: number;
  viewerToken: string;
  operatorToken: string;
}

/** A file shipped at the package root, from source (`src/`) or built (`dist/src/`). */
function packageFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    const parent = dirname(dir);
    if (parent === dir) return resolve(relative);
    dir = parent;
  }
}

function readState(path: string): DemoState | null {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as Partial<DemoState>;
    if (typeof state.startAtMs === 'number' && typeof state.seed === 'number' && typeof state.viewerToken === 'string' && typeof state.operatorToken === 'string') {
      return state as DemoState;
    }
  } catch {
    // absent or unreadable: a new demo
  }
  return null;
}

const token = (): string => randomBytes(18).toString('base64url');

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The demo's week of history and today, as the report page takes a period. */
function weekQuery(tz: string): string {
  const nowMs = Date.now();
  return `from=${localDate(nowMs - 7 * 86_400_000, tz)}&to=${localDate(nowMs + 86_400_000, tz)}`;
}

function banner(config: Config, service: RunningService, state: DemoState, generatedTokens: boolean, brokerUrl: string, resumed: boolean): string {
  const base = service.url.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1');
  const port = new URL(brokerUrl).port;
  const lines = [
    '',
    'Borehole monitoring demo: the service on its embedded defaults, with five simulated boreholes.',
    '',
    `  pages            ${base}/                 (sign in with the viewer or operator token)`,
    `  boreholes (API)  ${base}/api/boreholes`,
    `  alerts (API)     ${base}/api/alerts`,
    `  uptime report    ${base}/reports?${weekQuery(config.reportTz)}   (the simulated week)`,
    `  metrics          ${base}/metrics`,
    `  MQTT broker      ${brokerUrl}     try: mosquitto_pub -p ${port} -q 1 -t boreholes/khabou/flow -m '{"rate_lpm":3}'`,
    '',
  ];
  if (generatedTokens) {
    lines.push(
      `  viewer token     ${state.viewerToken}`,
      `  operator token   ${state.operatorToken}`,
      `  e.g. curl -H 'Authorization: Bearer ${state.viewerToken}' ${base}/api/boreholes`,
    );
  } else {
    lines.push('  tokens           the ones in API_TOKENS');
  }
  lines.push(
    '',
    resumed
      ? `Resuming the demo started ${new Date(state.startAtMs).toISOString()} from ${config.dataDir}: the same week is replayed (stored once), then real time.`
      : 'A week of history goes in first (a few seconds), then real time. In the first minutes Khabou runs dry and its pump trips:',
    resumed
      ? 'SMS are written to this console (SMS_PROVIDER=console). Ctrl-C stops.'
      : 'watch /api/alerts, and the SMS in this console (SMS_PROVIDER=console). Ctrl-C stops; `npm run demo` again carries on.',
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const env: Record<string, string | undefined> = { ...process.env };
  // Never a real SMS to the example registry's (fictitious) numbers.
  env.SMS_PROVIDER = 'console';
  const dataDir = env.DATA_DIR?.trim() ? env.DATA_DIR : './data';
  mkdirSync(dataDir, { recursive: true });
  const statePath = join(dataDir, 'demo.json');
  const nowMs = Date.now();
  const previous = readState(statePath);
  const resumed = previous !== null && nowMs - previous.startAtMs < MAX_REPLAY_MS;
  const state: DemoState = {
    startAtMs: resumed ? previous.startAtMs : nowMs - 7 * DAY_MS,
    seed: previous?.seed ?? SEED,
    viewerToken: previous?.viewerToken ?? token(),
    operatorToken: previous?.operatorToken ?? token(),
  };
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  const generatedTokens = !env.API_TOKENS?.trim();
  if (generatedTokens) env.API_TOKENS = `viewer:${state.viewerToken},operator:${state.operatorToken}`;

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger(config.logLevel, undefined, { secrets: configSecrets(config) });
  const registry = await loadRegistry(config.boreholesFile);
  const scenario = await loadScenario(packageFile(join('firmware-sim', 'scenarios', 'khabou-demo.yaml')));

  const service = await startService({ config, registry, log });
  const { host, port } = config.mqtt.embedded;
  const brokerUrl = config.mqtt.url ?? `mqtt://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  log.info({ url: service.url, broker: brokerUrl, dataDir: config.dataDir }, 'service ready');
  write(banner(config, service, state, generatedTokens, brokerUrl, resumed));

  let sim: SimulationHandle | null = null;
  let stopping: Promise<number> | null = null;
  const stop = (signal: string): Promise<number> => {
    stopping ??= (async () => {
      write(`${signal}: stopping cleanly (again to force)`);
      const startedAt = Date.now();
      if (sim) {
        const leaving = sim.stop();
        await Promise.race([leaving, new Promise((done) => setTimeout(done, SIMULATOR_STOP_MS).unref())]);
      }
      await service.stop();
      write(`stopped in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; the data stays in ${config.dataDir}`);
      return 0;
    })();
    return stopping;
  };
  let firstSignalAtMs = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // Ctrl-C in a terminal reaches npm and this process alike, and npm passes it on again:
      // a repeat within a second is that echo, not a second Ctrl-C.
      if (Date.now() - firstSignalAtMs < 1000) return;
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    firstSignalAtMs = Date.now();
    void stop(signal).then(
      (code) => {
        log.flush();
        process.exit(code);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    sim = await startSimulation({
      registry,
      scenario,
      brokerUrl,
      topicRoot: config.mqtt.topicRoot,
      startAtMs: state.startAtMs,
      speed: 'max',
      seed: state.seed,
      onProgress: (line) => write(`[simulator] ${line}`),
    });
  } catch (error) {
    if (stopping) return stopping;
    log.error({ err: error }, 'the simulator could not start');
    await stop('error');
    return 1;
  }
  if (stopping) await sim.stop();
  void sim.caughtUp.then(() => {
    if (!stopping) write(`[demo] the week is in; live from now on. Open ${service.url.replace('://0.0.0.0', '://127.0.0.1')}/ (viewer token above).`);
  });
  // Runs until a signal; the simulator ends only when stopped.
  await sim.done.catch((error: unknown) => log.error({ err: error }, 'the simulator stopped'));
  return stopping ?? new Promise<number>(() => undefined);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
