import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classCheck, classRescue, mergeClassResults } from '../class/check.js';
import type { ClassResults } from '../class/report.js';
import { classDomains } from '../class/ops.js';
import { progressStore } from '../lab-ops/progress.js';
import { requireTeacher, type ServeDeps } from './app.js';

/** The teacher's side: the class table and the class's result files. */
export function teacherRoutes(deps: ServeDeps) {
  return async (app: FastifyInstance) => {
    app.get('/api/class', async (req, reply) => {
      if (!requireTeacher(req, reply)) return reply;
      // Cheap enough to poll for 40 students: one domain list, the progress records, the last results.
      const running = new Map<string, number>();
      for (const d of await classDomains(deps.rt, deps.ctx.cls.name)) if (d.running) running.set(d.student, (running.get(d.student) ?? 0) + 1);
      const store = progressStore(deps.rt.paths.dataDir);
      return {
        class: deps.ctx.cls.name,
        title: deps.ctx.cls.title,
        assignment: deps.ctx.assignment?.name ?? null,
        stages: deps.ctx.assignment?.stages.length ?? 0,
        students: deps.ctx.copies.map((c) => {
          const p = store.read(c.lab.name);
          return {
            student: c.student.id,
            name: c.student.name ?? '',
            vms: c.lab.vms.length,
            running: running.get(c.student.id) ?? 0,
            stage: p?.stage ?? null,
            score: p?.lastCheck ? { score: p.lastCheck.score, maxScore: p.lastCheck.maxScore } : null,
            checkedAt: p?.lastCheck?.at ?? null,
          };
        }),
      };
    });

    // Every student's checks at once (parallel-checks at a time), through the same class check as the CLI.
    app.post('/api/class/check', async (req, reply) => {
      if (!requireTeacher(req, reply)) return reply;
      if (!deps.ctx.assignment) return reply.code(409).send({ error: 'this class has no assignment to check' });
      const r = await classCheck(deps.rt, deps.ctx);
      mergeClassResults(
        deps.resultsDir,
        r,
        deps.ctx.cls.students.map((s) => s.id),
      );
      return { checked: r.students.length, failed: r.students.filter((s) => !s.run || s.run.failed > 0).map((s) => s.student) };
    });

    // Everyone back to the start (each student's work autosaved), as `vmlab class reset` does.
    app.post('/api/class/reset', async (req, reply) => {
      if (!requireTeacher(req, reply)) return reply;
      if (!deps.ctx.assignment) return reply.code(409).send({ error: 'this class has no assignment to go back in' });
      const r = await classRescue(deps.rt, deps.ctx, { stage: 1 });
      return { reset: r.filter((x) => x.ok).map((x) => x.student), failed: r.filter((x) => !x.ok).map((x) => ({ student: x.student, error: x.error })) };
    });

    // The last `vmlab bench` (its default --out), for the course's comparison.
    for (const [name, type] of [
      ['chart.svg', 'image/svg+xml'],
      ['results.md', 'text/markdown; charset=utf-8'],
      ['results.json', 'application/json'],
    ] as const) {
      app.get(`/api/bench/${name}`, async (req, reply) => {
        if (!requireTeacher(req, reply)) return reply;
        const path = join(deps.benchDir ?? join('bench-results', 'bench'), name);
        if (!existsSync(path)) return reply.code(404).send({ error: 'no vmlab bench results yet (vmlab bench --quick makes them)' });
        return reply.type(type).header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(readFileSync(path));
      });
    }

    const file = (name: string, type: string) =>
      app.get(`/api/class/${name}`, async (req, reply) => {
        if (!requireTeacher(req, reply)) return reply;
        const path = join(deps.resultsDir, name);
        if (!existsSync(path)) return reply.code(404).send({ error: 'no class check yet' });
        return reply.type(type).header('content-disposition', `attachment; filename="${deps.ctx.cls.name}-${name}"`).send(readFileSync(path));
      });
    file('class.csv', 'text/csv; charset=utf-8');
    file('class.json', 'application/json');
    file('report.html', 'text/html; charset=utf-8');

    app.get<{ Params: { id: string } }>('/api/class/junit/:id', async (req, reply) => {
      if (!requireTeacher(req, reply)) return reply;
      const results = join(deps.resultsDir, 'class.json');
      const known = existsSync(results) && (JSON.parse(readFileSync(results, 'utf8')) as ClassResults).students.some((s) => s.student === req.params.id && s.run);
      if (!known) return reply.code(404).send({ error: `no check of "${req.params.id}" yet` });
      return reply.type('application/xml').send(readFileSync(join(deps.resultsDir, 'junit', `${req.params.id}.xml`)));
    });
  };
}
