/**
 * The one way adapters talk HTTP: global fetch with a deadline covering the whole exchange (headers
 * and body), and transport failures turned into retryable GatewayErrors. Nothing here logs or puts
 * the URL in a message: a webhook URL may carry a secret in its query string.
 */
import { GatewayError } from './errors.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body as text ('' when empty). */
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * How long one send may take, all its HTTP exchanges together (an OAuth token fetch and a retry
 * after a refused token included): the port's promise is "no answer in 10 s counts as failed".
 */
export interface Deadline {
  signal: AbortSignal;
  timeoutMs: number;
}

export function deadlineIn(timeoutMs: number): Deadline {
  return { signal: AbortSignal.timeout(timeoutMs), timeoutMs };
}

export async function httpRequest(gateway: string, url: string, init: RequestInit, deadline: Deadline): Promise<HttpAnswer> {
  try {
    // The signal covers the body read too: a server that sends headers then stalls is no answer.
    // Redirects are not followed: fetch would replay a POST as a GET, and none of these APIs
    // redirects; the 3xx is classified like any other status.
    const response = await fetch(url, { ...init, redirect: 'manual', signal: deadline.signal });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: parseJson(text) };
  } catch (error) {
    throw transportError(gateway, error, deadline.timeoutMs);
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function transportError(gateway: string, error: unknown, timeoutMs: number): GatewayError {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new GatewayError(gateway, 'timeout', `no answer within ${timeoutMs} ms`);
  }
  // undici reports "fetch failed" with the socket error (ECONNREFUSED, ENOTFOUND...) as its cause.
  const cause = error instanceof Error ? error.cause : undefined;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  return new GatewayError(gateway, 'network', code ? `network error ${code}` : 'network error');
}

/** `base` + `path`, tolerating a trailing slash on the configured base URL. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}
