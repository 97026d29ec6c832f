import type { LabRuntime } from '../lab-ops/runtime.js';
import type { UpOptions } from '../lab-ops/up.js';
import type { Plan } from '../plan/plan.js';
import { waitLabWorking } from '../lab-ops/working.js';
import type { Assignment } from './load.js';
import { applySteps, checkpointsComplete, runChecks, startAssignment, type OnStep } from './ops.js';
import { rescueAssignment } from './rescue.js';
import type { CheckResult } from './results.js';

/**
 * An assignment tested like code, before a class meets it: for every stage,
 * from its checkpoint with its setup applied, each of its checks must fail
 * (a check that passes there grades nothing), and after the teacher's
 * solution every check of that stage and of the ones before must pass.
 * The lab is left at the start of stage 1 (no autosave: it is the teacher's).
 */
export interface StageVerdict {
  stage: number;
  name: string;
  before: CheckResult[];
  after: CheckResult[];
  problems: string[];
}

export interface Verdict {
  assignment: string;
  ok: boolean;
  stages: StageVerdict[];
  seconds: number;
}

export async function verifyAssignment(rt: LabRuntime, a: Assignment, plan: Plan, up: UpOptions, onStep?: OnStep): Promise<Verdict> {
  const t0 = Date.now();
  // The lab may be in any state (a student's, a broken one): with every checkpoint there, start is not needed.
  if (!(await checkpointsComplete(rt, a, plan))) await startAssignment(rt, a, plan, up, onStep);
  const stages: StageVerdict[] = [];
  for (const stage of a.stages) {
    onStep?.(`stage ${stage.index} (${stage.name}): from its checkpoint`);
    await rescueAssignment(rt, a, plan, { stage: stage.index, discard: true }, onStep);
    const before = await runChecks(rt, a, undefined, stage.checks);
    const guard = new Set(stage.checks.filter((c) => c.guard).map((c) => c.name));
    const problems = before
      .filter((r) => r.passed && !guard.has(r.name))
      .map((r) => `check "${r.name}" passes before the solution: it grades nothing (mark it guard: true if it must only keep passing)`);
    problems.push(...before.filter((r) => !r.passed && guard.has(r.name)).map((r) => `guard check "${r.name}" fails at the start of the stage: ${r.detail ?? ''}`));
    if (!stage.checks.some((c) => !c.guard)) problems.push(`stage ${stage.index} has only guard checks: nothing grades its task`);
    if (stage.solution.length === 0) problems.push(`stage ${stage.index} has no solution: nothing proves its checks can pass`);
    let after: CheckResult[] = [];
    try {
      await applySteps(rt, a, stage, 'solution', onStep);
      // Judged once the lab has settled (routing converged, leases taken): every readiness probe passes.
      await waitLabWorking(rt, plan).catch((e: Error) => problems.push(`after the solution the lab does not work: ${e.message}`));
      after = await runChecks(
        rt,
        a,
        undefined,
        a.checks.filter((c) => c.stage <= stage.index),
      );
      for (const r of after.filter((x) => !x.passed)) problems.push(`check "${r.name}" (stage ${r.stage}) still fails after the solution: ${r.detail ?? r.message ?? ''}`);
    } catch (e) {
      problems.push((e as Error).message);
    }
    stages.push({ stage: stage.index, name: stage.name, before, after, problems });
  }
  onStep?.('back to the start of stage 1');
  await rescueAssignment(rt, a, plan, { stage: 1, discard: true }, onStep);
  return { assignment: a.name, ok: stages.every((s) => s.problems.length === 0), stages, seconds: (Date.now() - t0) / 1000 };
}
