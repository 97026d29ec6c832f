import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VmlabError } from '../errors.js';

/**
 * A container's own cgroup. systemd-nspawn with --keep-unit (no machined to
 * ask for a scope) puts the container's systemd in `<its own cgroup>/payload`:
 * containers started from the same process would share one tree, and each
 * container's systemd would create and remove the others' unit cgroups (seen:
 * "Failed at step CGROUP spawning /lib/systemd/systemd-sysctl: No such file or
 * directory" when four containers started at once, and no IPv4 forwarding).
 * So each nspawn starts in `/vmlab.containers/<machine>` of every hierarchy
 * nspawn uses: the unified one (cgroup v2), and systemd's named v1 hierarchy
 * on a hybrid or v1 host.
 */
export const CONTAINERS_CGROUP = 'vmlab.containers';

export interface CgroupHierarchy {
  /** Where it is mounted. */
  mount: string;
  /** This process's cgroup in it, from /proc/self/cgroup. */
  current: string;
}

/** The hierarchies nspawn places a container in, from /proc/self/mountinfo and /proc/self/cgroup (pure: both texts are given). */
export function nspawnHierarchies(mountinfo: string, procCgroup: string): CgroupHierarchy[] {
  const current = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) current.set(m[1] === '0' && m[2] === '' ? 'unified' : m[2]!, m[3]!);
  }
  const out: CgroupHierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mount = left.split(' ')[4]!;
    const [fstype, , superOptions = ''] = right.split(' ');
    const key = fstype === 'cgroup2' ? 'unified' : fstype === 'cgroup' && superOptions.split(',').includes('name=systemd') ? 'name=systemd' : undefined;
    const cur = key && current.get(key);
    if (cur && !out.some((h) => h.mount === mount)) out.push({ mount, current: cur });
  }
  return out;
}

function hostHierarchies(): CgroupHierarchy[] {
  return nspawnHierarchies(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
}

/** Where containers' cgroups are, in each hierarchy. */
export function containerCgroupParents(): string[] {
  return hostHierarchies().map((h) => join(h.mount, CONTAINERS_CGROUP));
}

/**
 * Runs `spawn` (which must start its child synchronously, as child_process.spawn
 * does) with this process moved into the container's cgroups, and moves it
 * back before returning: the child is born there, and since nothing else of
 * this process runs in between, nothing else is.
 */
export function spawnInContainerCgroup<T>(machine: string, spawn: () => T): T {
  const hierarchies = hostHierarchies();
  const dirs = hierarchies.map((h) => join(h.mount, CONTAINERS_CGROUP, machine));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  try {
    for (const d of dirs) writeFileSync(join(d, 'cgroup.procs'), String(process.pid));
    return spawn();
  } finally {
    for (const h of hierarchies) writeFileSync(join(h.mount, h.current, 'cgroup.procs'), String(process.pid));
  }
}

/**
 * Removes a stopped container's cgroups, the ones its systemd made below them
 * first. The kernel frees a cgroup a moment after its last process has died:
 * a busy one is tried again for up to two seconds.
 */
export async function removeContainerCgroups(machine: string): Promise<void> {
  for (const dir of containerCgroupParents().map((p) => join(p, machine))) {
    const deadline = Date.now() + 2000;
    for (;;) {
      try {
        removeCgroupTree(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
        if (Date.now() > deadline)
          throw new VmlabError('ERR_VMLAB_CONTAINER_CGROUP', `${machine}: processes are still in its cgroup ${dir}`, {
            hint: `see them in ${join(dir, 'cgroup.procs')} (and below); once they are gone, run the command again`,
            cause: e,
          });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      rmdirSync(dirname(dir));
    } catch (e) {
      // Another container's cgroup is still there (a cgroup with children is busy), or it is gone already.
      if (!['EBUSY', 'ENOTEMPTY', 'ENOENT'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}
