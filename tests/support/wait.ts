/** Polling for hooks, where `expect.poll` is not available. Never a fixed sleep. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Whether the service answers /readyz with 200. */
export function isReady(app: { inject(url: string): Promise<{ statusCode: number }> }): () => Promise<boolean> {
  return async () => (await app.inject('/readyz')).statusCode === 200;
}
