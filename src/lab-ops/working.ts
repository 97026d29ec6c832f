import { VmlabError } from '../errors.js';
import type { Plan } from '../plan/plan.js';
import { renderProbes } from '../render/probes.js';
import { waitProbes } from './readiness.js';
import type { LabRuntime } from './runtime.js';

/**
 * Waits until every VM of a running lab passes its readiness probes (its
 * services work): after a revert or a reset, so students land in a lab that
 * works, never in one still converging. All VMs in parallel.
 *
 * Also the VMs a revert resumed from memory: their clock does not go back
 * with it (seen under TCG: a guest's uptime runs on across a loadvm), so
 * every timer that fell due since the snapshot fires at once — OSPF's dead
 * interval drops the adjacency and the routes with it, and the lab
 * converges again. Answering is not working: the probes decide.
 */
export async function waitLabWorking(rt: LabRuntime, plan: Plan, opts: { timeoutMs?: number } = {}): Promise<{ ms: number }> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 180_000;
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
  return { ms: Date.now() - t0 };
}
