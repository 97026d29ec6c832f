import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AccountStore } from '../class/accounts.js';
import type { ClassContext } from '../class/context.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { consoleRoutes } from './routes-console.js';
import { studentRoutes } from './routes-student.js';
import { teacherRoutes } from './routes-teacher.js';
import { Access } from './access.js';
import type { Session } from './sessions.js';
import { pageRoutes } from './page.js';

/**
 * `vmlab serve`: a class in a browser. The routes only wire the operations
 * the CLI uses (class check, reset, rescue, status) to HTTP, for one student
 * at a time; every request is authorised for that student before anything
 * else happens.
 */
export interface ServeDeps {
  ctx: ClassContext;
  rt: LabRuntime;
  accounts: AccountStore;
  /** Where class.csv, report.html and the JUnit files go (the CLI's default: <data-dir>/classes/<class>). */
  resultsDir: string;
  /** Cookies get `Secure` (the server listens with TLS). */
  secureCookies: boolean;
  /** TLS key and certificate (PEM): the server speaks HTTPS. */
  https?: { key: Buffer; cert: Buffer };
  /**
   * The reverse proxy in front (addresses or CIDRs, comma-separated): only from it are
   * X-Forwarded-Proto/-Host/-For believed (the client's address for rate limits, https for
   * Secure cookies and the Origin check). Without it they are ignored.
   */
  trustProxy?: string;
  /** Where the last `vmlab bench` wrote its results (default bench-results/bench, as the CLI's). */
  benchDir?: string;
  /** Login attempts per client address and minute before 429. */
  loginsPerMinute?: number;
  /** Failed logins of one account within 15 minutes before that account answers 429 (whatever the address). */
  failuresPerAccount?: number;
  /** Consoles one login may have open at once (every tab, every VM). */
  consolesPerLogin?: number;
  /** How far one console viewer may fall behind the guest's output before it is closed (bytes). */
  consoleBufferBytes?: number;
  /** How often the accounts file is checked for revokes and reissues (ms). */
  accountWatchMs?: number;
  log?: (line: string) => void;
}

export { SESSION_COOKIE, SECURE_SESSION_COOKIE } from './access.js';
export const CSRF_HEADER = 'x-vmlab-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

/** The Access of a running app (sessions, the accounts watch, open consoles). */
export const accessOf = new WeakMap<ServeDeps, Access>();

export async function buildApp(deps: ServeDeps): Promise<FastifyInstance> {
  const options = { logger: false, bodyLimit: 64 * 1024, ...(deps.trustProxy ? { trustProxy: deps.trustProxy.split(',').map((a) => a.trim()) } : {}) };
  const app = (deps.https ? Fastify({ ...options, https: deps.https }) : Fastify(options)) as unknown as FastifyInstance;
  const log = deps.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const access = new Access(deps.accounts, { secureCookies: deps.secureCookies, ...(deps.accountWatchMs ? { watchMs: deps.accountWatchMs } : {}), log });
  accessOf.set(deps, access);
  access.start();
  app.addHook('onClose', async () => access.stop());
  const failures = new LoginFailures(deps.failuresPerAccount ?? 10, 15 * 60_000);
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  // An access log without bodies, cookies or headers: no secret ever reaches it.
  app.addHook('onResponse', async (req, reply) => {
    log(`${new Date().toISOString()} ${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]} ${reply.statusCode} ${req.session?.user ?? '-'}`);
  });

  // Decided on the route the router matched (its pattern, after percent-decoding), never on the raw
  // URL: /%61pi/… is routed to /api/… and must meet the same checks.
  app.addHook('onRequest', async (req, reply) => {
    req.session = access.session(req);
    const route = req.routeOptions.url;
    if (route === undefined || !route.startsWith('/api/') || route === '/api/login') return;
    if (!req.session) return reply.code(401).send({ error: 'log in first' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A cross-site request can neither read the token nor set the header: no CSRF.
      if (!sameOrigin(req)) return reply.code(403).send({ error: 'cross-site request refused' });
      if (req.headers[CSRF_HEADER] !== req.session.csrf) return reply.code(403).send({ error: 'missing or wrong CSRF token' });
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    securityHeaders(reply, access.secure(req));
    return payload;
  });

  // A failure inside a route is logged here, never echoed: its text may name paths, hosts or guests' output.
  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status < 500) return reply.code(status).send({ error: err.message });
    log(`${new Date().toISOString()} ${req.method} ${req.routeOptions.url ?? '-'} failed: ${err.message}`);
    return reply.code(500).send({ error: 'internal error: the server log says what failed' });
  });

  app.post<{ Body: { id?: unknown; password?: unknown } }>('/api/login', { config: { rateLimit: { max: deps.loginsPerMinute ?? 10, timeWindow: '1 minute' } } }, async (req, reply) => {
    const { id, password } = req.body ?? {};
    if (typeof id !== 'string' || typeof password !== 'string' || id.length > 64 || password.length > 256) return reply.code(400).send({ error: 'give id and password' });
    if (failures.blocked(id)) return reply.code(429).send({ error: 'too many failed logins for this account: wait a few minutes' });
    const a = await deps.accounts.verify(id, password);
    if (!a) {
      failures.add(id);
      return reply.code(401).send({ error: 'wrong login or password' });
    }
    const { token, session } = access.sessions.create(a.id, a.role, a.salt);
    reply.setCookie(access.cookieName(req), token, { httpOnly: true, sameSite: 'strict', secure: access.secure(req), path: '/', maxAge: 8 * 3600 });
    return { id: a.id, role: a.role, csrf: session.csrf };
  });

  app.post('/api/logout', async (req, reply) => {
    access.sessions.destroy(req.cookies[access.cookieName(req)]);
    reply.clearCookie(access.cookieName(req), { path: '/', secure: access.secure(req) });
    return { ok: true };
  });

  app.get('/api/me', async (req) => ({ id: req.session!.user, role: req.session!.role, csrf: req.session!.csrf, class: deps.ctx.cls.name, title: deps.ctx.cls.title }));

  await app.register(studentRoutes(deps));
  await app.register(teacherRoutes(deps));
  await app.register(consoleRoutes(deps));
  await app.register(pageRoutes());
  return app;
}

/** No Origin (not a browser's cross-site request), or this server's own, as the client reached it (through a trusted proxy too). */
export function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === `${req.protocol}://${req.host}`;
}

/** On every response: no sniffing, no referrer, no framing; a page sets its own CSP (page.ts), anything else gets none to run. */
function securityHeaders(reply: FastifyReply, secure: boolean): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  if (secure) reply.header('strict-transport-security', 'max-age=31536000');
}

/** Failed logins per account, whatever the address they come from (a guesser spreads over addresses). */
class LoginFailures {
  private readonly byId = new Map<string, number[]>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}
  private recent(id: string): number[] {
    const now = Date.now();
    const kept = (this.byId.get(id) ?? []).filter((t) => now - t < this.windowMs);
    if (kept.length) this.byId.set(id, kept);
    else this.byId.delete(id);
    return kept;
  }
  blocked(id: string): boolean {
    return this.recent(id).length >= this.max;
  }
  add(id: string): void {
    // Guessed ids are kept only while they count: past 10,000 accounts tracked, the stale ones go.
    if (this.byId.size > 10_000) for (const k of [...this.byId.keys()]) this.recent(k);
    this.byId.set(id, [...this.recent(id), Date.now()]);
  }
}

/** The student a request is about, when this session may act for them: the teacher for anyone, a student for themselves. */
export function authorise(deps: ServeDeps, req: FastifyRequest, reply: FastifyReply, id: string): ClassContext['copies'][number] | undefined {
  const s = req.session!;
  if (s.role !== 'teacher' && s.user !== id) {
    void reply.code(403).send({ error: 'not your lab' });
    return undefined;
  }
  const copy = deps.ctx.copies.find((c) => c.student.id === id);
  if (!copy) {
    void reply.code(404).send({ error: `no student "${id}" in this class` });
    return undefined;
  }
  return copy;
}

export function requireTeacher(req: FastifyRequest, reply: FastifyReply): boolean {
  if (req.session!.role === 'teacher') return true;
  void reply.code(403).send({ error: 'for teachers only' });
  return false;
}
