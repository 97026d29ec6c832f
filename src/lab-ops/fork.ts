import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { snapshotForCopy } from '../libvirt/xml-read.js';
import type { Plan, VmPlan } from '../plan/plan.js';
import { checkpointStore } from './checkpoints.js';
import type { DiskOps } from './disks.js';
import { noteResumed } from './resumed.js';
import type { LabRuntime } from './runtime.js';
import { withCgroupRaceRetry } from './start.js';

/**
 * Forking a working lab into another copy of it (a class's students: class/ops.ts).
 *
 * libvirt 9.0 restores a save image only as the domain it was saved from (its UUID and name are
 * checked against the new XML), and QEMU 7.2 has no file migration; what works with supported
 * calls is an internal snapshot with memory in each VM's top qcow2 (docs/fork-notes.md): the
 * template's file is copied whole (its backing image stays shared, read-only), the copy is
 * defined with its own names, bridges and paths (a define runs no ABI check), started with its
 * CPUs stopped, the snapshot loaded in its QEMU (`loadvm`) and resumed. The guest goes on from the
 * template's state: it cannot tell, except by its uptime and clock (its wall clock follows the RTC,
 * render/wall-clock.ts) and its VM generation ID, which differs and makes its kernel reseed
 * (<genid/> in every domain vmlab defines). Each copy's MACs are the template's (class-plan.ts):
 * the memory state holds them.
 */
export interface ForkSource {
  /** The template copy's plan (a copy of the same lab: the same VMs, disks and devices). */
  plan: Plan;
  /** The snapshot of the working template every copy starts from. */
  snapshot: string;
  /** The snapshots the copy keeps (the one above and an assignment's stage checkpoints); others in the template's files are removed from the copy's. */
  keep: string[];
}

/** Why a lab's copies cannot be forked (they boot instead), or undefined: they can. Pure. */
export function forkBlocker(plan: Plan): string | undefined {
  for (const vm of plan.vms) {
    if (vm.kind === 'container') return `${vm.name} is a container: it has no memory state to copy (its copies start as containers do)`;
    if (vm.provision === 'none') return `${vm.name} says provision: none: vmlab cannot see when it works, so there is no working state to copy`;
    if (vm.disks.some((d) => d.role === 'media')) return `${vm.name} installs from media`;
    const raw = vm.disks.find((d) => (d.role === 'root' || d.role === 'data') && d.format !== 'qcow2');
    if (raw) return `${vm.name}'s ${raw.role} disk is ${raw.format}: a memory state lives in qcow2 files only`;
  }
  return undefined;
}

/** The template's VM that `vm` copies: the same name, the same disks in the same order. */
function templateVm(from: Plan, vm: VmPlan): VmPlan {
  const t = from.vms.find((v) => v.name === vm.name);
  if (!t || t.disks.length !== vm.disks.length || t.disks.some((d, i) => d.dev !== vm.disks[i]!.dev || d.role !== vm.disks[i]!.role)) {
    throw new VmlabError('ERR_VMLAB_FORK_MISMATCH', `${vm.name} of ${from.lab.name} is not the same machine as in this copy: it cannot be forked`, { hint: 'class up --no-fork boots every copy' });
  }
  return t;
}

/**
 * The copy's disk files from the template's: its writable files while its CPUs are stopped (QEMU
 * flushes its disks when it stops them, so the files are whole), then whatever snapshots the copy
 * must not have (its student's own) taken out of the copy's files.
 */
async function copyDisks(rt: LabRuntime, disks: DiskOps, vm: VmPlan, t: VmPlan, keep: string[]): Promise<void> {
  const h = rt.hypervisor;
  disks.ensureDir(vm.dir);
  // One copy from a template VM at a time: two would pause and resume it under each other.
  await oneAtATime(t.domainName, async () => {
    const pause = (await h.domain(t.domainName))?.state === 'running';
    // Marked first: a fork killed while the template is paused leaves it paused, and its next `up` resumes it (recoverFork).
    if (pause) disks.mark(join(t.dir, PAUSED_FOR_FORK));
    if (pause) await h.suspendDomain(t.domainName);
    try {
      for (const [i, d] of vm.disks.entries()) if (d.role !== 'media') await disks.copy(t.disks[i]!.path, d.path);
    } finally {
      if (pause) await h.resumeDomain(t.domainName);
      if (pause) disks.unmark(join(t.dir, PAUSED_FOR_FORK));
    }
  });
  for (const d of vm.disks.filter((x) => x.format === 'qcow2' && !x.readonly)) {
    for (const s of await disks.snapshotsIn(d.path)) if (!keep.includes(s)) await disks.deleteSnapshotIn(d.path, s);
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `f` after every earlier call with the same key has settled (in this process). */
async function oneAtATime<T>(key: string, f: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(f);
  queues.set(key, mine);
  try {
    return await mine;
  } finally {
    if (queues.get(key) === mine) queues.delete(key);
  }
}

/**
 * One VM of a copy, forked from the template's (see above); returns with the copy running. A
 * failure removes what it made of the VM, so the next `up` starts from nothing.
 */
export async function forkVm(rt: LabRuntime, disks: DiskOps, from: ForkSource, vm: VmPlan, domainXml: string, onStep?: (what: string) => void): Promise<{ copyMs: number; loadMs: number }> {
  const h = rt.hypervisor;
  const t = templateVm(from.plan, vm);
  const t0 = Date.now();
  try {
    disks.ensureDir(vm.dir);
    disks.mark(join(vm.dir, FORKING));
    onStep?.(`copying ${t.name}'s disks from ${from.plan.lab.name}`);
    await copyDisks(rt, disks, vm, t, from.keep);
    const copyMs = Date.now() - t0;
    await h.defineDomain(domainXml);
    const own = await h.domainXml(vm.domainName, true);
    for (const s of await h.listSnapshots(t.domainName)) {
      if (from.keep.includes(s.name)) await h.redefineSnapshot(vm.domainName, await snapshotForCopy(await h.snapshotXml(t.domainName, s.name), own));
    }
    const t1 = Date.now();
    onStep?.(`loading ${from.snapshot}`);
    await withCgroupRaceRetry(() => h.startDomainPaused(vm.domainName));
    await h.loadSnapshotLive(vm.domainName, from.snapshot);
    await h.resumeDomain(vm.domainName);
    // Its agent reconnects to the new QEMU for a moment: commands wait for it (resumed.ts).
    noteResumed(rt.paths.runDir, [vm.domainName]);
    disks.unmark(join(vm.dir, FORKING));
    return { copyMs, loadMs: Date.now() - t1 };
  } catch (e) {
    const info = await h.domain(vm.domainName).catch(() => undefined);
    if (info?.active) await h.destroyDomain(vm.domainName).catch(() => undefined);
    if (info) await h.undefineDomain(vm.domainName).catch(() => undefined);
    disks.removeVmFiles(vm.dir, false);
    // Still marked: the copy's other VMs may have been forked; the next up makes the whole copy again (recoverFork).
    disks.ensureDir(vm.dir);
    disks.mark(join(vm.dir, FORKING));
    throw new VmlabError('ERR_VMLAB_FORK_FAILED', `${vm.name}: forking from ${from.plan.lab.name} failed: ${(e as Error).message}`, {
      hint: 'class up again makes the copy again; class up --no-fork boots the copies instead',
      cause: e,
    });
  }
}

/** In a copy's VM directory while it is being forked; in a template's while a fork has it paused. */
const FORKING = '.vmlab-forking';
const PAUSED_FOR_FORK = '.vmlab-paused-for-fork';

/** Whether a fork of this lab was killed before it finished (a VM of it still marked): the copy is made again. */
export function halfForked(disks: DiskOps, plan: Plan): boolean {
  return plan.vms.some((vm) => disks.exists(join(vm.dir, FORKING)));
}

/**
 * What a fork killed half-way left, put right by the next `up` of a lab: a template VM it left
 * paused is resumed; a copy it did not finish is removed whole (every VM: a copy is forked from one
 * state, never half booted), and `up` makes it again. Says what it did, one line each.
 */
export async function recoverFork(rt: LabRuntime, disks: DiskOps, plan: Plan): Promise<string[]> {
  const h = rt.hypervisor;
  const done: string[] = [];
  for (const vm of plan.vms) {
    if (!disks.exists(join(vm.dir, PAUSED_FOR_FORK))) continue;
    if ((await h.domain(vm.domainName))?.state === 'paused') {
      await h.resumeDomain(vm.domainName);
      done.push(`${vm.name}: left paused by a fork that was killed: resumed`);
    }
    disks.unmark(join(vm.dir, PAUSED_FOR_FORK));
  }
  if (!halfForked(disks, plan)) return done;
  for (const vm of plan.vms) {
    const info = await h.domain(vm.domainName);
    if (info?.active) await h.destroyDomain(vm.domainName);
    if (info) await h.undefineDomain(vm.domainName);
    disks.removeVmFiles(vm.dir, false);
  }
  return [...done, `an unfinished fork (killed half-way) was removed: its VMs are made again`];
}

/** The template's record of which kept snapshots are working checkpoints, now the copy's too (the same snapshots, the same creation times). */
export function copyCheckpointRecords(rt: LabRuntime, from: ForkSource, to: Plan): void {
  const store = checkpointStore(rt.paths.dataDir);
  const theirs = store.read(from.plan.lab.name) ?? {};
  const kept = Object.fromEntries(Object.entries(theirs).filter(([name]) => from.keep.includes(name)));
  store.write(to.lab.name, { ...store.read(to.lab.name), ...kept });
}
