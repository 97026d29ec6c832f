import type { HostLink } from '../host/host-net.js';
import { readDomainXml, readNetworkXml } from '../libvirt/xml-read.js';
import { linkStore, recordedLinks } from './links.js';
import type { LabRuntime } from './runtime.js';

/**
 * What a crash leaves on the host: a lab's bridge whose libvirt network is gone or inactive
 * (libvirtd killed, or restarted with its state lost: the next network start then fails with
 * "error creating bridge interface …: File exists"), a tap whose QEMU was killed under libvirt.
 * vmlab removes such a link only when it can prove it is its own: the name is one vmlab recorded
 * for this lab (or libvirt's network of this lab names it), and no active libvirt network or
 * running domain owns it. Each removal is said on one line.
 */

/** What a link is, in vmlab's words: a lab's bridge, a guest's tap (tun), or the kernel's kind. */
function kindOf(l: HostLink): string {
  return l.kind === 'bridge' ? 'bridge' : l.kind === 'tun' ? 'tap' : (l.kind ?? 'link');
}

/** Bridges that an active libvirt network owns, and taps that a running domain owns. */
export async function ownedLinks(rt: LabRuntime): Promise<Set<string>> {
  const h = rt.hypervisor;
  const owned = new Set<string>();
  for (const n of await h.listNetworks()) {
    if (!n.active) continue;
    const bridge = (await readNetworkXml(await h.networkXml(n.name))).bridge;
    if (bridge) owned.add(bridge);
  }
  for (const d of await h.listDomains()) {
    if (!d.active) continue;
    for (const i of (await readDomainXml(await h.domainXml(d.name))).interfaces) if (i.tap) owned.add(i.tap);
  }
  return owned;
}

/**
 * Removes those of `names` (a lab's own bridges and taps) that exist on the host and that nothing
 * in libvirt owns; returns one line per removal.
 */
export async function removeStaleLinks(rt: LabRuntime, names: Iterable<string>, why: (name: string) => string): Promise<string[]> {
  const wanted = new Set(names);
  if (!wanted.size) return [];
  const present: HostLink[] = (await rt.links.list()).filter((l) => wanted.has(l.name));
  if (!present.length) return [];
  const owned = await ownedLinks(rt);
  const lines: string[] = [];
  for (const l of present) {
    if (owned.has(l.name)) continue;
    await rt.links.remove(l.name);
    lines.push(`removed ${kindOf(l)} ${l.name}: ${why(l.name)}`);
  }
  return lines;
}

/** A host link of vmlab's naming (bridge vl…, tap vt…) that no libvirt object owns. */
export interface Leftover {
  name: string;
  kind: string;
  /** The lab whose record names it, when one does. */
  lab?: string;
  /** What removes it: `vmlab down LAB` where vmlab can prove it is that lab's, else the command by hand. */
  fix: string;
}

/** vmlab's names for bridges and taps (lab/names.ts): readable, 5 hex of the lab, or 13 hex. */
const VMLAB_LINK = /^(vl-|vl[0-9a-f]{5}-|vl[0-9a-f]{13}$|vt[0-9a-f]{5}-|vt[0-9a-f]{13}$)/;

/** Every leftover link on the host, of any lab (vmlab doctor). */
export async function findLeftovers(rt: LabRuntime): Promise<Leftover[]> {
  const store = linkStore(rt.paths.dataDir);
  const recordedBy = new Map<string, string>();
  for (const lab of store.labs()) for (const name of recordedLinks(store.read(lab))) recordedBy.set(name, lab);
  const candidates = (await rt.links.list()).filter((l) => VMLAB_LINK.test(l.name));
  if (!candidates.length) return [];
  const owned = await ownedLinks(rt);
  return candidates
    .filter((l) => !owned.has(l.name))
    .map((l) => {
      const lab = recordedBy.get(l.name);
      return { name: l.name, kind: kindOf(l), ...(lab ? { lab } : {}), fix: lab ? `vmlab down ${lab}` : `ip link del ${l.name} (where libvirtd runs; no lab of this host recorded it)` };
    });
}
