import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import type { TapQdisc } from '../host/traffic-control.js';
import { formatImpairment, impairmentOf, linkFrom, parseNicRef, sameImpairment, type Impairment, type LinkSpec, type LinkState } from '../lab/link.js';
import { domainName } from '../lab/names.js';
import { interfaceWithLink, readDomainXml } from '../libvirt/xml-read.js';
import type { Plan } from '../plan/plan.js';
import { labStore, type LabStore } from './json-store.js';
import type { LabRuntime } from './runtime.js';

/**
 * Links of a lab's VMs: what the lab file says each NIC's link is (state and
 * impairment), and what it is now. The lab file's links are recorded by `up`
 * (one JSON file per lab, removed by `down`), so a revert or reset re-applies
 * them without the file; `vmlab link set` changes a link until then.
 */
export interface NicRecord {
  vm: string;
  index: number;
  /** The interface's name in the guest (eth1, or the lab's `name:`). */
  nic: string;
  network: string;
  bridge: string;
  mac: string;
  tap: string;
  link: LinkSpec;
}

export interface LinkRecord {
  nics: NicRecord[];
  /** The lab's networks and their bridges (for captures of a whole network). */
  networks?: Array<{ name: string; bridge: string }>;
  /** Whose copy the lab is, in a class: class down finds it by this record when libvirt holds nothing of it any more. */
  owner?: { class: string; student: string };
}

export function linkStore(dataDir: string): LabStore<LinkRecord> {
  return labStore<LinkRecord>(join(dataDir, 'links'));
}

/** The host links a lab's record names: its bridges and its guests' taps. */
export function recordedLinks(r: LinkRecord | undefined): string[] {
  return [...(r?.nics ?? []).flatMap((n) => [n.bridge, n.tap]), ...(r?.networks ?? []).map((n) => n.bridge)];
}

export function linkRecord(plan: Plan): LinkRecord {
  return {
    nics: plan.vms.flatMap((vm) => vm.nics.map((n) => ({ vm: vm.name, index: n.index, nic: n.ifname, network: n.network, bridge: n.bridge, mac: n.mac, tap: n.tap, link: n.link }))),
    networks: plan.networks.map((n) => ({ name: n.name, bridge: n.bridge })),
    ...(plan.lab.owner ? { owner: plan.lab.owner } : {}),
  };
}

export interface LinkStatus extends NicRecord {
  running: boolean;
  /** Now: libvirt's link state and what is on the tap. */
  state?: LinkState;
  impairment?: Impairment;
  /** A qdisc on the tap that vmlab did not put there (left alone). */
  foreign?: string;
  /** The tap libvirt reports, when it is not the name vmlab asked for (a domain defined before taps had names). */
  actualTap?: string;
}

/** Every NIC of the lab with its link now (from libvirt and tc) and as the lab file says. */
export async function readLinks(rt: LabRuntime, lab: string, record = recordOf(rt, lab)): Promise<LinkStatus[]> {
  const out: LinkStatus[] = [];
  const byVm = new Map<string, NicRecord[]>();
  for (const n of record.nics) byVm.set(n.vm, [...(byVm.get(n.vm) ?? []), n]);
  for (const [vm, nics] of byVm) {
    const dn = domainName(lab, vm);
    const info = await rt.hypervisor.domain(dn);
    const running = info?.state === 'running' || info?.state === 'paused';
    const live = running ? await readDomainXml(await rt.hypervisor.domainXml(dn)) : undefined;
    for (const n of nics) {
      const iface = live?.interfaces.find((i) => i.mac === n.mac);
      out.push({
        ...n,
        running: Boolean(iface),
        ...(iface ? { state: iface.link } : {}),
        ...(iface?.tap && iface.tap !== n.tap ? { actualTap: iface.tap } : {}),
      });
    }
  }
  const taps = out.filter((l) => l.running).map((l) => l.actualTap ?? l.tap);
  const qdiscs = taps.length ? await rt.tc.read(taps) : new Map<string, TapQdisc>();
  for (const l of out) {
    const q = l.running ? qdiscs.get(l.actualTap ?? l.tap) : undefined;
    if (q?.kind === 'vmlab') l.impairment = q.impairment;
    else if (q?.kind === 'none') l.impairment = {};
    else if (q?.kind === 'foreign') l.foreign = q.qdisc;
  }
  return out;
}

function recordOf(rt: LabRuntime, lab: string): LinkRecord {
  const r = linkStore(rt.paths.dataDir).read(lab);
  if (!r) throw new VmlabError('ERR_VMLAB_LAB_DOWN', `lab "${lab}" has no links on record: it is not up`, { kind: 'user', hint: 'vmlab up LAB first' });
  return r;
}

export interface LinkChange {
  vm: string;
  nic: string;
  tap: string;
  change: string;
}

/** Puts one NIC's link in `want`: state through libvirt (live, and the definition too when `persist`), impairment with tc. */
async function applyOne(rt: LabRuntime, lab: string, l: LinkStatus, want: LinkSpec, persist: boolean): Promise<string[]> {
  const changes: string[] = [];
  const dn = domainName(lab, l.vm);
  const tap = l.actualTap ?? l.tap;
  if (l.state !== want.state) {
    await rt.hypervisor.updateDevice(dn, await interfaceWithLink(await rt.hypervisor.domainXml(dn), l.mac, want.state), { live: true });
    changes.push(`link ${l.state ?? 'up'} → ${want.state}`);
  }
  if (persist) {
    const def = await readDomainXml(await rt.hypervisor.domainXml(dn, true));
    if (def.interfaces.find((i) => i.mac === l.mac)?.link !== want.state) {
      await rt.hypervisor.updateDevice(dn, await interfaceWithLink(await rt.hypervisor.domainXml(dn, true), l.mac, want.state), { config: true });
    }
  }
  if (l.foreign) {
    throw new VmlabError('ERR_VMLAB_TAP_FOREIGN', `${l.vm}:${l.nic}: tap ${tap} has a ${l.foreign} qdisc that vmlab did not put there; it was left alone`, {
      hint: `remove it (tc qdisc del dev ${tap} root, where libvirtd runs), then try again`,
    });
  }
  if (!sameImpairment(l.impairment ?? {}, want)) {
    await rt.tc.set(tap, impairmentOf(want));
    changes.push(`impairment ${formatImpairment(l.impairment ?? {})} → ${formatImpairment(want)}`);
  }
  return changes;
}

/**
 * Makes the links of the lab's running VMs what the lab file says (after up,
 * a revert, a reset): only what differs is changed. `vms` limits it. With
 * `definitions` (up) the domains' persistent definitions are made to agree
 * too; a revert leaves them (it does not change them), which keeps a reset
 * to one libvirt call per VM here.
 */
export async function applyLabLinks(rt: LabRuntime, lab: string, vms?: readonly string[], opts: { definitions?: boolean } = {}): Promise<LinkChange[]> {
  const record = linkStore(rt.paths.dataDir).read(lab);
  if (!record) return [];
  const wanted = vms ? { nics: record.nics.filter((n) => vms.includes(n.vm)) } : record;
  const out: LinkChange[] = [];
  for (const l of await readLinks(rt, lab, wanted)) {
    if (!l.running) continue;
    for (const change of await applyOne(rt, lab, l, l.link, opts.definitions === true)) out.push({ vm: l.vm, nic: l.nic, tap: l.actualTap ?? l.tap, change });
  }
  return out;
}

/** Records the plan's links (what the lab file says), for later re-application. */
export function recordLinks(rt: LabRuntime, plan: Plan): void {
  linkStore(rt.paths.dataDir).write(plan.lab.name, linkRecord(plan));
}

/** `r1:eth1` of the lab: the VM and the interface, by its name in the guest (or eth<index>). */
export function findNic(links: LinkStatus[], lab: string, ref: { vm: string; nic: string }): LinkStatus {
  const ofVm = links.filter((l) => l.vm === ref.vm);
  if (!ofVm.length) {
    throw new VmlabError('ERR_VMLAB_VM_UNKNOWN', `lab "${lab}" has no VM "${ref.vm}"`, { kind: 'user', hint: `its VMs: ${[...new Set(links.map((l) => l.vm))].join(', ')}` });
  }
  const nic = ofVm.find((l) => l.nic === ref.nic || `eth${l.index}` === ref.nic);
  if (!nic) {
    throw new VmlabError('ERR_VMLAB_NIC_UNKNOWN', `${ref.vm} has no interface "${ref.nic}"`, {
      kind: 'user',
      hint: `its interfaces: ${ofVm.map((l) => `${ref.vm}:${l.nic} (${l.network})`).join(', ')}`,
    });
  }
  return nic;
}

export interface LinkSetRequest {
  /** Fields to change; the others keep their current value. */
  fields: Partial<LinkSpec>;
  /** Remove every impairment first (state stays unless given). */
  clear?: boolean;
}

/**
 * `vmlab link set`: changes one link of a running VM now, until the next
 * up, revert or reset puts the lab file's back. Values were validated by the
 * caller (lab/link.ts); the combination is checked here.
 */
export async function setLink(rt: LabRuntime, lab: string, ref: { vm: string; nic: string }, req: LinkSetRequest): Promise<{ link: LinkStatus; now: LinkSpec; changes: string[] }> {
  const links = await readLinks(rt, lab);
  const l = findNic(links, lab, ref);
  if (!l.running) throw new VmlabError('ERR_VMLAB_VM_NOT_RUNNING', `${ref.vm} is not running: its links exist only while it runs`, { kind: 'user', hint: 'vmlab up LAB' });
  const base: LinkSpec = req.clear ? { state: l.state ?? 'up' } : { state: l.state ?? 'up', ...(l.impairment ?? {}) };
  const { link: now, problems } = linkFrom({ ...base, ...req.fields });
  if (problems.length) throw new VmlabError('ERR_VMLAB_LINK_VALUE', `--${problems[0]!.key} ${problems[0]!.message}`, { kind: 'user', ...(problems[0]!.hint ? { hint: problems[0]!.hint } : {}) });
  const changes = await applyOne(rt, lab, l, now, false);
  return { link: l, now, changes };
}

/**
 * Where `vmlab capture` listens: a network (`lan1`: its bridge, every VM on
 * it) or one VM's interface (`r1:eth1`: its tap, that VM's traffic only).
 */
export async function captureInterface(rt: LabRuntime, lab: string, target: string): Promise<{ iface: string; what: string }> {
  const record = recordOf(rt, lab);
  const ref = parseNicRef(target);
  if (ref) {
    const l = findNic(await readLinks(rt, lab, record), lab, ref);
    if (!l.running) throw new VmlabError('ERR_VMLAB_VM_NOT_RUNNING', `${ref.vm} is not running: its tap exists only while it runs`, { kind: 'user', hint: 'vmlab up LAB' });
    return { iface: l.actualTap ?? l.tap, what: `${l.vm}:${l.nic} (tap ${l.actualTap ?? l.tap} on network ${l.network})` };
  }
  const networks = record.networks ?? [...new Map(record.nics.map((n) => [n.network, { name: n.network, bridge: n.bridge }])).values()];
  const net = networks.find((n) => n.name === target);
  if (!net) {
    throw new VmlabError('ERR_VMLAB_CAPTURE_TARGET', `lab "${lab}" has no network "${target}"`, {
      kind: 'user',
      hint: `capture a network (${networks.map((n) => n.name).join(', ')}) or a VM's interface (${record.nics.map((n) => `${n.vm}:${n.nic}`).join(', ')})`,
    });
  }
  return { iface: net.bridge, what: `network ${net.name} (bridge ${net.bridge})` };
}
