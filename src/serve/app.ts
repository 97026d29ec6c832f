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
import { Sessions, type Session } from './sessions.js';
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
  /** Where the last `vmlab bench` wrote its results (default bench-results/bench, as the CLI's). */
  benchDir?: string;
  /** Login attempts per client address and minute before 429. */
  loginsPerMinute?: number;
  log?: (line: string) => void;
}

export const SESSION_COOKIE = 'vmlab_session';
export const CSRF_HEADER = 'x-vmlab-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

export async function buildApp(deps: ServeDeps): Promise<FastifyInstance> {
  const app = (deps.https ? Fastify({ logger: false, bodyLimit: 64 * 1024, https: deps.https }) : Fastify({ logger: false, bodyLimit: 64 * 1024 })) as unknown as FastifyInstance;
  const sessions = new Sessions();
  const log = deps.log ?? ((l: string) => process.stderr.write(l + '\n'));
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  // An access log without bodies, cookies or headers: no secret ever reaches it.
  app.addHook('onResponse', async (req, reply) => {
    log(`${new Date().toISOString()} ${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]} ${reply.statusCode} ${req.session?.user ?? '-'}`);
  });

  app.addHook('onRequest', async (req, reply) => {
    req.session = sessions.get(req.cookies[SESSION_COOKIE]);
    if (!req.url.startsWith('/api/') || req.url === '/api/login') return;
    if (!req.session) return reply.code(401).send({ error: 'log in first' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A cross-site request can neither read the token nor set the header: no CSRF.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `${deps.secureCookies ? 'https' : 'http'}://${req.headers.host}`) return reply.code(403).send({ error: 'cross-site request refused' });
      if (req.headers[CSRF_HEADER] !== req.session.csrf) return reply.code(403).send({ error: 'missing or wrong CSRF token' });
    }
  });

  app.post<{ Body: { id?: unknown; password?: unknown } }>('/api/login', { config: { rateLimit: { max: deps.loginsPerMinute ?? 10, timeWindow: '1 minute' } } }, async (req, reply) => {
    const { id, password } = req.body ?? {};
    if (typeof id !== 'string' || typeof password !== 'string' || id.length > 64 || password.length > 256) return reply.code(400).send({ error: 'give id and password' });
    const a = await deps.accounts.verify(id, password);
    if (!a) return reply.code(401).send({ error: 'wrong login or password' });
    const { token, session } = sessions.create(a.id, a.role);
    reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: deps.secureCookies, path: '/', maxAge: 8 * 3600 });
    return { id: a.id, role: a.role, csrf: session.csrf };
  });

  app.post('/api/logout', async (req, reply) => {
    sessions.destroy(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/me', async (req) => ({ id: req.session!.user, role: req.session!.role, csrf: req.session!.csrf, class: deps.ctx.cls.name, title: deps.ctx.cls.title }));

  await app.register(studentRoutes(deps));
  await app.register(teacherRoutes(deps));
  await app.register(consoleRoutes(deps));
  await app.register(pageRoutes());
  return app;
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
