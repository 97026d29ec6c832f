import type { FastifyRequest } from 'fastify';
import type { AccountStore } from '../class/accounts.js';
import { Sessions, type Session } from './sessions.js';

/**
 * Who is asking, decided for every request and kept true while the server runs: the session of
 * the request's cookie, valid only while its login is the one it was opened with (a revoke or a
 * reissue by `vmlab class credentials`, another process, ends it at the next request, and within
 * a second for open consoles); expired sessions swept.
 */
export const SESSION_COOKIE = 'vmlab_session';
/** Under TLS the cookie is `__Host-` prefixed: Secure, Path=/, no Domain, so no subdomain can set or shadow it. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export class Access {
  readonly sessions = new Sessions();
  private readonly consoles = new Set<{ session: Session; close: (why: string) => void }>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly accounts: AccountStore,
    private readonly opts: { secureCookies: boolean; watchMs?: number; log?: (line: string) => void },
  ) {}

  /** Starts the watch of the accounts file and the sweep of expired sessions. */
  start(): void {
    const tick = setInterval(() => this.recheck(), this.opts.watchMs ?? 1000);
    const sweep = setInterval(() => this.sessions.sweep(), 60_000);
    tick.unref();
    sweep.unref();
    this.timers.push(tick, sweep);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const c of this.consoles) c.close('the server stopped');
    this.consoles.clear();
  }

  /** Is the request over TLS, here or at a proxy the server trusts (Fastify's trustProxy decides what req.protocol believes)? */
  secure(req: FastifyRequest): boolean {
    return this.opts.secureCookies || req.protocol === 'https';
  }

  cookieName(req: FastifyRequest): string {
    return this.secure(req) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  }

  /** The request's session, if its login still is what it was when the session began. */
  session(req: FastifyRequest): Session | undefined {
    const token = req.cookies[this.cookieName(req)];
    const s = this.sessions.get(token);
    if (!s) return undefined;
    this.accounts.refresh();
    if (this.valid(s)) return s;
    // Only sessions opened with an earlier issue of the login: one opened since a reissue stays.
    this.sessions.destroyWhere((x) => x.user !== s.user || this.valid(x));
    return undefined;
  }

  private valid(s: Session): boolean {
    const a = this.accounts.active(s.user);
    return Boolean(a && a.salt === s.generation && a.role === s.role);
  }

  /** An open console of a session: closed (with `why`) once the session ends; returns what to call when it closes by itself. */
  holdConsole(session: Session, close: (why: string) => void): () => void {
    const entry = { session, close };
    this.consoles.add(entry);
    return () => this.consoles.delete(entry);
  }

  consolesOf(user: string): number {
    return [...this.consoles].filter((c) => c.session.user === user).length;
  }

  /** Ends the sessions of logins revoked or reissued since, and closes their consoles (and those of sessions ended otherwise). */
  recheck(): void {
    if (this.accounts.refresh()) {
      const gone = this.sessions.destroyWhere((s) => this.valid(s));
      if (gone.length) this.opts.log?.(`${new Date().toISOString()} sessions ended (login revoked or reissued): ${[...new Set(gone)].join(', ')}`);
    }
    for (const c of [...this.consoles]) {
      if (this.sessions.has(c.session)) continue;
      this.consoles.delete(c);
      c.close('your session ended (logged out, expired, or your login was revoked or reissued): log in again');
    }
  }
}
