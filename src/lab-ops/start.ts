import type { Hypervisor } from '../libvirt/types.js';

/**
 * The one transient failure of a domain start that vmlab retries.
 *
 * On a cgroup-v1 host without systemd, libvirt creates the `machine` cpuset
 * cgroup when the first domain starts and copies `cpuset.cpus`/`cpuset.mems`
 * into it from its parent. Two domains starting at that moment race: the
 * loser makes its own cgroup below `machine` before the winner has filled in
 * `cpuset.mems`, inherits an empty set, and libvirt's write of QEMU's pid to
 * its `tasks` file fails with ENOSPC:
 *
 *   Unable to write to '/sys/fs/cgroup/cpuset/machine/qemu-2-….libvirt-qemu/emulator/tasks': No space left on device
 *
 * Why a retry and not another fix: the other start can come from another
 * process (a second `vmlab up`, another student's lab of a class), so no
 * ordering inside one vmlab run prevents the race; and preparing the cgroup
 * ourselves would mean vmlab writing libvirt's cgroup tree, on hosts whose
 * layout it does not know. A start that fails this way leaves nothing behind
 * (libvirt tears the half-started domain down), and by the time it fails the
 * winner has filled in `cpuset.mems`, so a second start succeeds. Exactly this
 * error is retried, once; every other failure is reported as it is.
 */
export const CPUSET_RACE = /Unable to write to '[^']*\/cpuset\/[^']*': No space left on device/;

/** How long the retry waits: the winner's copy of cpuset.mems takes microseconds. */
const RETRY_DELAY_MS = 250;

export interface StartOutcome {
  /** Set when the first attempt hit the cgroup race and the second one succeeded. */
  retried?: string;
}

/** Runs a libvirt call that starts QEMU (create, or revert to a running snapshot), retrying the cgroup race once. */
export async function withCgroupRaceRetry(f: () => Promise<void>): Promise<StartOutcome> {
  try {
    await f();
    return {};
  } catch (e) {
    const text = (e as Error).message ?? String(e);
    if (!CPUSET_RACE.test(text)) throw e;
    await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    await f();
    return { retried: text };
  }
}

/** Starts a defined domain; see CPUSET_RACE for the one failure that is retried. */
export function startDomain(h: Hypervisor, domain: string): Promise<StartOutcome> {
  return withCgroupRaceRetry(() => h.startDomain(domain));
}
