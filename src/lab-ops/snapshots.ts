import { VmlabError } from '../errors.js';
import type { SnapshotInfo } from '../libvirt/types.js';
import { domainName, labPrefix } from '../lab/names.js';
import type { Plan } from '../plan/plan.js';
import { SNAPSHOT_NAME } from '../lab/fields.js';
import { forgetCheckpoint, recordWorkingCheckpoint } from './checkpoints.js';
import { applyLabLinks } from './links.js';
import { lockLab } from './lock.js';
import { parseDomainXml } from './metadata.js';
import { noteResumed } from './resumed.js';
import type { LabRuntime } from './runtime.js';
import { startDomain, withCgroupRaceRetry } from './start.js';

/**
 * Lab snapshots: one libvirt internal snapshot per VM, all VMs at once.
 * Internal snapshots keep disks and, of a running guest, memory inside the
 * guest's own qcow2 overlay, so a revert resumes the guest where it was (no
 * boot). A lab snapshot is only usable when every VM has it: revert checks
 * that first and changes nothing otherwise.
 */
export interface SnapshotTarget {
  vm: string;
  domain: string;
}

export function checkSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name)) {
    throw new VmlabError('ERR_VMLAB_SNAPSHOT_NAME', `"${name}" is not a snapshot name`, { kind: 'user', hint: 'letters, digits, ".", "_" and "-", at most 64 characters' });
  }
}

/**
 * The VMs a snapshot command acts on: all VMs of the lab (from the lab file
 * when given, else from libvirt), or one. Every one must exist in libvirt and
 * be able to take internal snapshots; otherwise nothing is done.
 */
export async function snapshotTargets(rt: LabRuntime, lab: string, plan: Plan | undefined, vm?: string): Promise<SnapshotTarget[]> {
  const h = rt.hypervisor;
  const prefix = labPrefix(lab);
  const defined = new Map<string, string>();
  for (const d of await h.listDomains()) {
    if (!d.name.startsWith(prefix)) continue;
    const parsed = await parseDomainXml(await h.domainXml(d.name, true));
    if (parsed.meta?.lab === lab) defined.set(parsed.meta.vm, d.name);
  }
  const expected = plan ? plan.vms.map((v) => v.name) : [...defined.keys()];
  if (expected.length === 0) throw new VmlabError('ERR_VMLAB_LAB_DOWN', `lab "${lab}" has no VMs in libvirt`, { kind: 'user', hint: 'vmlab up LAB first' });
  let wanted = expected;
  if (vm !== undefined) {
    if (!expected.includes(vm)) throw new VmlabError('ERR_VMLAB_VM_UNKNOWN', `lab "${lab}" has no VM "${vm}"`, { kind: 'user', hint: `its VMs: ${expected.join(', ')}` });
    wanted = [vm];
  }
  const missing = wanted.filter((v) => !defined.has(v));
  if (missing.length) {
    throw new VmlabError('ERR_VMLAB_SNAPSHOT_VM_MISSING', `VM(s) ${missing.join(', ')} of lab "${lab}" are not defined in libvirt (removed by hand?); nothing was changed`, {
      kind: 'user',
      hint: 'vmlab up LAB recreates them (their snapshots are gone with them)',
    });
  }
  const targets = wanted.map((v) => ({ vm: v, domain: defined.get(v) ?? domainName(lab, v) }));
  for (const t of targets) {
    const parsed = await parseDomainXml(await h.domainXml(t.domain, true));
    if (parsed.pflash) {
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_UNSUPPORTED', `${t.vm} boots UEFI firmware from pflash: libvirt refuses internal snapshots of such guests before 10.9; nothing was changed`, {
        kind: 'user',
        hint: "use BIOS guests (vmlab's profiles do), or snapshot the disks yourself",
      });
    }
    const raw = parsed.disks.find((d) => d.device === 'disk' && !d.readonly && d.format !== 'qcow2');
    if (raw) {
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_UNSUPPORTED', `${t.vm}'s disk ${raw.dev} is ${raw.format}: internal snapshots live inside qcow2 files; nothing was changed`, {
        kind: 'user',
        hint: 'give the disk format: qcow2 in the lab file',
      });
    }
  }
  return targets;
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: Math.round(performance.now() - t0) };
}

export interface SnapshotOpResult {
  snapshot: string;
  /** Wall time of the whole operation (VMs in parallel). */
  ms: number;
  vms: Array<{
    vm: string;
    domain: string;
    ms: number;
    method?: string;
    /** After a revert: the snapshot's creation time (unix seconds). */
    createdAt?: number;
    /** After a revert: how the guest came back — its memory loaded in the QEMU it ran in, in a new QEMU, or not resumed (booted, restarted). */
    resumed?: 'in place' | 'new QEMU' | 'no';
  }>;
  /** After a revert: links put back to what the lab file says ("r1:eth1: link down → up"). */
  links?: string[];
}

/** Takes `name` on every target, in parallel; if one fails, the others are deleted again. */
export async function createLabSnapshot(
  rt: LabRuntime,
  lab: string,
  targets: SnapshotTarget[],
  name: string,
  description = '',
  /** working: the caller has just seen every readiness probe pass (checkpoints.ts). */
  opts: { working?: boolean } = {},
): Promise<SnapshotOpResult> {
  checkSnapshotName(name);
  const h = rt.hypervisor;
  const unlock = lockLab(rt.paths.dataDir, lab);
  try {
    const clash: string[] = [];
    for (const t of targets) if ((await h.listSnapshots(t.domain)).some((s) => s.name === name)) clash.push(t.vm);
    if (clash.length)
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_EXISTS', `snapshot "${name}" already exists on ${clash.join(', ')}`, {
        kind: 'user',
        hint: `vmlab snapshot delete LAB ${name}, or choose another name`,
      });
    const t0 = performance.now();
    const results = await Promise.allSettled(targets.map((t) => timed(() => h.createSnapshot(t.domain, name, description || `vmlab lab ${lab}, VM ${t.vm}`))));
    const failed = results.map((r, i) => [r, targets[i]!] as const).filter(([r]) => r.status === 'rejected');
    if (failed.length) {
      await Promise.allSettled(results.map((r, i) => (r.status === 'fulfilled' ? h.deleteSnapshot(targets[i]!.domain, name) : Promise.resolve())));
      const [r, t] = failed[0]!;
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_FAILED', `snapshot "${name}" failed on ${t.vm}: ${((r as PromiseRejectedResult).reason as Error).message}; the others were deleted again`, {
        cause: (r as PromiseRejectedResult).reason,
      });
    }
    const ms = Math.round(performance.now() - t0);
    if (opts.working) await recordWorkingCheckpoint(rt, lab, targets, name);
    return {
      snapshot: name,
      ms,
      vms: targets.map((t, i) => ({ ...t, ms: (results[i] as PromiseFulfilledResult<{ ms: number }>).value.ms })),
    };
  } finally {
    unlock();
  }
}

export interface LabSnapshot {
  name: string;
  createdAt: number;
  state: string;
  memory: boolean;
  vms: string[];
  /** Missing on these VMs: the snapshot cannot be reverted as a lab. */
  missingOn: string[];
  complete: boolean;
}

export async function listLabSnapshots(rt: LabRuntime, targets: SnapshotTarget[]): Promise<LabSnapshot[]> {
  const byName = new Map<string, { infos: SnapshotInfo[]; vms: string[] }>();
  for (const t of targets) {
    for (const s of await rt.hypervisor.listSnapshots(t.domain)) {
      const e = byName.get(s.name) ?? { infos: [], vms: [] };
      e.infos.push(s);
      e.vms.push(t.vm);
      byName.set(s.name, e);
    }
  }
  return [...byName.entries()]
    .map(([name, e]) => {
      const missingOn = targets.map((t) => t.vm).filter((v) => !e.vms.includes(v));
      return {
        name,
        createdAt: Math.min(...e.infos.map((i) => i.createdAt)),
        state: [...new Set(e.infos.map((i) => i.state))].join('/'),
        memory: e.infos.every((i) => i.memory),
        vms: e.vms,
        missingOn,
        complete: missingOn.length === 0,
      };
    })
    .sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name));
}

export interface RevertOptions {
  /**
   * A lab snapshot to put every VM back to if the revert fails on some VMs
   * after others succeeded (reset passes its autosave): all or nothing.
   */
  rollbackTo?: string;
  /**
   * How a running VM goes back to a snapshot of it running: `live` (default)
   * loads it in the running QEMU (loadvm), `restart` lets libvirt stop QEMU
   * and start a new one from the snapshot (libvirt's own revert, also the
   * fallback when loadvm fails). For comparisons (npm run bench:snapshot).
   */
  method?: 'live' | 'restart';
}

/**
 * Reverts every target to `name`, in parallel — only when every one has it.
 * If some VMs fail after others succeeded, the lab would be half reverted:
 * with `rollbackTo` every VM goes back there (all or nothing); without it the
 * error names which VM is where and how to finish.
 */
export async function revertLabSnapshot(rt: LabRuntime, lab: string, targets: SnapshotTarget[], name: string, opts: RevertOptions = {}): Promise<SnapshotOpResult> {
  checkSnapshotName(name);
  const h = rt.hypervisor;
  const unlock = lockLab(rt.paths.dataDir, lab);
  try {
    const infos = new Map<string, SnapshotInfo>();
    const missing: string[] = [];
    for (const t of targets) {
      const s = (await h.listSnapshots(t.domain)).find((x) => x.name === name);
      if (s) infos.set(t.vm, s);
      else missing.push(t.vm);
    }
    if (missing.length === targets.length) throw new VmlabError('ERR_VMLAB_SNAPSHOT_MISSING', `lab "${lab}" has no snapshot "${name}"`, { kind: 'user', hint: 'vmlab snapshot list LAB' });
    if (missing.length) {
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_INCOMPLETE', `snapshot "${name}" is incomplete: ${missing.join(', ')} lack(s) it; nothing was reverted`, {
        kind: 'user',
        hint: `revert single VMs with --vm, or delete it: vmlab snapshot delete LAB ${name}`,
      });
    }
    const t0 = performance.now();
    const settled = await Promise.allSettled(
      // A guest resumed from memory has its snapshot's time: it sets its wall clock from the RTC itself (render/wall-clock.ts).
      targets.map((t) => revertOne(h, t, name, infos.get(t.vm)!, opts.method ?? 'live')),
    );
    const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ vm: targets[i]!.vm, error: (r.reason as Error).message }] : []));
    if (failed.length) throw await partialRevert(h, lab, targets, name, settled, failed, opts.rollbackTo);
    const vms = settled.map((r) => (r as PromiseFulfilledResult<SnapshotOpResult['vms'][number]>).value);
    noteResumed(
      rt.paths.runDir,
      vms.filter((v) => v.resumed === 'in place').map((v) => v.domain),
    );
    // A snapshot holds the links as they were when it was taken: the lab file's are put back.
    const links = await applyLabLinks(
      rt,
      lab,
      targets.map((t) => t.vm),
    );
    const ms = Math.round(performance.now() - t0);
    return {
      snapshot: name,
      ms,
      vms,
      ...(links.length ? { links: links.map((c) => `${c.vm}:${c.nic}: ${c.change}`) } : {}),
    };
  } finally {
    unlock();
  }
}

async function revertOne(h: LabRuntime['hypervisor'], t: SnapshotTarget, name: string, info: SnapshotInfo, method: 'live' | 'restart'): Promise<SnapshotOpResult['vms'][number]> {
  let fallback: string | undefined;
  if (method === 'live' && info.memory && info.state === 'running' && (await h.domain(t.domain))?.state === 'running') {
    // libvirt's revert of a running domain stops QEMU and starts a new one (new taps, cgroups, devices);
    // QEMU's own loadvm puts the same process back, memory, devices and disks.
    const live = await timed(async () => h.loadSnapshotLive(t.domain, name)).catch((e: Error) => {
      fallback = e.message;
      return undefined;
    });
    if (live) return { ...t, ms: live.ms, createdAt: info.createdAt, resumed: 'in place', method: 'internal snapshot with memory: resumed, no boot (loaded in the running QEMU)' };
  }
  const { ms } = await timed(async () => {
    // Reverting to a running snapshot starts a new QEMU: the same cgroup race as a start (start.ts).
    await withCgroupRaceRetry(() => h.revertSnapshot(t.domain, name));
    // A snapshot of a shut-off guest has no memory: the guest boots from the reverted disk.
    if (!info.memory && (await h.domain(t.domain))?.state !== 'running') await startDomain(h, t.domain);
  });
  return {
    ...t,
    ms,
    createdAt: info.createdAt,
    resumed: info.memory ? 'new QEMU' : 'no',
    method: info.memory
      ? `internal snapshot with memory: resumed, no boot (a new QEMU${fallback ? `; loadvm failed: ${fallback}` : ''})`
      : info.containerFiles
        ? "a container's file system: restarted from it (nspawn keeps no memory state)"
        : 'internal disk snapshot: booted',
  };
}

/** The error of a revert that failed on some VMs; with `rollbackTo`, every VM is put back there first. */
async function partialRevert(
  h: LabRuntime['hypervisor'],
  lab: string,
  targets: SnapshotTarget[],
  name: string,
  settled: PromiseSettledResult<unknown>[],
  failed: Array<{ vm: string; error: string }>,
  rollbackTo?: string,
): Promise<VmlabError> {
  const reverted = targets.filter((_, i) => settled[i]!.status === 'fulfilled').map((t) => t.vm);
  const why = failed.map((f) => `${f.vm}: ${f.error}`).join('; ');
  if (rollbackTo) {
    const back = await Promise.allSettled(targets.map((t) => withCgroupRaceRetry(() => h.revertSnapshot(t.domain, rollbackTo))));
    const stuck = targets.filter((_, i) => back[i]!.status === 'rejected').map((t) => t.vm);
    if (!stuck.length) {
      return new VmlabError(
        'ERR_VMLAB_SNAPSHOT_REVERT_FAILED',
        `revert to "${name}" failed on ${failed.map((f) => f.vm).join(', ')} (${why}); every VM was put back to "${rollbackTo}", as before the revert`,
        {
          hint: `nothing changed; look at the error above, then try again`,
          details: { reverted: [], failed, rolledBackTo: rollbackTo },
        },
      );
    }
    return new VmlabError(
      'ERR_VMLAB_SNAPSHOT_REVERT_PARTIAL',
      `revert to "${name}" failed on ${failed.map((f) => f.vm).join(', ')} (${why}), and going back to "${rollbackTo}" failed on ${stuck.join(', ')}`,
      {
        hint: `the lab is mixed: put it in one state with vmlab snapshot revert ${lab} ${rollbackTo} (your work) or vmlab snapshot revert ${lab} ${name}`,
        details: { failed, rollbackFailedOn: stuck },
      },
    );
  }
  return new VmlabError('ERR_VMLAB_SNAPSHOT_REVERT_PARTIAL', `revert to "${name}" is incomplete: reverted ${reverted.length ? reverted.join(', ') : 'no VM'}; FAILED on ${why}`, {
    hint: `the failed VMs are where they were; when the cause is fixed, finish with vmlab snapshot revert ${lab} ${name}${failed.length === 1 ? ` --vm ${failed[0]!.vm}` : ''} (a revert can be repeated)`,
    details: { reverted, failed },
  });
}

/** Deletes `name` wherever it exists (also the remains of an incomplete snapshot). */
export async function deleteLabSnapshot(rt: LabRuntime, lab: string, targets: SnapshotTarget[], name: string): Promise<SnapshotOpResult & { absentOn: string[] }> {
  checkSnapshotName(name);
  const h = rt.hypervisor;
  const unlock = lockLab(rt.paths.dataDir, lab);
  try {
    const t0 = performance.now();
    const absentOn: string[] = [];
    const vms: SnapshotOpResult['vms'] = [];
    for (const t of targets) {
      if (!(await h.listSnapshots(t.domain)).some((s) => s.name === name)) {
        absentOn.push(t.vm);
        continue;
      }
      const { ms } = await timed(() => h.deleteSnapshot(t.domain, name));
      vms.push({ ...t, ms });
    }
    if (vms.length) forgetCheckpoint(rt.paths.dataDir, lab, name);
    if (vms.length === 0) throw new VmlabError('ERR_VMLAB_SNAPSHOT_MISSING', `lab "${lab}" has no snapshot "${name}"`, { kind: 'user', hint: 'vmlab snapshot list LAB' });
    return { snapshot: name, ms: Math.round(performance.now() - t0), vms, absentOn };
  } finally {
    unlock();
  }
}
