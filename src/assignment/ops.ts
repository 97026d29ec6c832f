import { VmlabError } from '../errors.js';
import { upLab, type UpOptions, type UpResult } from '../lab-ops/up.js';
import { waitLabWorking } from '../lab-ops/working.js';
import type { Plan } from '../plan/plan.js';
import { domainName } from '../lab/names.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { createLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets, type SnapshotOpResult } from '../lab-ops/snapshots.js';
import type { Assignment } from './load.js';
import { judge, summarise, type CheckResult, type CheckRun } from './results.js';

/**
 * Brings the assignment's lab up, waits until it works (every VM's services
 * answer their readiness probes: up does that), then takes the checkpoint.
 * The checkpoint is never taken of a lab that is not ready.
 */
export async function startAssignment(rt: LabRuntime, a: Assignment, plan: Plan, up: UpOptions): Promise<{ up: UpResult; created: boolean; snapshot?: SnapshotOpResult }> {
  const r = await upLab(rt, plan, up);
  const notReady = r.vms.filter((v) => !v.ready);
  if (notReady.length) {
    throw new VmlabError(
      'ERR_VMLAB_NOT_READY',
      `lab "${plan.lab.name}" is not ready, so no checkpoint was taken (${notReady.map((v) => `${v.name}: ${v.error ? v.error.message : v.action}`).join('; ')})`,
      {
        hint: notReady.find((v) => v.error?.hint)?.error?.hint ?? `vmlab up ${a.labFile} shows why`,
      },
    );
  }
  return { up: r, ...(await takeCheckpoint(rt, a, plan)) };
}

/**
 * Takes the assignment's checkpoint of a lab that is up and ready, unless a
 * complete one exists already (start is idempotent: the checkpoint is the
 * state students were handed, never silently replaced).
 */
export async function takeCheckpoint(rt: LabRuntime, a: Assignment, plan: Plan): Promise<{ created: boolean; snapshot?: SnapshotOpResult }> {
  const targets = await snapshotTargets(rt, plan.lab.name, plan);
  const existing = (await listLabSnapshots(rt, targets)).find((s) => s.name === a.checkpoint);
  if (existing?.complete) return { created: false };
  return { created: true, snapshot: await createLabSnapshot(rt, plan.lab.name, targets, a.checkpoint, `vmlab assignment ${a.name}: the state students start from`) };
}

/** Runs every check through the guest agent, one after the other, and scores them. */
export async function runChecks(rt: LabRuntime, a: Assignment, onCheck?: (r: CheckResult) => void): Promise<CheckRun> {
  const checkedAt = new Date();
  const results: CheckResult[] = [];
  for (const check of a.checks) {
    const t0 = performance.now();
    let got: { exitCode: number | null; stdout: string; stderr: string; error?: string };
    try {
      const dn = domainName(a.lab.name, check.vm);
      const info = await rt.hypervisor.domain(dn);
      if (!info || info.state !== 'running') got = { exitCode: null, stdout: '', stderr: '', error: `VM ${check.vm} is ${info ? info.state : 'not defined'}` };
      else {
        const agent = await rt.agentFor(dn, check.vm);
        try {
          const [path, ...args] = check.run;
          const r = await agent.exec(path!, args, { timeoutMs: check.timeoutS * 1000 });
          got = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
        } finally {
          agent.close();
        }
      }
    } catch (e) {
      got = { exitCode: null, stdout: '', stderr: '', error: (e as Error).message };
    }
    const r = judge(check, got, Math.round(performance.now() - t0));
    results.push(r);
    onCheck?.(r);
  }
  return summarise(a, results, checkedAt);
}

export function autosaveName(now = new Date()): string {
  return `autosave-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .replace(/\.\d+Z$/, '')}`;
}

/**
 * Back to the checkpoint; by default the current state is kept first as
 * autosave-<time>. Returns once the lab works again (every readiness probe
 * passes), so a student's first check after a reset judges their own work.
 */
export async function resetAssignment(
  rt: LabRuntime,
  a: Assignment,
  plan: Plan,
  opts: { discard?: boolean } = {},
): Promise<{ autosave?: SnapshotOpResult; revert: SnapshotOpResult; workingMs: number }> {
  const targets = await snapshotTargets(rt, plan.lab.name, plan);
  const cp = (await listLabSnapshots(rt, targets)).find((s) => s.name === a.checkpoint);
  if (!cp?.complete) {
    // Let revert explain (missing vs incomplete) before an autosave is taken.
    const revert = await revertLabSnapshot(rt, plan.lab.name, targets, a.checkpoint);
    return { revert, workingMs: (await waitLabWorking(rt, plan)).ms };
  }
  const autosave = opts.discard ? undefined : await createLabSnapshot(rt, plan.lab.name, targets, autosaveName(), `vmlab assignment ${a.name}: saved before reset`);
  // With an autosave, a revert that fails on some VMs puts every VM back to it: a reset is all or nothing.
  const revert = await revertLabSnapshot(rt, plan.lab.name, targets, a.checkpoint, autosave ? { rollbackTo: autosave.snapshot } : {});
  const working = await waitLabWorking(rt, plan);
  return { ...(autosave ? { autosave } : {}), revert, workingMs: working.ms };
}
