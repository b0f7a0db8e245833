/**
 * Tokens with roles (CONTRACT.md section 6): reads need `viewer` or above, writes `operator` or
 * above. A token may be limited to some regions (`role:token:Kayes|Koulikoro`, docs/http.md): it
 * then sees only the boreholes and alerts of those regions, and the others answer 404 as if they
 * did not exist. Tokens are compared in constant time, never logged and never echoed. An address
 * that presents too many wrong tokens is refused for a while (429 with Retry-After).
 *
 * The API takes the token from `Authorization: Bearer`; the pages from their HttpOnly cookie
 * (pages/routes.ts), so a cross-site form can never reach the API with a browser's credentials.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../config/env.js';
import { FailedAuthLimiter } from './failed-auth-limiter.js';

/** Who presented the request's token, once a route's auth check let it through. */
export interface Identity {
  role: Role;
  /** The regions the token is limited to; null: every region. */
  regions: ReadonlySet<string> | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The role of the request's token, once a route's auth check let it through. */
    apiRole?: Role;
    identity?: Identity;
  }
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export const hasRole = (identity: Identity | undefined, minimum: Role): boolean =>
  identity !== undefined && RANK[identity.role] >= RANK[minimum];

export interface TokenEntry {
  role: Role;
  token: string;
  regions?: readonly string[];
}

/** Hashing first gives equal-length buffers, so the comparison leaks neither content nor length. */
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Who did it, as recorded with an alert change: `api:operator`, `web:admin`. */
export const actorOf = (request: FastifyRequest, channel: 'api' | 'web' = 'api'): string =>
  `${channel}:${request.identity?.role ?? request.apiRole ?? 'unknown'}`;

/** What a presented token turned out to be. */
export type AuthOutcome =
  | { kind: 'ok'; identity: Identity }
  /** No token was presented. */
  | { kind: 'missing' }
  /** A token was presented and matched none (counted against the address). */
  | { kind: 'invalid' }
  /** The address failed too often: not even looked at. */
  | { kind: 'blocked'; retryAfterS: number };

export class TokenAuth {
  private readonly entries: { identity: Identity; digest: Buffer }[];

  constructor(
    tokens: readonly TokenEntry[],
    private readonly limiter: FailedAuthLimiter = new FailedAuthLimiter(),
  ) {
    this.entries = tokens.map(({ role, token, regions }) => ({
      identity: { role, regions: regions ? new Set(regions) : null },
      digest: digest(token),
    }));
  }

  /** The identity of a presented token, or null. Every entry is compared, whichever matches. */
  identify(presented: string): Identity | null {
    const candidate = digest(presented);
    let found: Identity | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate) && (found === null || RANK[entry.identity.role] > RANK[found.role])) found = entry.identity;
    }
    return found;
  }

  /** The role of a presented token, or null. */
  roleOf(presented: string): Role | null {
    return this.identify(presented)?.role ?? null;
  }

  /**
   * Checks a presented token (or its absence) for a client address, counting failures. `null`
   * stands for credentials presented in a form that cannot be a token: a failure like a wrong one.
   */
  authenticate(client: string, presented: string | null | undefined): AuthOutcome {
    const waitMs = this.limiter.retryAfterMs(client);
    if (waitMs > 0) return { kind: 'blocked', retryAfterS: Math.ceil(waitMs / 1000) };
    if (presented === undefined || presented === '') return { kind: 'missing' };
    const identity = presented === null ? null : this.identify(presented);
    if (identity === null) {
      this.limiter.fail(client);
      return { kind: 'invalid' };
    }
    return { kind: 'ok', identity };
  }

  /** A fastify preHandler for the API: lets through requests whose bearer token has at least `minimum`. */
  require(minimum: Role) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const header = request.headers.authorization;
      // A malformed header is presented (wrong) credentials, not missing ones.
      const presented = header === undefined ? undefined : (/^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null);
      const outcome = this.authenticate(request.ip, presented);
      if (outcome.kind === 'blocked') {
        await reply
          .code(429)
          .header('retry-after', String(outcome.retryAfterS))
          .send({ error: 'too_many_requests', message: `too many failed authentications from this address; retry in ${outcome.retryAfterS} s` });
        return;
      }
      if (outcome.kind !== 'ok') {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: 'a valid API token is required (Authorization: Bearer <token>)' });
        return;
      }
      if (!hasRole(outcome.identity, minimum)) {
        await reply.code(403).send({ error: 'forbidden', message: `this action needs the ${minimum} role` });
        return;
      }
      request.identity = outcome.identity;
      request.apiRole = outcome.identity.role;
    };
  }
}
