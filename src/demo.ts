/**
 * `npm run demo` (CONTRACT.md section 8): the whole system from one command on a bare machine.
 * The service on its embedded defaults (MQTT broker and time-series store in-process, SMS written
 * to the console) plus the firmware simulator playing the example registry with
 * `firmware-sim/scenarios/khabou-demo.yaml`: a week of history backfilled at full speed, then real
 * time, with a dry-run fault at Khabou in its first minutes and the repair loop of CONTRACT.md
 * section 9 after it: the simulator's people send their SMS (`OK`, `ARRIVE`, `PIECE`, `REPARE`) to
 * the service's inbound webhook, and the data verifies the repair. The console shows the SMS
 * exchange in order, one line each way: what the service sends (the console gateway's log line,
 * rewritten for people) and what the simulator's people send.
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
import pinoPretty from 'pino-pretty';
import type { SmsStepEvent } from '../firmware-sim/people.js';
import { startSimulation, type SimulationHandle } from '../firmware-sim/runner.js';
import { loadScenario } from '../firmware-sim/scenarios.js';
import { loadConfig, type Config } from './config/env.js';
import { ConfigError } from './config/errors.js';
import { loadRegistry, type Registry } from './config/registry.js';
import { localDate } from './reports/periods.js';
import { configSecrets, createLogger, maskPhone } from './observability/logger.js';
import { startService, type RunningService } from './service.js';

const DAY_MS = 86_400_000;
const SEED = 42;
/** An older demo timeline is not replayed (it would take a while): a new week starts instead. */
const MAX_REPLAY_MS = 60 * DAY_MS;
/** The devices get this long to leave cleanly; the service then has the rest of the 10 seconds. */
const SIMULATOR_STOP_MS = 4000;
/**
 * Khabou's `verify_minutes` in the demo: 5 minutes of pumping confirm the repair instead of the
 * 30 of the field, so that the loop closes in the demo's first minutes (the other parameters are
 * the registry's).
 */
const DEMO_VERIFY_MINUTES = 5;
const DEMO_VERIFY_BOREHOLE = 'khabou';
/** The console gateway's log message (src/notify/gateways/console.ts). */
const CONSOLE_GATEWAY_MSG = 'sms written to the log (console gateway)';

interface DemoState {
  startAtMs: number;
  seed: number;
  viewerToken: string;
  operatorToken: string;
  /** SMS_INBOUND_TOKEN, for the simulator's people; absent from a demo.json written before them. */
  inboundToken?: string;
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

/** The registry with Khabou's repair verified after DEMO_VERIFY_MINUTES of pumping. */
function demoRegistry(registry: Registry): Registry {
  const boreholes = new Map(registry.boreholes);
  const khabou = boreholes.get(DEMO_VERIFY_BOREHOLE);
  if (khabou) boreholes.set(DEMO_VERIFY_BOREHOLE, { ...khabou, rules: { ...khabou.rules, verify_minutes: DEMO_VERIFY_MINUTES } });
  return { ...registry, boreholes };
}

/**
 * Who a number is, for the SMS lines: `comité, Khabou`, `technicien`. Keyed by the number as the
 * log masks it (the console gateway's line never carries it whole, docs/security.md), and the
 * lines show it masked both ways: the demo's console is its log too.
 */
function whoIsWho(registry: Registry): Map<string, string> {
  const labels = new Map<string, Set<string>>();
  const add = (phone: string, label: string): void => {
    const key = maskPhone(phone);
    const set = labels.get(key) ?? new Set<string>();
    set.add(label);
    labels.set(key, set);
  };
  const technicianOf = new Map<string, string[]>();
  for (const borehole of registry.boreholes.values()) {
    for (const contact of borehole.committee.contacts) add(contact.phone, `comité, ${borehole.village}`);
    technicianOf.set(borehole.technician.phone, [...(technicianOf.get(borehole.technician.phone) ?? []), borehole.village]);
    if (borehole.backup_technician) add(borehole.backup_technician.phone, 'technicien de relève');
  }
  // A technician of one borehole is named with it; the Kayes technician of four, by role alone.
  for (const [phone, villages] of technicianOf) add(phone, villages.length === 1 ? `technicien, ${villages[0] ?? ''}` : 'technicien');
  for (const [region, contact] of Object.entries(registry.escalation)) add(contact.phone, `région, ${region}`);
  return new Map([...labels].map(([key, set]) => [key, [...set].join(' / ')]));
}

/**
 * The demo's console: the service's log as before (pretty in a terminal, JSON lines otherwise), and
 * one readable line per SMS. The console gateway's own line is replaced by it in a terminal; in a
 * pipe both are kept, the JSON one for whatever reads it.
 */
class DemoConsole {
  private readonly tty = process.stdout.isTTY;
  private readonly pretty = this.tty ? pinoPretty({ translateTime: 'SYS:HH:MM:ss', sync: true }) : null;
  private readonly clock: Intl.DateTimeFormat;

  constructor(
    private readonly labels: Map<string, string>,
    timeZone: string,
  ) {
    this.clock = new Intl.DateTimeFormat('fr-FR', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  /** pino's destination. */
  readonly destination = {
    write: (line: string): void => {
      const sms = this.consoleSms(line);
      if (sms) write(`${this.clock.format(sms.atMs)} → ${this.who(sms.to)}: ${sms.text}`);
      if (sms && this.tty) return;
      if (this.pretty) this.pretty.write(line);
      else process.stdout.write(line);
    },
    flush: (done: (error?: Error) => void): void => done(),
  };

  /** A line of the simulator's people: sent (←), or what went wrong with it. */
  inbound(event: SmsStepEvent): void {
    const who = this.who(maskPhone(event.person.phone));
    if (event.stage === 'sending') write(`${this.clock.format(Date.now())} ← ${who}: ${event.text}`);
    else if (event.stage === 'failed') write(`${this.clock.format(Date.now())} ✗ ${who}: "${event.text}" not sent: ${event.error ?? ''}`);
    else if (event.status !== 200) write(`${this.clock.format(Date.now())} ✗ ${who}: "${event.text}" refused: ${event.status ?? ''} ${event.error ?? ''}`);
  }

  private who(masked: string): string {
    const label = this.labels.get(masked);
    return label ? `${masked} (${label})` : masked;
  }

  private consoleSms(line: string): { atMs: number; to: string; text: string } | null {
    if (!line.includes(CONSOLE_GATEWAY_MSG)) return null;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; time?: unknown; to?: unknown; text?: unknown };
      if (entry.msg !== CONSOLE_GATEWAY_MSG || typeof entry.to !== 'string' || typeof entry.text !== 'string') return null;
      return { atMs: typeof entry.time === 'number' ? entry.time : Date.now(), to: entry.to, text: entry.text };
    } catch {
      return null;
    }
  }
}

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
    `Then the repair loop: the committee answers OK, the technician sends ARRIVE, PIECE and, 12 minutes in, REPARE;`,
    `${DEMO_VERIFY_MINUTES} minutes of pumping (verify_minutes, lowered for the demo) verify it and the committee hears the water is back.`,
    'The pump is solar: by night the verification waits for the morning sun. SMS lines: → sent by the service, ← sent to it.',
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
    inboundToken: previous?.inboundToken ?? token(),
  };
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  const generatedTokens = !env.API_TOKENS?.trim();
  // The simulator's people read the incident code with the demo's viewer token, also when the
  // tokens are the caller's own.
  env.API_TOKENS = generatedTokens ? `viewer:${state.viewerToken},operator:${state.operatorToken}` : `${env.API_TOKENS?.trim() ?? ''},viewer:${state.viewerToken}`;
  // The inbound webhook the simulator's people write to (CONTRACT.md section 5).
  if (!env.SMS_INBOUND_TOKEN?.trim()) env.SMS_INBOUND_TOKEN = state.inboundToken;

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
  const registry = demoRegistry(await loadRegistry(config.boreholesFile));
  const demoConsole = new DemoConsole(whoIsWho(registry), config.reportTz);
  const log = createLogger(config.logLevel, demoConsole.destination, { secrets: configSecrets(config) });
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
      people: {
        serviceUrl: service.url.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1'),
        inboundToken: config.sms.inboundToken ?? state.inboundToken ?? '',
        viewerToken: state.viewerToken,
      },
      onSms: (event) => demoConsole.inbound(event),
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
