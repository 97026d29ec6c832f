import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TtlCache } from '../util/ttl-cache.js';
import { classCheck, classRescue, mergeClassResults } from '../class/check.js';
import type { ClassContext } from '../class/context.js';
import { layoutDot } from '../host/graphviz.js';
import { progressStore } from '../lab-ops/progress.js';
import { revertLabSnapshot, snapshotTargets } from '../lab-ops/snapshots.js';
import { labStatus } from '../lab-ops/status.js';
import { renderGraphDot } from '../render/graph-dot.js';
import { authorise, type ServeDeps } from './app.js';

/** What one student is doing now (a check, a reset…): one at a time per student, never blocking the others. */
export interface Activity {
  action: string;
  startedAt: string;
  lines: string[];
  done?: boolean;
  error?: string;
}

export const activities = new WeakMap<ServeDeps, Map<string, Activity>>();

function activityOf(deps: ServeDeps): Map<string, Activity> {
  let m = activities.get(deps);
  if (!m) activities.set(deps, (m = new Map()));
  return m;
}

/** Runs a long action for one student; a second one for the same student while it runs is refused (409). */
async function exclusive<T>(deps: ServeDeps, student: string, action: string, f: (step: (line: string) => void) => Promise<T>): Promise<{ busy?: Activity; value?: T }> {
  const acts = activityOf(deps);
  const running = acts.get(student);
  if (running && !running.done) return { busy: running };
  const act: Activity = { action, startedAt: new Date().toISOString(), lines: [] };
  acts.set(student, act);
  const lab = deps.ctx.copies.find((c) => c.student.id === student)?.lab.name;
  try {
    const value = await f((line) => act.lines.push(`${new Date().toISOString().slice(11, 19)} ${line}`));
    return { value };
  } catch (e) {
    act.error = (e as Error).message;
    throw e;
  } finally {
    act.done = true;
    if (lab) cachesOf(deps).status.drop(lab); // the lab changed: the next status is read anew
  }
}

/** Per login, on routes that cost the host a process or guest CPU per call (cached as well). */
const EXPENSIVE = { max: 60, timeWindow: '1 minute', keyGenerator: (req: FastifyRequest) => req.session?.user ?? req.ip };

const caches = new WeakMap<ServeDeps, { status: TtlCache<Awaited<ReturnType<typeof labStatus>>>; graph: TtlCache<Uint8Array> }>();
function cachesOf(deps: ServeDeps) {
  let c = caches.get(deps);
  if (!c) caches.set(deps, (c = { status: new TtlCache(3000), graph: new TtlCache(10 * 60_000) }));
  return c;
}

const one = (ctx: ClassContext, id: string): ClassContext => ({ ...ctx, copies: ctx.copies.filter((c) => c.student.id === id) });

export function studentRoutes(deps: ServeDeps) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { id: string } }>('/api/students/:id', { config: { rateLimit: EXPENSIVE } }, async (req, reply) => {
      const copy = authorise(deps, req, reply, req.params.id);
      if (!copy) return reply;
      const plan = deps.ctx.plan(copy.lab);
      // Every probe of every VM runs in the guests: shared by every tab and poll for a few seconds.
      const status = await cachesOf(deps).status.get(copy.lab.name, () => labStatus(deps.rt, copy.lab.name, plan));
      const a = deps.ctx.assignment;
      const p = progressStore(deps.rt.paths.dataDir).read(copy.lab.name);
      return {
        student: copy.student.id,
        name: copy.student.name ?? '',
        lab: copy.lab.name,
        vms: status.vms.map((v) => ({
          name: v.name,
          state: v.state,
          profile: v.profile,
          accel: v.accel,
          addresses: v.agentIps.length ? v.agentIps : v.plannedIps,
          ready: v.ready,
          failing: v.failing,
        })),
        missing: status.missing,
        assignment: a ? { name: a.name, title: a.title, tasks: a.tasks, stages: a.stages.map((s) => ({ index: s.index, name: s.name, title: s.title, tasks: s.tasks })) } : null,
        stage: p?.stage ?? null,
        lastCheck: p?.lastCheck ?? null,
        activity: activityOf(deps).get(copy.student.id) ?? null,
      };
    });

    app.get<{ Params: { id: string } }>('/api/students/:id/activity', async (req, reply) => {
      const copy = authorise(deps, req, reply, req.params.id);
      if (!copy) return reply;
      return activityOf(deps).get(copy.student.id) ?? null;
    });

    app.get<{ Params: { id: string } }>('/api/students/:id/graph.svg', { config: { rateLimit: EXPENSIVE } }, async (req, reply) => {
      const copy = authorise(deps, req, reply, req.params.id);
      if (!copy) return reply;
      // Graphviz is a process per layout; the topology changes only with the lab file.
      const svg = await cachesOf(deps).graph.get(copy.lab.name, () => layoutDot(renderGraphDot(deps.ctx.plan(copy.lab)), 'svg'));
      return reply.type('image/svg+xml').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(Buffer.from(svg));
    });

    app.post<{ Params: { id: string } }>('/api/students/:id/check', async (req, reply) => {
      const copy = authorise(deps, req, reply, req.params.id);
      if (!copy) return reply;
      if (!deps.ctx.assignment) return reply.code(409).send({ error: 'this class has no assignment to check' });
      const r = await exclusive(deps, copy.student.id, 'check', (step) => classCheck(deps.rt, one(deps.ctx, copy.student.id), { onStudent: (_s, what) => step(what) }));
      if (r.busy) return reply.code(409).send({ error: `busy: ${r.busy.action} since ${r.busy.startedAt}`, activity: r.busy });
      mergeClassResults(
        deps.resultsDir,
        r.value!,
        deps.ctx.cls.students.map((s) => s.id),
      );
      const row = r.value!.students[0]!;
      return { student: row.student, run: row.run ?? null, error: row.error ?? null };
    });

    // Undo a reset or rescue: back to one of this lab's autosaves (only those: a student cannot jump to another stage's checkpoint this way).
    app.post<{ Params: { id: string }; Body: { snapshot?: unknown } }>('/api/students/:id/undo', async (req, reply) => {
      const copy = authorise(deps, req, reply, req.params.id);
      if (!copy) return reply;
      const name = req.body?.snapshot;
      if (typeof name !== 'string' || !/^autosave-\d{8}-\d{6}(-\d+)?$/.test(name)) return reply.code(400).send({ error: 'give the autosave to go back to (autosave-YYYYMMDD-HHMMSS)' });
      const plan = deps.ctx.plan(copy.lab);
      const r = await exclusive(deps, copy.student.id, 'undo', async (step) => {
        step(`back to ${name}`);
        const targets = await snapshotTargets(deps.rt, copy.lab.name, plan);
        // The student's own state, as it was: no readiness wait (it may be a lab they had broken).
        return revertLabSnapshot(deps.rt, copy.lab.name, targets, name);
      });
      if (r.busy) return reply.code(409).send({ error: `busy: ${r.busy.action} since ${r.busy.startedAt}`, activity: r.busy });
      return { ok: true, revert: r.value };
    });

    for (const action of ['reset', 'rescue'] as const) {
      app.post<{ Params: { id: string }; Body: { stage?: unknown; discard?: unknown } }>(`/api/students/:id/${action}`, async (req, reply) => {
        const copy = authorise(deps, req, reply, req.params.id);
        if (!copy) return reply;
        if (!deps.ctx.assignment) return reply.code(409).send({ error: 'this class has no assignment to go back in' });
        const stage = action === 'reset' ? 1 : Number(req.body?.stage);
        if (!Number.isInteger(stage) || stage < 1 || stage > deps.ctx.assignment.stages.length) return reply.code(400).send({ error: `stage must be 1 to ${deps.ctx.assignment.stages.length}` });
        const r = await exclusive(deps, copy.student.id, action, (step) =>
          classRescue(deps.rt, one(deps.ctx, copy.student.id), { stage, discard: req.body?.discard === true, onStudent: (_s, what) => step(what) }),
        );
        if (r.busy) return reply.code(409).send({ error: `busy: ${r.busy.action} since ${r.busy.startedAt}`, activity: r.busy });
        const x = r.value![0]!;
        return x.ok ? { ok: true, ...x.result } : reply.code(500).send({ ok: false, error: x.error });
      });
    }
  };
}
