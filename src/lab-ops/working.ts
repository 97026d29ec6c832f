import { VmlabError } from '../errors.js';
import type { Plan } from '../plan/plan.js';
import { renderProbes } from '../render/probes.js';
import { waitProbes } from './readiness.js';
import { checkpointStore, reasonToProbe } from './checkpoints.js';
import type { LabRuntime } from './runtime.js';
import { labReadyTimeoutMs } from './timeouts.js';
import type { SnapshotOpResult } from './snapshots.js';

/**
 * Waits until every VM of a running lab passes its readiness probes (its
 * services work): after a revert or a reset, so students land in a lab that
 * works, never in one still converging. All VMs in parallel.
 *
 * Except after a revert (`after`) that put back exactly a lab vmlab recorded
 * working (checkpoints.ts): every VM's memory loaded in its running QEMU,
 * its clock back at the snapshot's time with it, its links as they were.
 * Such a lab is the working one; its probes would only spend seconds of
 * every guest's CPU proving it (under TCG, 20 probes of the network lab
 * cost 5–8 s of QEMU's CPU). Where a guest's clock runs on instead (the TSC
 * under TCG: QEMU's tick count never goes back), every timer that fell due
 * since the snapshot fires at once — OSPF's dead interval drops the
 * adjacency and the routes with it, and the lab converges again: then the
 * probes decide, as after any other revert.
 */
export async function waitLabWorking(
  rt: LabRuntime,
  plan: Plan,
  opts: { timeoutMs?: number; after?: SnapshotOpResult } = {},
): Promise<{ ms: number; /** Why the probes ran, or that they did not need to. */ probed: string }> {
  const t0 = Date.now();
  // Was 180 s on every host: tight for six TCG guests probed at once on a 2-core host 2.5× slower than ours
  const timeoutMs = opts.timeoutMs ?? labReadyTimeoutMs(plan);
  if (opts.after) {
    const why = reasonToProbe(
      checkpointStore(rt.paths.dataDir).read(plan.lab.name),
      plan.vms.map((v) => v.name),
      opts.after,
    );
    // Its agents reconnect for a moment after the loadvm: a command waits for them (lab-ops/resumed.ts).
    if (!why) return { ms: Date.now() - t0, probed: `no: "${opts.after.snapshot}" is a working checkpoint, resumed in place with its clocks` };
    await probeLab(rt, plan, t0, timeoutMs);
    return { ms: Date.now() - t0, probed: `yes: ${why}` };
  }
  await probeLab(rt, plan, t0, timeoutMs);
  return { ms: Date.now() - t0, probed: 'yes' };
}

/** Every VM's readiness probes, in parallel, until they pass or `timeoutMs` from `t0` is up. */
async function probeLab(rt: LabRuntime, plan: Plan, t0: number, timeoutMs: number): Promise<void> {
  const deadline = t0 + timeoutMs;
  const settled = await Promise.allSettled(
    plan.vms.map(async (vm) => {
      const probes = renderProbes(plan, vm);
      if (!probes.length) return;
      const agent = await rt.agentFor(vm.domainName, vm.name);
      try {
        await waitProbes(agent, vm.name, probes, deadline, timeoutMs);
      } finally {
        agent.close();
      }
    }),
  );
  const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failed.length === 1) throw failed[0];
  if (failed.length) {
    throw new VmlabError('ERR_VMLAB_SERVICE_NOT_READY', `lab "${plan.lab.name}" does not work yet:\n  ${failed.map((e) => e.message).join('\n  ')}`, {
      hint: (failed[0] as VmlabError).hint,
    });
  }
}
