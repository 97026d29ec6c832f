import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AccountStore, classLogins, type NewLogin } from '../../src/class/accounts.js';
import type { ClassContext } from '../../src/class/context.js';
import { classUp, type HostFacts } from '../../src/class/up.js';
import { loadAssignment } from '../../src/assignment/load.js';
import { loadClass } from '../../src/lab/class-file.js';
import { classCopies } from '../../src/plan/class-plan.js';
import { planLab } from '../../src/plan/plan.js';
import { buildApp, CSRF_HEADER, SECURE_SESSION_COOKIE, SESSION_COOKIE, type ServeDeps } from '../../src/serve/app.js';
import { GiB } from '../../src/util/units.js';
import { fakeRuntime } from './fake-runtime.js';
import { GOLDEN_PLAN_OPTS, root } from './lab.js';

/** The pair class on fakes, served by vmlab serve's app (unit/serve*.test.ts). */
export const roomy: HostFacts = { room: (_d, accel) => ({ memoryBytes: 64 * GiB, diskBytes: 500 * GiB, cores: 8, accel }) };

export interface World {
  app: FastifyInstance;
  logins: Record<string, NewLogin>;
  logLines: string[];
  guests: ReturnType<typeof fakeRuntime>['guests'];
  deps: ServeDeps;
}

/** The pair class on fakes, up, with logins for its three students and a teacher, served. */
export async function world(opts: Partial<Pick<ServeDeps, 'secureCookies' | 'loginsPerMinute' | 'https' | 'trustProxy' | 'failuresPerAccount' | 'accountWatchMs'>> = {}): Promise<World> {
  const { rt, disks, guests } = fakeRuntime();
  const cls = loadClass(join(root, 'classes', 'pair.yaml'));
  const assignment = loadAssignment(cls.source.file);
  const ctx: ClassContext = { cls, lab: assignment.lab, assignment, copies: classCopies(cls, assignment.lab), plan: (l) => planLab(l, { ...GOLDEN_PLAN_OPTS, paths: rt.paths }) };
  await classUp(rt, ctx, { disks, bridgeExists: async () => true, host: roomy, timeoutMs: 5000 });
  const accounts = new AccountStore(rt.paths.dataDir, cls.name);
  const made = await accounts.issue(classLogins(cls, ['teach']));
  const logLines: string[] = [];
  const deps: ServeDeps = {
    ctx,
    rt,
    accounts,
    resultsDir: join(rt.paths.dataDir, 'classes', 'pair'),
    secureCookies: false,
    ...opts,
    log: (l) => logLines.push(l),
  };
  const app = await buildApp(deps);
  return { app, logins: Object.fromEntries(made.map((m) => [m.id, m])), logLines, guests, deps };
}

export async function login(w: World, id: string, password = w.logins[id]!.password, headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await w.app.inject({ method: 'POST', url: '/api/login', payload: { id, password }, headers });
  assert.equal(r.statusCode, 200, r.body);
  const setCookie = String(r.headers['set-cookie']);
  const c = r.cookies.find((x) => x.name === SESSION_COOKIE || x.name === SECURE_SESSION_COOKIE)!;
  return { cookie: `${c.name}=${c.value}`, csrf: (r.json() as { csrf: string }).csrf, setCookie };
}

export const as = (s: { cookie: string; csrf: string }, csrf = true) => ({ cookie: s.cookie, ...(csrf ? { [CSRF_HEADER]: s.csrf } : {}) });
