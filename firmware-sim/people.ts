/**
 * The people of a scenario: committee members and technicians who send SMS to the service
 * (CONTRACT.md sections 5 and 9), as a scenario's `sms` steps script them. A step names its sender
 * by role (`technician`, `backup_technician`, `committee[0]`) or by number, and its text may carry
 * `{code}`, the code of the borehole's newest open incident, read from `GET /api/incidents` with a
 * viewer token the way a technician reads it off the SMS they got; `{borehole}` is the borehole id
 * (a technician of several boreholes writes `PANNE {borehole} …`). The SMS goes to the service's
 * generic inbound webhook, `POST /api/sms/inbound` with `Authorization: Bearer $SMS_INBOUND_TOKEN`,
 * as an SMS gateway would deliver it.
 *
 * Steps are played one after the other, in scenario order, whatever their lookups cost: a
 * technician's `REPARE` never overtakes their `ARRIVE`. Waiting for an incident or a route that is
 * not there yet is done on the wall clock (`retryClock`), since the service acts in wall time,
 * while the simulation carries on: the devices must keep reporting for the incident to appear.
 */
import type { Borehole, Registry } from '../src/config/registry.js';
import { systemClock, type Clock } from './clock.js';

export type Sender =
  | { role: 'technician' }
  | { role: 'backup_technician' }
  | { role: 'committee'; index: number }
  | { role: 'number'; phone: string };

export const SENDER_HINT = 'technician, backup_technician, committee[0] (the first committee contact) or a number such as +22376000001';

const E164 = /^\+\d{7,15}$/;

/** `technician`, `committee[1]`, `+22376000001`; throws with SENDER_HINT otherwise. */
export function parseSender(text: string): Sender {
  const trimmed = text.trim();
  if (trimmed === 'technician' || trimmed === 'backup_technician') return { role: trimmed };
  const committee = /^committee\[(\d{1,2})\]$/.exec(trimmed);
  if (committee) return { role: 'committee', index: Number(committee[1]) };
  if (E164.test(trimmed)) return { role: 'number', phone: trimmed };
  throw new Error(`"${text}" is not a sender: write ${SENDER_HINT}`);
}

/** Who sends, as the registry knows them (a `number` sender may be nobody the registry knows). */
export interface Person {
  phone: string;
  name: string | null;
  role: Sender['role'];
}

/** The registry's phone for a sender at a borehole; throws, naming the problem, when there is none. */
export function resolveSender(sender: Sender, borehole: Borehole): Person {
  switch (sender.role) {
    case 'technician':
      return { phone: borehole.technician.phone, name: borehole.technician.name, role: 'technician' };
    case 'backup_technician': {
      const backup = borehole.backup_technician;
      if (!backup) throw new Error(`${borehole.id} has no backup_technician in the registry (nor its region)`);
      return { phone: backup.phone, name: backup.name, role: 'backup_technician' };
    }
    case 'committee': {
      const contact = borehole.committee.contacts[sender.index];
      if (!contact) throw new Error(`${borehole.id} has ${borehole.committee.contacts.length} committee contacts: committee[${sender.index}] is not one`);
      return { phone: contact.phone, name: contact.name, role: 'committee' };
    }
    case 'number':
      return { phone: sender.phone, name: null, role: 'number' };
  }
}

export const PLACEHOLDERS = ['code', 'borehole'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** The `{name}` placeholders a text carries, in order, known or not. */
export function placeholdersOf(text: string): string[] {
  return [...text.matchAll(/\{([^{}]*)\}/g)].map((match) => match[1] ?? '');
}

/** The text with its placeholders filled; a placeholder without a value is left as written. */
export function fillTemplate(text: string, values: Partial<Record<Placeholder, string | number>>): string {
  return text.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    const value = values[name as Placeholder];
    return value === undefined ? whole : String(value);
  });
}

export interface SmsStep {
  boreholeId: string;
  /** Simulated instant of the step. */
  atMs: number;
  from: string;
  text: string;
  note?: string | undefined;
}

/**
 * What happened to one step: `sending` just before the POST (the demo prints the line then, so
 * that the service's answer, written by its SMS gateway, comes after it), then `answered` with the
 * HTTP status, or `failed` when nothing could be sent (no open incident to name, no service).
 */
export interface SmsStepEvent {
  stage: 'sending' | 'answered' | 'failed';
  boreholeId: string;
  atMs: number;
  person: Person;
  /** As sent, placeholders filled. */
  text: string;
  /** The code `{code}` stood for, if the text had one. */
  code: number | null;
  status: number | null;
  /** The webhook's `outcome` (src/http/routes/sms-inbound.ts). */
  outcome: string | null;
  error: string | null;
}

export interface PeopleOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8080. */
  serviceUrl: string;
  /** SMS_INBOUND_TOKEN of the service. */
  inboundToken: string;
  /** A viewer token (API_TOKENS), to read the code of the open incident. */
  viewerToken: string;
  /** How often to look again for an incident, or a route, that is not there yet (wall time). Default 500 ms. */
  retryEveryMs?: number;
  /** How long to look before the step is given up (wall time). Default 60 s. */
  giveUpAfterMs?: number;
  /** Per HTTP request. Default 10 s. */
  requestTimeoutMs?: number;
  /** For the waits between lookups; default the system clock. */
  retryClock?: Clock;
  fetch?: typeof fetch;
}

interface IncidentListing {
  incidents?: { code?: unknown; state?: unknown }[];
}

class GiveUp extends Error {}

export class People {
  private chain: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly fetch: typeof fetch;
  private readonly clock: Clock;
  private readonly base: string;

  constructor(
    private readonly registry: Registry,
    private readonly options: PeopleOptions,
    private readonly hooks: { progress: (line: string) => void; onSms?: (event: SmsStepEvent) => void },
  ) {
    this.fetch = options.fetch ?? fetch;
    this.clock = options.retryClock ?? systemClock;
    this.base = options.serviceUrl.replace(/\/+$/, '');
  }

  /** Plays the step after those before it. Never rejects: a failure is reported, and the next step goes. */
  enqueue(step: SmsStep): void {
    this.chain = this.chain.then(() => this.play(step)).catch((error: unknown) => this.hooks.progress(`${step.boreholeId}: sms step failed: ${String(error)}`));
  }

  /** Resolves once every step enqueued so far has been played (or given up). */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Gives up what is waiting; what is enqueued after this is reported as not sent. */
  stop(): void {
    this.abort.abort();
  }

  private async play(step: SmsStep): Promise<void> {
    const borehole = this.registry.boreholes.get(step.boreholeId);
    if (!borehole) throw new Error(`borehole ${step.boreholeId} is not in the registry`);
    const person = resolveSender(parseSender(step.from), borehole);
    const base = { boreholeId: step.boreholeId, atMs: step.atMs, person, status: null, outcome: null };
    let code: number | null = null;
    if (placeholdersOf(step.text).includes('code')) {
      try {
        code = await this.openIncidentCode(step.boreholeId);
      } catch (error) {
        const why = error instanceof GiveUp ? error.message : String(error);
        // By role, not number: progress lines end up in logs (docs/security.md).
        this.hooks.progress(`${step.boreholeId}: sms from ${step.from} not sent: ${why}`);
        this.hooks.onSms?.({ ...base, stage: 'failed', text: step.text, code: null, error: why });
        return;
      }
    }
    const text = fillTemplate(step.text, { borehole: step.boreholeId, ...(code === null ? {} : { code }) });
    this.hooks.onSms?.({ ...base, stage: 'sending', text, code, error: null });
    if (this.abort.signal.aborted) {
      this.hooks.onSms?.({ ...base, stage: 'failed', text, code, error: 'the simulation stopped' });
      return;
    }
    try {
      const response = await this.fetch(`${this.base}/api/sms/inbound`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.inboundToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ from: person.phone, text }),
        signal: this.signal(),
      });
      const body = (await response.json().catch(() => null)) as { outcome?: unknown; message?: unknown } | null;
      const outcome = typeof body?.outcome === 'string' ? body.outcome : null;
      const error = response.ok ? null : typeof body?.message === 'string' ? body.message : `HTTP ${response.status}`;
      this.hooks.progress(`${step.boreholeId}: sms from ${step.from} "${text}": ${response.status}${outcome ? ` ${outcome}` : ''}${error ? ` (${error})` : ''}`);
      this.hooks.onSms?.({ ...base, stage: 'answered', text, code, status: response.status, outcome, error });
    } catch (error) {
      const why = `the service did not answer: ${(error as Error).message}`;
      this.hooks.progress(`${step.boreholeId}: sms from ${step.from} "${text}" not delivered: ${why}`);
      this.hooks.onSms?.({ ...base, stage: 'failed', text, code, error: why });
    }
  }

  /**
   * The code of the borehole's newest open incident. A 404 (the route is not there yet), an empty
   * list (the incident has not opened yet: the readings that open it may still be on their way)
   * or a service that does not answer are tried again until `giveUpAfterMs`; a refused token is not.
   */
  private async openIncidentCode(boreholeId: string): Promise<number> {
    const everyMs = this.options.retryEveryMs ?? 500;
    const giveUpAtMs = this.clock.now() + (this.options.giveUpAfterMs ?? 60_000);
    const url = `${this.base}/api/incidents?borehole=${encodeURIComponent(boreholeId)}&state=open`;
    let last = 'no answer';
    for (;;) {
      if (this.abort.signal.aborted) throw new GiveUp('the simulation stopped');
      try {
        const response = await this.fetch(url, { headers: { authorization: `Bearer ${this.options.viewerToken}` }, signal: this.signal() });
        if (response.status === 401 || response.status === 403) throw new GiveUp(`GET /api/incidents refused the viewer token (${response.status})`);
        if (response.ok) {
          const listing = (await response.json()) as IncidentListing;
          // Newest first (CONTRACT.md section 9).
          const code = listing.incidents?.[0]?.code;
          if (typeof code === 'number') return code;
          last = `no open incident at ${boreholeId}`;
        } else {
          last = response.status === 404 ? 'GET /api/incidents answers 404 (not there yet?)' : `GET /api/incidents answers ${response.status}`;
        }
      } catch (error) {
        if (error instanceof GiveUp) throw error;
        last = `GET /api/incidents: ${(error as Error).message}`;
      }
      if (this.clock.now() >= giveUpAtMs) throw new GiveUp(`${last} after ${Math.round((this.options.giveUpAfterMs ?? 60_000) / 1000)} s`);
      await this.clock.sleep(everyMs, this.abort.signal);
    }
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000)]);
  }
}
