/**
 * Counts failed authentications per client address and refuses an address that failed too often
 * in a sliding window (10 a minute by default), so that nobody can guess tokens at the speed of
 * the network. Memory is bounded: at most `maxClients` addresses are remembered, the oldest
 * forgotten first.
 */

export interface FailedAuthLimits {
  /** Failures allowed in the window; the next attempt is refused. */
  max: number;
  windowMs: number;
  /** Addresses remembered at most. */
  maxClients?: number;
}

export const DEFAULT_FAILED_AUTH_LIMITS: FailedAuthLimits = { max: 10, windowMs: 60_000, maxClients: 10_000 };

export class FailedAuthLimiter {
  /** Failure times per address, oldest first, at most `max` of them. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limits: FailedAuthLimits = DEFAULT_FAILED_AUTH_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long the address must wait before its next attempt, in ms; 0 when it may try now. */
  retryAfterMs(client: string): number {
    const times = this.recent(client);
    if (times.length < this.limits.max) return 0;
    return Math.max(1, (times[0] ?? 0) + this.limits.windowMs - this.now());
  }

  fail(client: string): void {
    const times = this.recent(client);
    times.push(this.now());
    while (times.length > this.limits.max) times.shift();
    // Re-inserted so that Map order is least recently failed first.
    this.failures.delete(client);
    this.failures.set(client, times);
    const maxClients = this.limits.maxClients ?? DEFAULT_FAILED_AUTH_LIMITS.maxClients ?? 10_000;
    for (const key of this.failures.keys()) {
      if (this.failures.size <= maxClients) break;
      this.failures.delete(key);
    }
  }

  /** Number of addresses remembered (for tests and metrics). */
  get size(): number {
    return this.failures.size;
  }

  private recent(client: string): number[] {
    const times = this.failures.get(client);
    if (!times) return [];
    const since = this.now() - this.limits.windowMs;
    while (times.length > 0 && (times[0] ?? 0) <= since) times.shift();
    if (times.length === 0) this.failures.delete(client);
    return times;
  }
}
