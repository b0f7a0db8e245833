/**
 * Moves batches from the journal to the time-series store, a bounded number at a time, with
 * exponential backoff while the store is down. A batch is forgotten only once the store confirmed
 * it. A batch the store refuses as data (HTTP 400, 413, 422) is split in halves until the refused
 * lines are isolated; those few become dead letters and the rest is stored. Anything else (an
 * outage, a 401/403/404 an operator has to fix) is retried until it works: no valid reading is
 * dropped for it. A `Retry-After` the store sends is honoured, up to `maxRetryAfterMs`.
 *
 * While writes fail, the drain says so once: one `error` line when failing starts, one `warn` when
 * the reason changes (a 503 outage that becomes a 401), one `info` when writes resume, and
 * `health()` for `/readyz` and the metrics (docs/operations.md).
 */
import type { Logger } from 'pino';
import type { Journal, JournalBatch } from './journal.js';

/** The one thing the drain needs of a store. */
export interface LineWriter {
  /** Writes line protocol (UTF-8, newline-separated). */
  writeLines(body: Buffer): Promise<void>;
}

export interface DrainEvents {
  written(points: number, durationMs: number): void;
  failed(retryable: boolean): void;
  /** A single line the store refuses for good. */
  refused(line: string, reason: string): void;
}

export interface DrainOptions {
  journal: Journal;
  writer: LineWriter;
  batchPoints: number;
  concurrency: number;
  lingerMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Longest wait a store's `Retry-After` can impose; default 5 minutes. */
  maxRetryAfterMs?: number;
  now: () => number;
  log: Logger;
  events: DrainEvents;
}

/** Whether writes to the store are failing, for `/readyz` and the metrics. */
export interface WriteHealth {
  /** Failed write attempts since the last one that worked. */
  consecutiveFailures: number;
  /** When the first of those failed; null while writes work. */
  failingSinceMs: number | null;
  /** The HTTP status of the last failure (none when the store was unreachable). */
  lastStatus: number | undefined;
  /** The last failure, for an operator ("401 unauthorized (check INFLUX_TOKEN)"). */
  lastReason: string | null;
}

/** What the drain reads of a failed write (StoreWriteError has all of it; anything else is an outage). */
interface WriteFailure {
  retryable?: boolean;
  status?: number;
  retryAfterMs?: number;
  reason?: string;
  message?: string;
}

function isRetryable(error: unknown): boolean {
  return !(typeof error === 'object' && error !== null && 'retryable' in error && error.retryable === false);
}

function failureOf(error: unknown): { status: number | undefined; reason: string; retryAfterMs: number | undefined } {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as WriteFailure;
  return {
    status: typeof failure.status === 'number' ? failure.status : undefined,
    reason: failure.reason ?? failure.message ?? String(error),
    retryAfterMs: typeof failure.retryAfterMs === 'number' ? failure.retryAfterMs : undefined,
  };
}

/**
 * The store's readiness: not ready once every write has failed for `thresholdMs` (a blip of a few
 * seconds is not an outage), naming the store and the last reason.
 */
export function writeHealthCheck(health: WriteHealth, nowMs: number, thresholdMs: number, storeName: string): { ok: boolean; detail?: string } {
  if (health.failingSinceMs === null) return { ok: true };
  const failingMs = nowMs - health.failingSinceMs;
  if (failingMs < thresholdMs) return { ok: true };
  const verb = health.lastStatus === undefined ? 'failing' : 'refused';
  return { ok: false, detail: `${storeName} writes ${verb} for ${Math.round(failingMs / 1000)} s: ${health.lastReason ?? 'unknown error'}` };
}

export class Drain {
  private inFlight = 0;
  private pumping = false;
  private scheduled = false;
  private running = false;
  private failures = 0;
  private failingSinceMs: number | null = null;
  private lastFailure: { status: number | undefined; reason: string } | null = null;
  private backoffUntilMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: DrainOptions) {}

  start(): void {
    this.running = true;
    this.notify();
  }

  /** Something was appended to the journal (or a wait ended): look for work. */
  notify(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  /**
   * Sends what is pending for up to `flushTimeoutMs`, then stops. Whatever is left stays in the
   * journal for the next run.
   */
  async stop(flushTimeoutMs: number): Promise<void> {
    const deadline = this.options.now() + flushTimeoutMs;
    while (this.options.journal.stats().pendingPoints > 0 && this.options.now() < deadline && this.failures === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  health(): WriteHealth {
    return {
      consecutiveFailures: this.failures,
      failingSinceMs: this.failingSinceMs,
      lastStatus: this.lastFailure?.status,
      lastReason: this.lastFailure?.reason ?? null,
    };
  }

  private wakeAfter(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.notify();
    }, delayMs);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const { journal, batchPoints, concurrency, lingerMs = 50, now } = this.options;
      while (this.running && this.inFlight < concurrency) {
        const waitMs = this.backoffUntilMs - now();
        if (waitMs > 0) {
          this.wakeAfter(waitMs);
          return;
        }
        const batch = await journal.nextBatch(batchPoints, lingerMs);
        if (!batch) {
          const age = journal.activeAgeMs();
          if (age !== null) this.wakeAfter(Math.max(1, lingerMs - age));
          return;
        }
        this.inFlight += 1;
        void this.send(batch).finally(() => {
          this.inFlight -= 1;
          if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
          this.notify();
        });
      }
    } catch (error) {
      // Reading a segment failed (I/O error): keep the data, try again later.
      this.options.log.error({ err: error }, 'journal read failed');
      this.backOff();
    } finally {
      this.pumping = false;
    }
  }

  private async send(batch: JournalBatch): Promise<void> {
    const { journal, now, events, log } = this.options;
    const startedAt = now();
    try {
      await this.write(batch.body);
    } catch (error) {
      journal.release(batch);
      events.failed(true);
      const failure = failureOf(error);
      this.backOff(failure.retryAfterMs);
      this.noteFailure(failure, error);
      return;
    }
    if (this.failingSinceMs !== null) {
      const failingS = Math.round((now() - this.failingSinceMs) / 1000);
      log.info({ failingS, retries: this.failures, pendingPoints: journal.stats().pendingPoints }, 'store writes resumed');
    }
    this.failures = 0;
    this.failingSinceMs = null;
    this.lastFailure = null;
    this.backoffUntilMs = 0;
    events.written(batch.points, now() - startedAt);
    await journal.confirm(batch);
  }

  /** Writes a body, isolating lines the store refuses as data; throws only retryable errors. */
  private async write(body: Buffer): Promise<void> {
    try {
      await this.options.writer.writeLines(body);
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.options.events.failed(false);
      const lines = body.toString('utf8').split('\n').filter((line) => line !== '');
      if (lines.length <= 1) {
        this.options.events.refused(lines[0] ?? '', (error as Error).message);
        return;
      }
      const half = Math.ceil(lines.length / 2);
      await this.write(Buffer.from(`${lines.slice(0, half).join('\n')}\n`));
      await this.write(Buffer.from(`${lines.slice(half).join('\n')}\n`));
    }
  }

  /** Logs the start of a failing spell, and a change of its reason, once each; not every retry. */
  private noteFailure(failure: { status: number | undefined; reason: string }, error: unknown): void {
    const { log, now, journal } = this.options;
    const previous = this.lastFailure;
    this.lastFailure = { status: failure.status, reason: failure.reason };
    const fields = { status: failure.status, reason: failure.reason, pendingPoints: journal.stats().pendingPoints };
    if (this.failingSinceMs === null) {
      this.failingSinceMs = now();
      log.error({ ...fields, err: error }, 'store writes failing, will retry until they work');
    } else if (previous?.status !== failure.status) {
      log.warn({ ...fields, previousStatus: previous?.status, retries: this.failures }, 'store writes still failing, now for another reason');
    }
  }

  private backOff(retryAfterMs?: number): void {
    const { minBackoffMs = 500, maxBackoffMs = 30_000, maxRetryAfterMs = 300_000, now } = this.options;
    this.failures += 1;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(this.failures - 1, 16));
    // Jitter keeps a fleet of restarted services from hammering a recovering store in step. A
    // server's Retry-After is a floor (no retry before it), capped so a wrong header cannot stall
    // the drain for hours.
    const jittered = delay * (0.75 + Math.random() * 0.5);
    const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, maxRetryAfterMs);
    this.backoffUntilMs = now() + Math.max(jittered, asked);
    this.wakeAfter(this.backoffUntilMs - now());
  }
}
