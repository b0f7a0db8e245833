/**
 * The scenario's people (firmware-sim/people.ts): `sms` steps parsed and refused as scenario
 * events are, senders resolved against the registry, `{code}` filled from the service's open
 * incident (looked up again while the route or the incident is not there yet), steps sent in
 * order and only live; and the physical repair the stories pair with `REPARE`: the model pumps
 * normally afterwards, long enough for the data to verify it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, scaledClock, type Clock } from '../../../firmware-sim/clock.js';
import { fillTemplate, parseSender, People, placeholdersOf, resolveSender, type SmsStepEvent } from '../../../firmware-sim/people.js';
import { startSimulation, type SimulationOptions } from '../../../firmware-sim/runner.js';
import { loadScenario, parseScenario, scenarioBoreholes, scheduleEvents } from '../../../firmware-sim/scenarios.js';
import { exampleBorehole, exampleRegistry, FakeClock, MemoryTransport, SCENARIO_DIR, simulate } from '../../../firmware-sim/test-helpers.js';

function problems(yaml: string): string[] {
  try {
    parseScenario(yaml, 'people.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('the scenario was accepted');
}

describe('sms steps in a scenario', () => {
  it('parse: when, which borehole, who, what', () => {
    const scenario = parseScenario('events: [{ at: 26h, borehole: khabou, type: sms, from: technician, text: "REPARE {code} roulement change" }]', 'sms.yaml');
    expect(scenario.events).toEqual([{ at: 26 * HOUR_MS, borehole: 'khabou', type: 'sms', from: 'technician', text: 'REPARE {code} roulement change' }]);
  });

  it('refuse an unknown sender, an unknown placeholder, an empty or over-long text, naming the event', () => {
    const found = problems(`
events:
  - { at: 1h, borehole: khabou, type: sms, from: mayor, text: "OK {code}" }
  - { at: 1h, borehole: khabou, type: sms, from: technician, text: "ARRIVE {incident}" }
  - { at: 1h, borehole: khabou, type: sms, from: "committee[0]", text: "  " }
  - { at: 1h, borehole: khabou, type: sms, from: "committee[0]", text: "${'x'.repeat(161)}" }
  - { at: 1h, borehole: khabou, type: sms, text: OK }`);
    expect(found.some((line) => line.startsWith('events[0] (sms on khabou).from: "mayor" is not a sender'))).toBe(true);
    expect(found).toContain('events[1] (sms on khabou).text: knows the placeholders {code} and {borehole}, not {incident}');
    expect(found).toContain('events[2] (sms on khabou).text: must not be empty');
    expect(found).toContain('events[3] (sms on khabou).text: must fit one SMS (160 characters)');
    expect(found.some((line) => line.startsWith('events[4] (sms on khabou).from'))).toBe(true);
  });

  it('may be about a registry borehole that has no device in the run (a handpump), never about an unknown one', () => {
    const registry = exampleRegistry();
    const handpump = parseScenario('boreholes: [segala]\nevents: [{ at: 1h, borehole: khabou, type: sms, from: "committee[0]", text: PANNE }]', 'handpump.yaml');
    expect(scenarioBoreholes(handpump, registry)).toEqual(['segala']);
    const unknown = parseScenario('boreholes: [segala]\nevents: [{ at: 1h, borehole: nowhere, type: sms, from: "committee[0]", text: PANNE }]', 'unknown.yaml');
    expect(() => scenarioBoreholes(unknown, registry)).toThrow(/"nowhere" is not in the registry/);
  });
});

describe('senders and texts', () => {
  const khabou = exampleBorehole('khabou');

  it('name people by role at the borehole, or by number', () => {
    expect(resolveSender(parseSender('technician'), khabou)).toEqual({ phone: '+22379000003', name: 'Technicien de Kayes', role: 'technician' });
    expect(resolveSender(parseSender('committee[1]'), khabou)).toEqual({ phone: '+22366000002', name: 'Trésorière', role: 'committee' });
    expect(resolveSender(parseSender('+22370000099'), khabou)).toEqual({ phone: '+22370000099', name: null, role: 'number' });
    expect(() => resolveSender(parseSender('committee[2]'), khabou)).toThrow('khabou has 2 committee contacts: committee[2] is not one');
    expect(() => resolveSender(parseSender('backup_technician'), khabou)).toThrow(/no backup_technician/);
    expect(() => parseSender('committee[x]')).toThrow(/is not a sender/);
  });

  it('fill {code} and {borehole}, and leave a placeholder without a value as written', () => {
    expect(placeholdersOf('PIECE {code} {borehole} {x}')).toEqual(['code', 'borehole', 'x']);
    expect(fillTemplate('REPARE {code} ok', { code: 17 })).toBe('REPARE 17 ok');
    expect(fillTemplate('PANNE {borehole} {code}', { borehole: 'segala' })).toBe('PANNE segala {code}');
    expect(fillTemplate('OK {code} {code}', { code: 3 })).toBe('OK 3 3');
  });
});

/** A fake service: `GET /api/incidents` answers from `incidents()` (404 while it returns null), inbound SMS recorded. */
function fakeService(incidents: () => { code: number; state: string }[] | null) {
  const posted: { from: string; text: string; authorization: string | null }[] = [];
  const lookups: string[] = [];
  const fetcher = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    if (url.pathname === '/api/incidents') {
      lookups.push(`${url.search} ${headers.get('authorization') ?? ''}`);
      const list = incidents();
      if (list === null) return new Response(JSON.stringify({ error: 'not_found' }), { status: 404 });
      return new Response(JSON.stringify({ incidents: list, total: list.length }), { status: 200 });
    }
    if (url.pathname === '/api/sms/inbound' && init?.method === 'POST') {
      const body = JSON.parse(typeof init.body === 'string' ? init.body : '{}') as { from: string; text: string };
      posted.push({ ...body, authorization: headers.get('authorization') });
      return new Response(JSON.stringify({ outcome: 'handled' }), { status: 200 });
    }
    return new Response('{}', { status: 404 });
  }) as typeof fetch;
  return { fetcher, posted, lookups };
}

/** Jumps instead of waiting, for the people's retries. */
const instantClock = (): Clock => new FakeClock(0);

describe('People', () => {
  const registry = exampleRegistry();

  it('fills {code} with the newest open incident, looking again while the route answers 404 or lists none', async () => {
    let calls = 0;
    const service = fakeService(() => {
      calls += 1;
      if (calls <= 2) return null;
      if (calls <= 4) return [];
      return [
        { code: 17, state: 'on_site' },
        { code: 9, state: 'reported' },
      ];
    });
    const events: SmsStepEvent[] = [];
    const people = new People(
      registry,
      { serviceUrl: 'http://service.test/', inboundToken: 'inbound-secret', viewerToken: 'viewer-secret', fetch: service.fetcher, retryClock: instantClock() },
      { progress: () => undefined, onSms: (event) => events.push(event) },
    );
    people.enqueue({ boreholeId: 'khabou', atMs: 0, from: 'technician', text: 'ARRIVE {code}' });
    await people.idle();
    expect(service.lookups).toHaveLength(5);
    expect(service.lookups[0]).toBe('?borehole=khabou&state=open Bearer viewer-secret');
    expect(service.posted).toEqual([{ from: '+22379000003', text: 'ARRIVE 17', authorization: 'Bearer inbound-secret' }]);
    expect(events.map((event) => [event.stage, event.text, event.code, event.status, event.outcome])).toEqual([
      ['sending', 'ARRIVE 17', 17, null, null],
      ['answered', 'ARRIVE 17', 17, 200, 'handled'],
    ]);
  });

  it('plays steps one after the other in the order given, a slow lookup holding back the next step', async () => {
    let open = false;
    const service = fakeService(() => (open ? [{ code: 4, state: 'reported' }] : []));
    const people = new People(
      registry,
      { serviceUrl: 'http://service.test', inboundToken: 'i', viewerToken: 'v', fetch: service.fetcher, retryClock: instantClock() },
      { progress: () => undefined },
    );
    people.enqueue({ boreholeId: 'khabou', atMs: 0, from: 'committee[0]', text: 'OK {code}' });
    people.enqueue({ boreholeId: 'khabou', atMs: 1, from: 'committee[1]', text: 'ETAT' });
    await new Promise((resolve) => setImmediate(resolve));
    open = true;
    await people.idle();
    expect(service.posted.map((sms) => `${sms.from} ${sms.text}`)).toEqual(['+22376000001 OK 4', '+22366000002 ETAT']);
  });

  it('gives a step up when no incident appears in time, and goes on with the next one', async () => {
    const service = fakeService(() => []);
    const events: SmsStepEvent[] = [];
    const progress: string[] = [];
    const people = new People(
      registry,
      { serviceUrl: 'http://service.test', inboundToken: 'i', viewerToken: 'v', fetch: service.fetcher, retryClock: instantClock(), giveUpAfterMs: 5_000, retryEveryMs: 1_000 },
      { progress: (line) => progress.push(line), onSms: (event) => events.push(event) },
    );
    people.enqueue({ boreholeId: 'khabou', atMs: 0, from: 'technician', text: 'REPARE {code}' });
    people.enqueue({ boreholeId: 'khabou', atMs: 0, from: 'committee[0]', text: 'PANNE forage sec' });
    await people.idle();
    expect(events.map((event) => event.stage)).toEqual(['failed', 'sending', 'answered']);
    expect(events[0]?.error).toMatch(/^no open incident at khabou after 5 s$/);
    expect(service.posted.map((sms) => sms.text)).toEqual(['PANNE forage sec']);
    expect(progress[0]).toContain('not sent');
  });
});

describe('sms steps in a run', () => {
  const NOW = Date.UTC(2026, 1, 5, 10, 0, 0);

  const run = async (yaml: string, overrides: Partial<SimulationOptions>) => {
    const clock = new FakeClock(NOW);
    const events: SmsStepEvent[] = [];
    const progress: string[] = [];
    const handle = await startSimulation({
      registry: exampleRegistry(),
      scenario: parseScenario(yaml, 'run.yaml'),
      clock,
      seed: 42,
      fieldTiming: false,
      transport: () => new MemoryTransport(clock),
      onProgress: (line) => progress.push(line),
      onSms: (event) => events.push(event),
      ...overrides,
    });
    const stats = await handle.done;
    return { stats, events, progress };
  };

  it('are sent once the run is live, in time order, and skipped while it catches up', async () => {
    const service = fakeService(() => [{ code: 21, state: 'reported' }]);
    const yaml = `
boreholes: [khabou]
events:
  - { at: 30m, borehole: khabou, type: sms, from: "committee[0]", text: "OK {code}" }
  - { at: 2h10m, borehole: khabou, type: sms, from: technician, text: "REPARE {code}" }
  - { at: 2h5m, borehole: khabou, type: sms, from: technician, text: "ARRIVE {code}" }`;
    // Two hours of history at max speed, then real time until 2h15m into the run.
    const { stats, events, progress } = await run(yaml, {
      startAtMs: NOW - 2 * HOUR_MS,
      untilMs: NOW + 15 * MINUTE_MS,
      people: { serviceUrl: 'http://service.test', inboundToken: 'i', viewerToken: 'v', fetch: service.fetcher, retryClock: instantClock() },
    });
    expect(service.posted.map((sms) => sms.text)).toEqual(['ARRIVE 21', 'REPARE 21']);
    expect(events.filter((event) => event.stage === 'answered').map((event) => event.atMs - NOW)).toEqual([5 * MINUTE_MS, 10 * MINUTE_MS]);
    expect(stats.sms).toEqual({ accepted: 2, refused: 0, notSent: 1 });
    expect(progress.some((line) => line.includes('"OK {code}": not sent, it falls in the catch-up'))).toBe(true);
  });

  it('without a service, are reported and not sent', async () => {
    const { stats, progress } = await run('events: [{ at: 5m, borehole: khabou, type: sms, from: technician, text: "ARRIVE {code}" }]', {
      startAtMs: NOW,
      untilMs: NOW + 10 * MINUTE_MS,
    });
    expect(stats.sms).toEqual({ accepted: 0, refused: 0, notSent: 1 });
    expect(progress.some((line) => line.includes('not sent, no service given'))).toBe(true);
  });

  it('refuse to start with a sender the registry does not have', async () => {
    const clock = new FakeClock(NOW);
    await expect(
      startSimulation({
        registry: exampleRegistry(),
        scenario: parseScenario('events: [{ at: 5m, borehole: kouniakary, type: sms, from: "committee[1]", text: OK }]', 'run.yaml'),
        clock,
        transport: () => new MemoryTransport(clock),
      }),
    ).rejects.toThrow(/events\[0\] \(sms on kouniakary\)\.from: kouniakary has 1 committee contacts/);
  });

  it('on a scaled clock a day of scenario plays in a fraction of the wall time', async () => {
    // 3,600×: an hour of the clock passes in a wall second.
    const clock = scaledClock(3600, NOW);
    const service = fakeService(() => [{ code: 5, state: 'reported' }]);
    const wallStart = Date.now();
    const handle = await startSimulation({
      registry: exampleRegistry(),
      scenario: parseScenario('boreholes: [khabou]\nevents: [{ at: 1h, borehole: khabou, type: sms, from: technician, text: "ARRIVE {code}" }]', 'fast.yaml'),
      clock,
      startAtMs: NOW,
      untilMs: NOW + 90 * MINUTE_MS,
      fieldTiming: false,
      transport: () => new MemoryTransport(clock),
      people: { serviceUrl: 'http://service.test', inboundToken: 'i', viewerToken: 'v', fetch: service.fetcher },
    });
    const stats = await handle.done;
    expect(Date.now() - wallStart).toBeLessThan(10_000);
    expect(stats.sms.accepted).toBe(1);
    expect(stats.simulatedAtMs).toBe(NOW + 90 * MINUTE_MS);
  });
});

describe('the repair the stories pair with REPARE', () => {
  const khabou = exampleBorehole('khabou');
  const noFlowLpm = khabou.rules.no_flow_lpm;
  /** A day at 07:00 UTC (local solar time), as the integration test plays the stories. */
  const START = Date.UTC(2026, 2, 10, 7);

  /** Longest stretch, in minutes, of pumping with flow above no_flow_lpm and no fault from `fromMs` on. */
  function normalPumpingMinutes(readings: ReturnType<typeof simulate>['readings'], fromMs: number, toMs: number): number {
    let best = 0;
    let run = 0;
    for (const reading of readings) {
      if (reading.atMs < fromMs || reading.atMs > toMs) continue;
      const normal = reading.pump.running && reading.pump.fault === null && reading.flow.rate_lpm > noFlowLpm;
      run = normal ? run + 1 : 0;
      best = Math.max(best, run);
    }
    return best;
  }

  it('khabou-repair: a latched dry-run fault until the repair, then 30 minutes of normal pumping within the hour', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-repair.yaml'));
    const timed = scheduleEvents(scenario.events, START).filter((event) => event.type !== 'sms');
    const run = simulate(khabou, 42, START, 28 * HOUR_MS, timed);
    const faultAtMs = START + HOUR_MS;
    const repairAtMs = START + 27 * HOUR_MS;
    const between = run.readings.filter((reading) => reading.atMs > faultAtMs + 10 * MINUTE_MS && reading.atMs < repairAtMs);
    expect(between.every((reading) => reading.pump.fault === 'dry_run' && !reading.pump.running)).toBe(true);
    const after = run.readings.filter((reading) => reading.atMs >= repairAtMs);
    expect(after.every((reading) => reading.pump.fault === null)).toBe(true);
    expect(normalPumpingMinutes(run.readings, repairAtMs, repairAtMs + HOUR_MS)).toBeGreaterThanOrEqual(30);
  });

  it('khabou-relapse: verified by the morning\'s pumping, the fault back 10 hours after the repair', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-relapse.yaml'));
    const timed = scheduleEvents(scenario.events, START).filter((event) => event.type !== 'sms');
    const run = simulate(khabou, 42, START, 38 * HOUR_MS, timed);
    const repairAtMs = START + 27 * HOUR_MS;
    expect(normalPumpingMinutes(run.readings, repairAtMs, repairAtMs + HOUR_MS)).toBeGreaterThanOrEqual(30);
    const relapse = run.readings.find((reading) => reading.atMs > repairAtMs && reading.pump.fault === 'dry_run');
    expect((relapse?.atMs ?? 0) - repairAtMs).toBeGreaterThanOrEqual(10 * HOUR_MS);
    expect((relapse?.atMs ?? Infinity) - repairAtMs).toBeLessThanOrEqual(10 * HOUR_MS + 10 * MINUTE_MS);
  });

  it('by night the repaired pump waits for the sun: nothing to verify before the morning', async () => {
    const nightStart = START - 7 * HOUR_MS + DAY_MS - 4 * HOUR_MS; // 20:00 UTC
    const timed = scheduleEvents(parseScenario('events: [{ at: 1h, borehole: khabou, type: dry_run }, { at: 3h, borehole: khabou, type: repair }]', 'night.yaml').events, nightStart);
    const run = simulate(khabou, 42, nightStart, 8 * HOUR_MS, timed);
    expect(normalPumpingMinutes(run.readings, nightStart + 3 * HOUR_MS, nightStart + 8 * HOUR_MS)).toBe(0);
  });
});
