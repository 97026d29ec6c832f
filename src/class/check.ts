import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkAssignment } from '../assignment/ops.js';
import { rescueAssignment, type RescueResult } from '../assignment/rescue.js';
import { toJunit } from '../assignment/results.js';
import { errorReport, VmlabError, type ErrorReport } from '../errors.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { mapLimit } from '../util/pool.js';
import { studentAssignment, type ClassContext } from './context.js';
import { classCsv, classHtml, type ClassResults, type StudentResult } from './report.js';

function needAssignment(ctx: ClassContext) {
  if (!ctx.assignment) {
    throw new VmlabError('ERR_VMLAB_CLASS_NO_ASSIGNMENT', `class "${ctx.cls.name}" gives its students a lab, not an assignment: there is nothing to check or reset to`, {
      kind: 'user',
      hint: `name an assignment in ${ctx.cls.file} (assignment: ../labs/assignments/NAME.yaml)`,
    });
  }
  return ctx.assignment;
}

/**
 * Every student's checks, at most `parallel` students at once (each
 * student's own checks run one after the other, as for one lab). One
 * student whose lab cannot be checked is a row with an error, not a stop.
 */
export async function classCheck(rt: LabRuntime, ctx: ClassContext, opts: { parallel?: number; onStudent?: (student: string, what: string) => void } = {}): Promise<ClassResults> {
  const a = needAssignment(ctx);
  const checkedAt = new Date().toISOString();
  const students = await mapLimit(ctx.copies, opts.parallel ?? ctx.cls.limits.parallelChecks ?? 4, async (c): Promise<StudentResult> => {
    const base = { student: c.student.id, ...(c.student.name ? { name: c.student.name } : {}), lab: c.lab.name };
    try {
      const run = await checkAssignment(rt, studentAssignment(ctx, c)!, ctx.plan(c.lab), undefined, (what) => opts.onStudent?.(c.student.id, what));
      opts.onStudent?.(c.student.id, `${run.score}/${run.maxScore}`);
      return { ...base, run };
    } catch (e) {
      opts.onStudent?.(c.student.id, `cannot be checked: ${(e as Error).message}`);
      return { ...base, error: (e as Error).message };
    }
  });
  return {
    class: ctx.cls.name,
    title: ctx.cls.title,
    assignment: a.name,
    checkedAt,
    checks: a.checks.map((k) => ({ name: k.name, stage: k.stage, points: k.points })),
    stages: a.stages.length,
    students,
  };
}

/**
 * class.json, class.csv, report.html and junit/<student>.xml under `dir`; returns the paths
 * written. Each file is made and written on its own: whatever one student's results hold, the
 * class's files and every other student's are written (a file that cannot be made is said on
 * stderr, and the others still are).
 */
export function writeClassResults(dir: string, r: ClassResults, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): string[] {
  mkdirSync(join(dir, 'junit'), { recursive: true });
  const files: Array<[string, () => string]> = [
    [join(dir, 'class.json'), () => JSON.stringify(r, null, 2) + '\n'],
    [join(dir, 'class.csv'), () => classCsv(r)],
    [join(dir, 'report.html'), () => classHtml(r)],
    ...r.students.flatMap((s): Array<[string, () => string]> => (s.run ? [[join(dir, 'junit', `${s.student}.xml`), () => toJunit({ ...s.run!, assignment: `${r.assignment}.${s.student}` })]] : [])),
  ];
  const written: string[] = [];
  for (const [f, make] of files) {
    try {
      writeFileSync(f, make());
      written.push(f);
    } catch (e) {
      warn(`vmlab: ${f} not written: ${(e as Error).message}`);
    }
  }
  return written;
}

/**
 * The class's results with these students' rows replaced (a check of one
 * student keeps everyone else's last result), in roster order; written as
 * writeClassResults does. A class.json of another assignment is replaced.
 */
export function mergeClassResults(dir: string, r: ClassResults, roster: readonly string[]): { results: ClassResults; files: string[] } {
  const path = join(dir, 'class.json');
  const old = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ClassResults) : undefined;
  const fresh = new Set(r.students.map((s) => s.student));
  const kept = old && old.assignment === r.assignment ? old.students.filter((s) => !fresh.has(s.student) && roster.includes(s.student)) : [];
  const students = [...kept, ...r.students].sort((a, b) => roster.indexOf(a.student) - roster.indexOf(b.student));
  const results = { ...r, students };
  return { results, files: writeClassResults(dir, results) };
}

export interface StudentRescue {
  student: string;
  ok: boolean;
  result?: RescueResult;
  error?: ErrorReport;
}

/** Back to the start of a stage (1: reset) for every student of the context, `parallel` at once; each autosaved unless `discard`. */
export async function classRescue(
  rt: LabRuntime,
  ctx: ClassContext,
  opts: { stage?: number; discard?: boolean; parallel?: number; onStudent?: (student: string, what: string) => void },
): Promise<StudentRescue[]> {
  needAssignment(ctx);
  return mapLimit(ctx.copies, opts.parallel ?? 2, async (c): Promise<StudentRescue> => {
    try {
      const result = await rescueAssignment(rt, studentAssignment(ctx, c)!, ctx.plan(c.lab), { stage: opts.stage ?? 1, discard: opts.discard }, (what) => opts.onStudent?.(c.student.id, what));
      opts.onStudent?.(c.student.id, `at stage ${result.stage} (${((result.revert.ms + result.workingMs + result.setupMs) / 1000).toFixed(1)} s)`);
      return { student: c.student.id, ok: true, result };
    } catch (e) {
      opts.onStudent?.(c.student.id, `failed: ${(e as Error).message}`);
      return { student: c.student.id, ok: false, error: errorReport(e) };
    }
  });
}
