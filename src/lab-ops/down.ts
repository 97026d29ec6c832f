import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { labPrefix } from '../lab/names.js';
import { agentSocketPath } from '../plan/plan.js';
import type { DiskOps } from './disks.js';
import { readNetworkXml } from '../libvirt/xml-read.js';
import { removeStaleLinks } from './leftovers.js';
import { lockLab } from './lock.js';
import { parseDomainXml, parseNetworkMeta } from './metadata.js';
import { checkpointStore } from './checkpoints.js';
import { linkStore, recordedLinks } from './links.js';
import { progressStore } from './progress.js';
import { forgetResumed } from './resumed.js';
import type { LabRuntime } from './runtime.js';

export interface DownResult {
  lab: string;
  domains: string[];
  networks: string[];
  files: string[];
  skipped: string[];
  /** Bridges and taps of this lab that a crash had left (no libvirt object owned them), removed: one line each. */
  leftovers: string[];
}

/**
 * Removes everything vmlab created for a lab, found from what libvirt reports
 * (name prefix and vmlab metadata), not from a local state file.
 */
export async function downLab(rt: LabRuntime, lab: string, opts: { disks: DiskOps; keepDisks?: boolean }): Promise<DownResult> {
  const h = rt.hypervisor;
  const prefix = labPrefix(lab);
  const unlock = lockLab(rt.paths.dataDir, lab);
  const res: DownResult = { lab, domains: [], networks: [], files: [], skipped: [], leftovers: [] };
  try {
    // The lab's own host links: the bridges and taps `up` recorded before it made them, and the bridges of its networks.
    const ownLinks = new Set(recordedLinks(linkStore(rt.paths.dataDir).read(lab)));
    for (const d of await h.listDomains()) {
      if (!d.name.startsWith(prefix)) continue;
      const parsed = await parseDomainXml(await h.domainXml(d.name, true));
      if (parsed.meta?.lab !== lab) {
        res.skipped.push(`${d.name} (no vmlab metadata for lab ${lab})`);
        continue;
      }
      if (d.active) await h.destroyDomain(d.name);
      await h.undefineDomain(d.name);
      res.domains.push(d.name);
    }
    for (const n of await h.listNetworks()) {
      if (!n.name.startsWith(prefix)) continue;
      const meta = await parseNetworkMeta(await h.networkXml(n.name));
      if (meta?.lab !== lab) {
        res.skipped.push(`${n.name} (no vmlab metadata for lab ${lab})`);
        continue;
      }
      const bridge = (await readNetworkXml(await h.networkXml(n.name))).bridge;
      if (bridge) ownLinks.add(bridge);
      if (n.active) await h.destroyNetwork(n.name);
      await h.undefineNetwork(n.name);
      res.networks.push(n.name);
    }
    res.leftovers.push(...(await removeStaleLinks(rt, ownLinks, () => `left by a crash: no libvirt network or domain of lab ${lab} owned it`)));
    const labDir = join(rt.paths.dataDir, 'labs', lab);
    for (const dir of opts.disks.vmDirs(labDir)) {
      opts.disks.removeVmFiles(dir, Boolean(opts.keepDisks));
      res.files.push(dir);
    }
    opts.disks.pruneLabDir(labDir);
    // Only the sockets of this lab's domains: another lab's name may start with this one's (a class's copies do).
    for (const d of res.domains) {
      const sock = agentSocketPath(rt.paths.runDir, d);
      if (existsSync(sock)) {
        rmSync(sock, { force: true });
        res.files.push(sock);
      }
      const resumed = forgetResumed(rt.paths.runDir, d);
      if (resumed) res.files.push(resumed);
    }
    progressStore(rt.paths.dataDir).remove(lab);
    linkStore(rt.paths.dataDir).remove(lab);
    checkpointStore(rt.paths.dataDir).remove(lab);
    return res;
  } finally {
    unlock();
  }
}
