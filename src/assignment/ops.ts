import { VmlabError } from '../errors.js';
import type { GuestChannel } from '../guest/agent.js';
import { domainName } from '../lab/names.js';
import { progressStore, skippedStages } from '../lab-ops/progress.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { createLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets, type SnapshotOpResult } from '../lab-ops/snapshots.js';
import { upLab, type UpOptions, type UpResult } from '../lab-ops/up.js';
import { waitLabWorking } from '../lab-ops/working.js';
import type { Plan } from '../plan/plan.js';
import type { Assignment, AssignmentCheck, CommandStep, Stage } from './load.js';
import { setLink } from '../lab-ops/links.js';
import { judge, summarise, type CheckResult, type CheckRun } from './results.js';

/** What a long assignment operation is doing now, for progress lines. */
export type OnStep = (what: string) => void;

/** Runs `f` with the guest agent of a lab's running VM; a VM that is not running is an error naming its state. */
async function withAgent<T>(rt: LabRuntime, a: Assignment, vm: string, f: (agent: GuestChannel) => Promise<T>): Promise<T> {
  const dn = domainName(a.lab.name, vm);
  const info = await rt.hypervisor.domain(dn);
  if (!info || info.state !== 'running') throw new VmlabError('ERR_VMLAB_VM_NOT_RUNNING', `VM ${vm} is ${info ? info.state : 'not defined'}`, { hint: `vmlab up ${a.labFile}` });
  const agent = await rt.agentFor(dn, vm);
  try {
    return await f(agent);
  } finally {
    agent.close();
  }
}

/** A stage's setup or solution, step by step; a step that does not exit 0 stops it with what it printed. */
export async function applySteps(rt: LabRuntime, a: Assignment, stage: Stage, which: 'setup' | 'solution', onStep?: OnStep): Promise<void> {
  for (const s of stage[which]) {
    onStep?.(`stage ${stage.index} ${which}: ${s.name}`);
    if (s.kind === 'link') {
      await setLink(rt, a.lab.name, { vm: s.vm, nic: s.nic }, { fields: s.fields, clear: s.clear }).catch((e: VmlabError) => {
        throw new VmlabError('ERR_VMLAB_STEP_FAILED', `stage ${stage.index} (${stage.name}) ${which} "${s.name}" failed: ${e.message}`, { ...(e.hint ? { hint: e.hint } : {}) });
      });
      continue;
    }
    const r = await withAgent(rt, a, s.vm, (agent) => agent.exec(s.run[0]!, s.run.slice(1), { timeoutMs: s.timeoutS * 1000 }));
    if (r.exitCode !== 0) throw stepFailed(a, stage, which, s, r);
  }
}

function stepFailed(a: Assignment, stage: Stage, which: string, s: CommandStep, r: { exitCode: number | null; stdout: string; stderr: string }): VmlabError {
  const out = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
  return new VmlabError('ERR_VMLAB_STEP_FAILED', `stage ${stage.index} (${stage.name}) ${which} "${s.name}" exited ${r.exitCode} on ${s.vm}${out ? `: ${out}` : ''}`, {
    hint: `fix the ${which} in ${a.file}; try the command with vmlab exec ${a.labFile} ${s.vm} -- ${s.run.join(' ')}`,
  });
}

/**
 * Brings the assignment's lab up, waits until it works (every VM's services
 * answer their readiness probes: up does that), then takes every stage's
 * checkpoint and leaves the lab at the start of stage 1 with its setup
 * applied. Stage 1's checkpoint is the working lab; stage N+1's is stage N
 * solved (its setup, then the teacher's solution), taken only once the lab
 * works again. Checkpoints are taken before their stage's setup, which is
 * applied after every revert to them. Idempotent: checkpoints that exist are
 * kept (they are what students were handed), and a started lab is not touched.
 */
export async function startAssignment(rt: LabRuntime, a: Assignment, plan: Plan, up: UpOptions, onStep?: OnStep): Promise<{ up: UpResult; created: boolean; snapshots: SnapshotOpResult[] }> {
  const r = await upLab(rt, plan, up);
  const notReady = r.vms.filter((v) => !v.ready);
  if (notReady.length) {
    throw new VmlabError(
      'ERR_VMLAB_NOT_READY',
      `lab "${plan.lab.name}" is not ready, so no checkpoint was taken (${notReady.map((v) => `${v.name}: ${v.error ? v.error.message : v.action}`).join('; ')})`,
      { hint: notReady.find((v) => v.error?.hint)?.error?.hint ?? `vmlab up ${a.labFile} shows why` },
    );
  }
  const snapshots = await takeCheckpoints(rt, a, plan, onStep);
  return { up: r, created: snapshots.length > 0, snapshots };
}

/** Whether every stage's checkpoint exists, complete, in the lab as libvirt has it. */
export async function checkpointsComplete(rt: LabRuntime, a: Assignment, plan: Plan): Promise<boolean> {
  const targets = await snapshotTargets(rt, plan.lab.name, plan).catch(() => undefined);
  if (!targets) return false;
  const have = new Set((await listLabSnapshots(rt, targets)).filter((s) => s.complete).map((s) => s.name));
  return a.stages.every((s) => have.has(s.checkpoint));
}

/** The stage checkpoints that are missing, taken in order (see startAssignment). */
export async function takeCheckpoints(rt: LabRuntime, a: Assignment, plan: Plan, onStep?: OnStep): Promise<SnapshotOpResult[]> {
  const targets = await snapshotTargets(rt, plan.lab.name, plan);
  const have = new Set((await listLabSnapshots(rt, targets)).filter((s) => s.complete).map((s) => s.name));
  const first = a.stages.find((s) => !have.has(s.checkpoint));
  if (!first) return [];
  const taken: SnapshotOpResult[] = [];
  const take = async (s: Stage) => {
    onStep?.(`checkpoint ${s.checkpoint}`);
    // Every stage's checkpoint is taken right after the lab passed its probes (up, or the previous stage's solution).
    taken.push(await createLabSnapshot(rt, plan.lab.name, targets, s.checkpoint, `vmlab assignment ${a.name}: the start of stage ${s.index} (${s.name})`, { working: true }));
  };
  if (first.index === 1) await take(first);
  else {
    onStep?.(`back to ${a.stages[first.index - 2]!.checkpoint} to build stage ${first.index}`);
    const back = await revertLabSnapshot(rt, plan.lab.name, targets, a.stages[first.index - 2]!.checkpoint);
    await waitLabWorking(rt, plan, { after: back });
  }
  for (let i = Math.max(first.index, 2); i <= a.stages.length; i++) {
    const prev = a.stages[i - 2]!;
    await applySteps(rt, a, prev, 'setup', onStep);
    await applySteps(rt, a, prev, 'solution', onStep);
    await waitLabWorking(rt, plan).catch((e: Error) => {
      throw new VmlabError('ERR_VMLAB_SOLUTION_BROKEN', `after stage ${prev.index}'s solution the lab does not work, so stage ${i} has no checkpoint: ${e.message}`, {
        hint: `fix stage ${prev.index}'s solution in ${a.file} (vmlab assignment verify shows what its checks say)`,
      });
    });
    await take(a.stages[i - 1]!);
  }
  if (a.stages.length > 1) {
    onStep?.(`back to ${a.checkpoint}: the start of stage 1`);
    const back = await revertLabSnapshot(rt, plan.lab.name, targets, a.checkpoint);
    await waitLabWorking(rt, plan, { after: back });
  }
  await enterStage(rt, a, plan, a.stages[0]!, onStep, { fresh: true });
  return taken;
}

/**
 * A stage begins: its setup is applied and the lab's progress says so. A rescue past the furthest
 * stage the lab reached is recorded: the stages it skipped came solved with the checkpoint.
 */
export async function enterStage(rt: LabRuntime, a: Assignment, plan: Plan, stage: Stage, onStep?: OnStep, opts: { rescue?: boolean; fresh?: boolean } = {}): Promise<void> {
  await applySteps(rt, a, stage, 'setup', onStep);
  const store = progressStore(rt.paths.dataDir);
  const prev = opts.fresh ? undefined : store.read(plan.lab.name);
  const same = prev?.assignment === a.name;
  const reached = same ? (prev.reached ?? prev.stage) : 1;
  const rescues = same ? [...(prev.rescues ?? [])] : [];
  if (opts.rescue && stage.index > reached) rescues.push({ at: new Date().toISOString(), from: reached, to: stage.index });
  store.write(plan.lab.name, {
    assignment: a.name,
    stage: stage.index,
    stages: a.stages.length,
    enteredAt: new Date().toISOString(),
    reached: Math.max(reached, stage.index),
    ...(rescues.length ? { rescues } : {}),
    ...(same && prev.lastCheck ? { lastCheck: prev.lastCheck } : {}),
  });
}

/** Runs checks through the guest agent, one after the other (all of the assignment's unless given). */
export async function runChecks(rt: LabRuntime, a: Assignment, onCheck?: (r: CheckResult) => void, checks: AssignmentCheck[] = a.checks): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    const t0 = performance.now();
    const deadline = t0 + (check.withinS ?? 0) * 1000;
    let r: CheckResult;
    // A check with `within` is run again until it passes or its time is up (recovery from a fault).
    for (;;) {
      r = judge(check, await runOnce(rt, a, check), Math.round(performance.now() - t0));
      if (r.passed || performance.now() + 1000 > deadline) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    results.push(r);
    onCheck?.(r);
  }
  return results;
}

async function runOnce(rt: LabRuntime, a: Assignment, check: AssignmentCheck): Promise<{ exitCode: number | null; stdout: string; stderr: string; error?: string }> {
  try {
    const [path, ...args] = check.run;
    const r = await withAgent(rt, a, check.vm, (agent) => agent.exec(path!, args, { timeoutMs: check.timeoutS * 1000 }));
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    return { exitCode: null, stdout: '', stderr: '', error: (e as Error).message };
  }
}

/**
 * A student's "check my work": every check of every stage, scored. When the
 * stage the lab is in passes, the next one begins (its setup is applied) and
 * its checks are run again on what the setup did. The score and the stage
 * are recorded for status and the class table.
 */
export async function checkAssignment(rt: LabRuntime, a: Assignment, plan: Plan, onCheck?: (r: CheckResult) => void, onStep?: OnStep): Promise<CheckRun & { entered: number[] }> {
  const checkedAt = new Date();
  const store = progressStore(rt.paths.dataDir);
  const results = await runChecks(rt, a, onCheck);
  const progress = store.read(plan.lab.name);
  let stage = progress?.assignment === a.name ? progress.stage : 1;
  const entered: number[] = [];
  const passes = (k: number) => results.filter((r) => r.stage === k).every((r) => r.passed);
  while (stage < a.stages.length && passes(stage)) {
    const next = a.stages[stage]!;
    await enterStage(rt, a, plan, next, onStep);
    entered.push(next.index);
    const again = await runChecks(rt, a, undefined, next.checks);
    for (const r of again) results[results.findIndex((x) => x.name === r.name)] = r;
    stage = next.index;
  }
  const now = store.read(plan.lab.name);
  const same = now?.assignment === a.name;
  // Stages skipped by a rescue: their checks are shown, and score as the assignment says (none by default).
  const skipped = skippedStages(same ? now : undefined);
  const scored = results.map((r) => (skipped.has(r.stage) ? { ...r, rescued: true as const, earned: a.rescued === 'points' ? r.earned : 0 } : r));
  const run = {
    ...summarise(a, scored, checkedAt),
    stage: passes(stage) && stage === a.stages.length ? a.stages.length + 1 : stage,
    stages: a.stages.length,
    ...(same && now.rescues?.length ? { rescues: now.rescues } : {}),
  };
  store.write(plan.lab.name, {
    ...(same ? now : {}),
    assignment: a.name,
    stage: same ? now.stage : stage,
    stages: a.stages.length,
    enteredAt: now?.enteredAt ?? checkedAt.toISOString(),
    lastCheck: { at: run.checkedAt, score: run.score, maxScore: run.maxScore, passed: run.passed, failed: run.failed },
  });
  return { ...run, entered };
}
