import { VmlabError } from '../errors.js';
import type { GuestChannel } from '../guest/agent.js';
import type { Plan } from '../plan/plan.js';
import { renderProbes } from '../render/probes.js';
import { waitProbes } from './readiness.js';
import type { LabRuntime } from './runtime.js';
import type { SnapshotOpResult } from './snapshots.js';

export interface WorkingOptions {
  timeoutMs?: number;
  /**
   * The revert this follows. A VM it resumed from memory (no boot, no restart,
   * no link changed under it) is in the very state its snapshot was taken in —
   * and vmlab takes checkpoints only of a lab whose probes all passed — so it
   * is asked only to answer (its agent), not probed again. Containers (which
   * restart) and VMs that booted are probed.
   */
  after?: SnapshotOpResult;
}

export interface WorkingResult {
  ms: number;
  /** The VMs whose readiness probes were run, and those resumed from memory that were only asked to answer. */
  probed: string[];
  resumed: string[];
}

/**
 * Waits until every VM of a running lab passes its readiness probes (its
 * services work): after a revert or a reset, so students land in a lab that
 * works, never in one still converging. All VMs in parallel.
 */
export async function waitLabWorking(rt: LabRuntime, plan: Plan, opts: WorkingOptions = {}): Promise<WorkingResult> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const deadline = t0 + timeoutMs;
  const resumed = new Set((opts.after?.vms ?? []).filter((v) => v.resumed).map((v) => v.vm));
  const probed: string[] = [];
  const answered: string[] = [];
  const settled = await Promise.allSettled(
    plan.vms.map(async (vm) => {
      const probes = renderProbes(plan, vm);
      if (!probes.length) return;
      const agent = await rt.agentFor(vm.domainName, vm.name);
      try {
        if (resumed.has(vm.name)) {
          answered.push(vm.name);
          return await answers(agent, deadline);
        }
        probed.push(vm.name);
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
  const inOrder = (names: string[]) => plan.vms.map((v) => v.name).filter((n) => names.includes(n));
  return { ms: Date.now() - t0, probed: inOrder(probed), resumed: inOrder(answered) };
}

/** Until the guest agent answers a ping: right after a loadvm libvirt may not have seen its channel connect again yet. */
async function answers(agent: GuestChannel, deadline: number): Promise<void> {
  for (;;) {
    try {
      return await agent.ping(Math.min(3000, Math.max(500, deadline - Date.now())));
    } catch (e) {
      if (Date.now() + 100 >= deadline) {
        throw new VmlabError('ERR_VMLAB_AGENT_SILENT', `${agent.vmName}: resumed from its snapshot, but its guest agent does not answer (${(e as Error).message})`, {
          hint: `look at its console: vmlab console LAB ${agent.vmName}; a reset or a revert puts it back again`,
          cause: e,
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
