import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../class/accounts.js';

/**
 * Browser sessions of `vmlab serve`: a random token in an HttpOnly,
 * SameSite=Strict cookie, kept here only as its SHA-256, with a CSRF token
 * the page sends back in a header on every state-changing request. In
 * memory: a restart of the server logs everyone out, and nothing secret is
 * ever written down.
 */
export interface Session {
  user: string;
  role: Role;
  csrf: string;
  expires: number;
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class Sessions {
  private readonly byDigest = new Map<string, Session>();

  constructor(
    private readonly ttlMs = 8 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string, role: Role): { token: string; session: Session } {
    const token = randomBytes(32).toString('base64url');
    const session: Session = { user, role, csrf: randomBytes(24).toString('base64url'), expires: this.now() + this.ttlMs };
    this.byDigest.set(digest(token), session);
    return { token, session };
  }

  get(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const key = digest(token);
    const s = this.byDigest.get(key);
    if (s && s.expires < this.now()) this.byDigest.delete(key);
    return s && s.expires >= this.now() ? s : undefined;
  }

  destroy(token: string | undefined): void {
    if (token) this.byDigest.delete(digest(token));
  }

  /** Every session of a login (revoked, or logged out everywhere). */
  destroyUser(user: string): void {
    for (const [k, s] of this.byDigest) if (s.user === user) this.byDigest.delete(k);
  }
}
