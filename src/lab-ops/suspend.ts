import { labPrefix } from '../lab/names.js';
import { lockLab } from './lock.js';
import { parseDomainXml } from './metadata.js';
import type { LabRuntime } from './runtime.js';

export interface SuspendResult {
  lab: string;
  /** Per guest: saved (its memory on disk, host memory freed), stopped (a container: its state is its file system), or already not running. */
  vms: Array<{ domain: string; vm: string; action: 'saved' | 'stopped' | 'not running'; ms: number }>;
  seconds: number;
}

/**
 * Suspends a lab: every running VM's memory is saved to disk by libvirt (managed save) and its
 * QEMU stopped, so the host's memory is free; `up` then resumes each VM where it was (its uptime
 * goes on), in seconds instead of a boot; `down` removes the saved state with the domain. A
 * container has no memory image to keep: it is stopped, and `up` boots it again (its file system,
 * which is its state, is kept). Found from what libvirt reports, like down; idempotent.
 */
export async function suspendLab(rt: LabRuntime, lab: string): Promise<SuspendResult> {
  const t0 = Date.now();
  const h = rt.hypervisor;
  const unlock = lockLab(rt.paths.dataDir, lab);
  try {
    const mine: Array<{ domain: string; vm: string; active: boolean }> = [];
    for (const d of await h.listDomains()) {
      if (!d.name.startsWith(labPrefix(lab))) continue;
      const meta = (await parseDomainXml(await h.domainXml(d.name, true))).meta;
      if (meta?.lab === lab) mine.push({ domain: d.name, vm: meta.vm, active: d.active });
    }
    const vms = await Promise.all(
      mine.map(async (m) => {
        const t = Date.now();
        if (!m.active) return { domain: m.domain, vm: m.vm, action: 'not running' as const, ms: 0 };
        await h.managedSave(m.domain);
        // A guest whose memory cannot be kept (a container) is only stopped: the port says which it was.
        const saved = await h.hasManagedSave(m.domain);
        return { domain: m.domain, vm: m.vm, action: saved ? ('saved' as const) : ('stopped' as const), ms: Date.now() - t };
      }),
    );
    return { lab, vms, seconds: (Date.now() - t0) / 1000 };
  } finally {
    unlock();
  }
}
