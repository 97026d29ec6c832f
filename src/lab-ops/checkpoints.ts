import { join } from 'node:path';
import { CLOCKSOURCE_FILE } from '../render/cloud-init.js';
import type { SnapshotInfo } from '../libvirt/types.js';
import { CLOCKS_RESTORED_BY_SNAPSHOT } from '../profiles/index.js';
import { labStore, type LabStore } from './json-store.js';
import type { LabRuntime } from './runtime.js';
import type { SnapshotOpResult, SnapshotTarget } from './snapshots.js';

/**
 * Lab snapshots vmlab took of a working lab (right after every readiness
 * probe passed: an assignment's stage checkpoints), with what each VM kept
 * time by. Reverting to one in the running QEMUs puts every guest back as it
 * was then, clocks included where the clocksource goes back with the snapshot
 * (profiles/accel.ts): such a lab works again at once, with no probe to wait
 * for. One file per lab; an entry holds each VM's snapshot creation time, so a
 * snapshot of that name taken again (by hand) is not mistaken for it.
 */
export interface WorkingCheckpoint {
  vms: Record<string, { createdAt: number; clocksource: string }>;
}

export type CheckpointRecord = Record<string, WorkingCheckpoint>;

export function checkpointStore(dataDir: string): LabStore<CheckpointRecord> {
  return labStore<CheckpointRecord>(join(dataDir, 'checkpoints'));
}

/** What a guest keeps time by, read from sysfs through its channel (no process started); "unknown" when it cannot be read. */
async function guestClocksource(rt: LabRuntime, t: SnapshotTarget, info: SnapshotInfo): Promise<string> {
  if (info.containerFiles) return 'none (a container: restarted by a revert)';
  try {
    const agent = await rt.agentFor(t.domain, t.vm);
    try {
      return (await agent.readFile(CLOCKSOURCE_FILE, 256)).trim() || 'unknown';
    } finally {
      agent.close();
    }
  } catch {
    return 'unknown';
  }
}

/** Notes that snapshot `name`, just taken on every target, is of the lab working. */
export async function recordWorkingCheckpoint(rt: LabRuntime, lab: string, targets: SnapshotTarget[], name: string): Promise<void> {
  const vms: WorkingCheckpoint['vms'] = {};
  await Promise.all(
    targets.map(async (t) => {
      const info = (await rt.hypervisor.listSnapshots(t.domain)).find((s) => s.name === name);
      if (info) vms[t.vm] = { createdAt: info.createdAt, clocksource: await guestClocksource(rt, t, info) };
    }),
  );
  const store = checkpointStore(rt.paths.dataDir);
  store.write(lab, { ...store.read(lab), [name]: { vms } });
}

export function forgetCheckpoint(dataDir: string, lab: string, name: string): void {
  const store = checkpointStore(dataDir);
  const record = store.read(lab);
  if (!record?.[name]) return;
  const { [name]: _gone, ...rest } = record;
  store.write(lab, rest);
}

/**
 * Why the lab a revert produced still has to prove it works (its probes), or
 * undefined when it is exactly the working lab of the checkpoint: every VM of
 * the lab reverted in its running QEMU to the very snapshot recorded working,
 * keeping time by a clock the snapshot puts back, its links unchanged.
 */
export function reasonToProbe(record: CheckpointRecord | undefined, vms: string[], revert: SnapshotOpResult): string | undefined {
  const cp = record?.[revert.snapshot];
  if (!cp) return `"${revert.snapshot}" was not taken by vmlab of a working lab`;
  for (const vm of vms) {
    const r = revert.vms.find((v) => v.vm === vm);
    const taken = cp.vms[vm];
    if (!r) return `${vm} was not reverted`;
    if (!taken || taken.createdAt !== r.createdAt) return `${vm}'s "${revert.snapshot}" is not the one recorded working`;
    if (r.resumed !== 'in place') return `${vm} ${r.resumed === 'new QEMU' ? 'was resumed in a new QEMU' : 'was restarted'}`;
    if (!(taken.clocksource in CLOCKS_RESTORED_BY_SNAPSHOT)) return `${vm} keeps time by ${taken.clocksource}, which does not go back with a snapshot`;
  }
  const moved = (revert.links ?? []).filter((l) => vms.some((vm) => l.startsWith(`${vm}:`)));
  if (moved.length) return `links were put back to the lab file's (${moved.join(', ')})`;
  return undefined;
}
