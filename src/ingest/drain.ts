/**
 * Moves batches from the journal to the time-series store, a bounded number at a time, with
 * exponential backoff while the store is down. A batch is forgotten only once the store confirmed
 * it. A batch the store refuses as data (HTTP 400) is split in halves until the refused lines are
 * isolated; those few become dead letters and the rest is stored.
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
  now: () => number;
  log: Logger;
  events: DrainEvents;
}

function isRetryable(error: unknown): boolean {
  return !(typeof error === 'object' && error !== null && 'retryable' in error && error.retryable === false);
}

export class Drain {
  private inFlight = 0;
  private pumping = false;
  private scheduled = false;
  private running = false;
  private failures = 0;
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
      this.backOff();
      if (this.failures === 1 || this.failures % 10 === 0) {
        log.warn({ err: error, failures: this.failures, pendingPoints: journal.stats().pendingPoints }, 'store write failed, will retry');
      }
      return;
    }
    if (this.failures > 0) log.info({ failures: this.failures }, 'store writes resumed');
    this.failures = 0;
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

  private backOff(): void {
    const { minBackoffMs = 500, maxBackoffMs = 30_000, now } = this.options;
    this.failures += 1;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(this.failures - 1, 16));
    // Jitter keeps a fleet of restarted services from hammering a recovering store in step.
    this.backoffUntilMs = now() + delay * (0.75 + Math.random() * 0.5);
    this.wakeAfter(this.backoffUntilMs - now());
  }
}
