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
  /** Which issue of the login this session was opened with (its salt): a reissue or a revoke ends it. */
  generation: string;
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class Sessions {
  private readonly byDigest = new Map<string, Session>();

  constructor(
    private readonly ttlMs = 8 * 3600_000,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string, role: Role, generation: string): { token: string; session: Session } {
    const token = randomBytes(32).toString('base64url');
    const session: Session = { user, role, csrf: randomBytes(24).toString('base64url'), expires: this.now() + this.ttlMs, generation };
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

  /** Ends every session for which `keep` is false (e.g. of a login revoked or reissued); returns their users. */
  destroyWhere(keep: (s: Session) => boolean): string[] {
    const gone: string[] = [];
    for (const [k, s] of this.byDigest)
      if (!keep(s)) {
        this.byDigest.delete(k);
        gone.push(s.user);
      }
    return gone;
  }

  /** Forgets expired sessions (a timer of the server calls it): none is kept past its end. */
  sweep(): number {
    return this.destroyWhere((s) => s.expires >= this.now()).length;
  }

  /** Is this session (the object get() returned) still alive? */
  has(session: Session): boolean {
    if (session.expires < this.now()) return false;
    for (const s of this.byDigest.values()) if (s === session) return true;
    return false;
  }

  get size(): number {
    return this.byDigest.size;
  }
}
