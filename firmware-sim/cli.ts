/**
 * `npm run sim -- …`: the firmware simulator alone, against any broker (CONTRACT.md section 8).
 * Ctrl-C or SIGTERM stops it cleanly: held readings are sent and every device disconnects, so
 * the broker publishes no Last Will. Killed outright, the devices' wills go out.
 */
import { loadCredentials, missingCredentials } from './credentials.js';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config/errors.js';
import { loadRegistry } from '../src/config/registry.js';
import { DEFAULT_TOPIC_ROOT } from '../src/contract/topics.js';
import { formatDuration, parseDuration, parseSpeed, parseStart } from './clock.js';
import { runLoad } from './load.js';
import { startSimulation, type SimulationHandle } from './runner.js';
import { loadScenario, normalLife } from './scenarios.js';
import type { FieldTimingOptions } from './timing.js';

export { startSimulation, type SimulationHandle, type SimulationOptions } from './runner.js';
export { runLoad, type LoadOptions, type LoadResult } from './load.js';
export { loadScenario, parseScenario } from './scenarios.js';

const DEFAULT_REGISTRY = 'config/boreholes.example.yaml';
const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

export const USAGE = `Usage: npm run sim -- [options]

Plays the boreholes of a registry as their telemetry units would, publishing the MQTT messages of
CONTRACT.md section 1. A run can start in the past and catch up with now, then goes on in real time.

  --registry <file>     borehole registry (default: ${DEFAULT_REGISTRY})
  --scenario <file>     scenario file (default: normal life everywhere); see firmware-sim/scenarios/
  --broker <url>        MQTT broker (default: ${DEFAULT_BROKER})
  --topic-root <root>   topic root (default: ${DEFAULT_TOPIC_ROOT})
  --credentials <file>  log each borehole in as its id with its password, from "id:password" lines
                        (the broker's devices file, deploy/mosquitto/devices.txt)
  --from <when>         start: now, an offset such as -7d or -2h30m, or an RFC 3339 time
                        (default: the scenario's "from", else now)
  --speed <n|max>       how fast to catch up with now: a factor such as 600, or max (default: max,
                        history then goes out as store-and-forward batches)
  --seed <n>            seed of the physical model (default: 1)
  --interval <dur>      reporting interval (default: the scenario's, else 1m)
  --duration <dur>      stop after this much simulated time (default: run until Ctrl-C)
  --no-field-timing     the lab's timing: every topic stamped on the interval and sent at once
                        (default: field timing, docs/simulator.md: topics measured seconds apart,
                        GPRS latency, drifting clocks, devices without a clock)
  --clockless <share>   share of the devices without a clock, 0 to 1 (default: 0.1)

Load mode, for benchmarks:
  --load                N virtual devices publishing live single readings
  --devices <n>         number of virtual devices (default: 100)
  --rate <n|max>        total readings per second, or max (default: max)
  --duration <dur>      how long to run, in real time (default: 60s)
  --connections <n>     MQTT connections (default: one per device up to 100 devices, else 16)

  --help                this text

Examples:
  npm run sim -- --scenario firmware-sim/scenarios/khabou-demo.yaml --from -7d --speed max --seed 42
  npm run sim -- --broker mqtt://127.0.0.1:1883 --from -1d --speed 600
  npm run sim -- --load --devices 1000 --rate 5000 --duration 30s
`;

class UsageError extends Error {}

const OPTIONS = {
  registry: { type: 'string' },
  scenario: { type: 'string' },
  broker: { type: 'string' },
  'topic-root': { type: 'string' },
  credentials: { type: 'string' },
  from: { type: 'string' },
  speed: { type: 'string' },
  seed: { type: 'string' },
  interval: { type: 'string' },
  duration: { type: 'string' },
  'no-field-timing': { type: 'boolean' },
  clockless: { type: 'string' },
  load: { type: 'boolean' },
  devices: { type: 'string' },
  rate: { type: 'string' },
  connections: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<T>(option: string, value: string, parser: (text: string) => T): T {
  try {
    return parser(value);
  } catch (error) {
    throw new UsageError(`--${option}: ${(error as Error).message}`);
  }
}

function share(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value <= 1)) throw new Error(`"${text}" is not a share between 0 and 1`);
  return value;
}

/** `--no-field-timing` and `--clockless` as the runner's and load mode's option. */
function fieldTimingOption(values: Values): FieldTimingOptions | false {
  const clocklessText = text(values, 'clockless');
  if (values['no-field-timing'] === true) {
    if (clocklessText !== undefined) throw new UsageError('--clockless: not with --no-field-timing (every device then has a clock)');
    return false;
  }
  return clocklessText === undefined ? {} : { clocklessFraction: parse('clockless', clocklessText, share) };
}

function wholeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`"${text}" is not a whole number`);
  return value;
}

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/**
 * node:util's parseArgs takes `-7d` after `--from` for an option of its own and refuses it;
 * `--from -7d` is how people write it, so glue negative values to their option first.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    const next = argv[index + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    const takesValue = name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'string';
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      index += 1;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>>['values'];
  try {
    values = parseArgs({ args: joinNegativeValues(argv), options: OPTIONS, strict: true }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return values.load ? await loadMode(values) : await simulate(values);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\nnpm run sim -- --help for the options\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(`simulator failed: ${(error as Error).message}\n`);
    return 1;
  }
}

type Values = Partial<Record<keyof typeof OPTIONS, string | boolean>>;
const text = (values: Values, key: keyof typeof OPTIONS): string | undefined => {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
};

/** Stops on the first SIGINT or SIGTERM; a second one ends the process at once. */
function onSignals(stop: () => Promise<void>): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    write(`${signal}: stopping cleanly (again to force)`);
    void stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

async function simulate(values: Values): Promise<number> {
  const nowMs = Date.now();
  const registry = await loadRegistry(text(values, 'registry') ?? DEFAULT_REGISTRY);
  const scenarioPath = text(values, 'scenario');
  const scenario = scenarioPath === undefined ? normalLife() : await loadScenario(scenarioPath);
  const fromOption = text(values, 'from');
  const fromText = fromOption ?? scenario.from ?? 'now';
  const fromLabel = fromOption === undefined && scenario.from !== undefined ? `from (in ${scenario.source})` : 'from';
  const startAtMs = parse(fromLabel, fromText, (value) => parseStart(value, nowMs));
  const speedText = text(values, 'speed');
  const seedText = text(values, 'seed');
  const intervalText = text(values, 'interval');
  const durationText = text(values, 'duration');
  const durationMs = durationText === undefined ? undefined : parse('duration', durationText, parseDuration);
  const intervalMs = intervalText === undefined ? undefined : parse('interval', intervalText, parseDuration);
  if (intervalMs !== undefined && intervalMs < 1000) throw new UsageError('--interval: at least 1s');
  const brokerUrl = text(values, 'broker') ?? DEFAULT_BROKER;
  const topicRoot = text(values, 'topic-root') ?? DEFAULT_TOPIC_ROOT;
  const seed = seedText === undefined ? 1 : parse('seed', seedText, wholeNumber);
  const credentialsPath = text(values, 'credentials');
  const credentials = credentialsPath === undefined ? undefined : await loadCredentials(credentialsPath).catch((error: Error) => {
    throw new UsageError(`--credentials: ${error.message}`);
  });
  const missing = credentials === undefined ? [] : missingCredentials(registry.boreholes.keys(), credentials);
  if (missing.length > 0) throw new UsageError(`--credentials: no password for ${missing.join(', ')} (the broker would refuse them)`);
  const fieldTiming = fieldTimingOption(values);

  write(
    `scenario: ${scenario.name ?? scenario.source} (${scenario.events.length} events) · broker ${brokerUrl} · root ${topicRoot} · seed ${seed}` +
      (durationMs === undefined ? '' : ` · for ${formatDuration(durationMs)}`) +
      (fieldTiming === false ? ' · lab timing' : ' · field timing'),
  );
  const handle: SimulationHandle = await startSimulation({
    registry,
    scenario,
    brokerUrl,
    topicRoot,
    startAtMs,
    speed: speedText === undefined ? 'max' : parse('speed', speedText, parseSpeed),
    seed,
    fieldTiming,
    ...(credentials === undefined ? {} : { credentials }),
    ...(intervalMs === undefined ? {} : { intervalMs }),
    ...(durationMs === undefined ? {} : { untilMs: startAtMs + durationMs }),
    onProgress: write,
  });
  const release = onSignals(async () => {
    await handle.stop();
  });
  try {
    const stats = await handle.done;
    return stats.failedMessages > 0 ? 1 : 0;
  } finally {
    release();
  }
}

async function loadMode(values: Values): Promise<number> {
  const rateText = text(values, 'rate') ?? 'max';
  const rate = rateText === 'max' ? 'max' : parse('rate', rateText, wholeNumber);
  if (rate === 0) throw new UsageError('--rate: at least 1 reading per second, or max');
  const devicesText = text(values, 'devices');
  const connectionsText = text(values, 'connections');
  const durationText = text(values, 'duration');
  const controller = new AbortController();
  const release = onSignals(async () => {
    controller.abort();
  });
  try {
    const result = await runLoad({
      url: text(values, 'broker') ?? DEFAULT_BROKER,
      topicRoot: text(values, 'topic-root') ?? DEFAULT_TOPIC_ROOT,
      devices: devicesText === undefined ? 100 : parse('devices', devicesText, wholeNumber),
      rate,
      durationMs: durationText === undefined ? 60_000 : parse('duration', durationText, parseDuration),
      ...(connectionsText === undefined ? {} : { connections: parse('connections', connectionsText, wholeNumber) }),
      onProgress: write,
      signal: controller.signal,
    });
    return result.failed > 0 ? 1 : 0;
  } finally {
    release();
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
  // mqtt.js may hold a reconnect timer for a broker that went away; the run is over either way.
  process.exit();
}
