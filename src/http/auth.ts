/**
 * Bearer tokens with roles (CONTRACT.md section 6): reads need `viewer` or above, writes
 * `operator` or above. Tokens are compared in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../config/env.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The role of the request's token, once a route's auth check let it through. */
    apiRole?: Role;
  }
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface TokenEntry {
  role: Role;
  token: string;
}

/** Hashing first gives equal-length buffers, so the comparison leaks neither content nor length. */
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Who did it, as recorded with an alert change: `api:operator`, `api:admin`. */
export const actorOf = (request: FastifyRequest): string => `api:${request.apiRole ?? 'unknown'}`;

export class TokenAuth {
  private readonly entries: { role: Role; digest: Buffer }[];

  constructor(tokens: readonly TokenEntry[]) {
    this.entries = tokens.map(({ role, token }) => ({ role, digest: digest(token) }));
  }

  /** The role of a presented token, or null. Every entry is compared, whichever matches. */
  roleOf(presented: string): Role | null {
    const candidate = digest(presented);
    let role: Role | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate) && (role === null || RANK[entry.role] > RANK[role])) role = entry.role;
    }
    return role;
  }

  /** A fastify preHandler that lets through requests whose token has at least `minimum`. */
  require(minimum: Role) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const role = match?.[1] ? this.roleOf(match[1]) : null;
      if (role === null) {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: 'a valid API token is required (Authorization: Bearer <token>)' });
        return;
      }
      if (RANK[role] < RANK[minimum]) {
        await reply.code(403).send({ error: 'forbidden', message: `this action needs the ${minimum} role` });
        return;
      }
      request.apiRole = role;
    };
  }
}
