import { labPrefix } from '../lab/names.js';
import type { Plan } from '../plan/plan.js';
import { formatIpv4 } from '../util/ipv4.js';
import { readDomainXml } from '../libvirt/xml-read.js';
import { parseDomainXml } from './metadata.js';
import { renderProbes } from '../render/probes.js';
import { cloudInitResult, runProbe } from './readiness.js';
import type { LabRuntime } from './runtime.js';

export interface VmStatus {
  name: string;
  domain: string;
  state: string;
  profile: string;
  accel: string;
  /** From the lab file (when given). */
  plannedIps: string[];
  /** Reported by the guest agent. */
  agentIps: string[];
  agent: boolean;
  cloudInit: 'done' | 'running' | 'error' | 'unknown';
  /** Readiness probes that fail right now (run once, when the lab file is given and cloud-init is done). */
  failing: string[];
  /** Running, cloud-init done, and (with the lab file) every readiness probe passes: the VM works. */
  ready: boolean;
  /** Definition differs from the lab file. */
  changed?: boolean;
  /** A guest vmlab does not provision: no agent, no cloud-init (ready = running). */
  provision?: 'none';
  /** Each interface's host side (where vmlab capture and vmlab link act), and its link state. */
  nics: Array<{ nic: string; network: string; tap?: string; link: 'up' | 'down' }>;
}

export interface LabStatus {
  lab: string;
  vms: VmStatus[];
  networks: Array<{ name: string; active: boolean }>;
  missing: string[];
}

export async function labStatus(rt: LabRuntime, lab: string, plan?: Plan): Promise<LabStatus> {
  const h = rt.hypervisor;
  const prefix = labPrefix(lab);
  const vms: VmStatus[] = [];
  for (const d of await h.listDomains()) {
    if (!d.name.startsWith(prefix)) continue;
    const xml = await h.domainXml(d.name);
    const parsed = await parseDomainXml(xml);
    if (parsed.meta?.lab !== lab) continue;
    const name = parsed.meta.vm;
    const planned = plan?.vms.find((v) => v.name === name);
    const s: VmStatus = {
      name,
      domain: d.name,
      // Stopped with its memory saved (vmlab suspend): `up` resumes it where it was.
      state: !d.active && (await h.hasManagedSave(d.name)) ? 'suspended' : d.state,
      profile: parsed.meta.profile,
      accel: parsed.meta.accel,
      plannedIps: planned
        ? planned.nics.flatMap((n) => (n.address.kind === 'static' ? [`${formatIpv4(n.address.cidr.address)}/${n.address.cidr.prefix}`] : n.address.kind === 'dhcp' ? ['dhcp'] : []))
        : [],
      agentIps: [],
      agent: false,
      cloudInit: 'unknown',
      failing: [],
      ready: false,
      ...(planned ? { changed: planned.hash !== parsed.meta.vmHash } : {}),
      nics: (await readDomainXml(xml)).interfaces.map((i, k) => ({
        nic: planned?.nics.find((n) => n.mac === i.mac)?.ifname ?? `eth${k}`,
        network: i.source.network ?? i.source.bridge ?? '',
        ...(d.state === 'running' && i.tap ? { tap: i.tap } : {}),
        link: i.link,
      })),
    };
    if (d.state === 'running' && parsed.meta.provision !== 'none') {
      try {
        const agent = await rt.agentFor(d.name, name);
        try {
          await agent.ping(2000);
          s.agent = true;
          const ifaces = await agent.interfaces();
          s.agentIps = ifaces.filter((i) => i.name !== 'lo').flatMap((i) => (i['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'ipv4').map((a) => `${a['ip-address']}/${a.prefix}`));
          const ci = await cloudInitResult(agent);
          s.cloudInit = ci.done ? (ci.errors.length ? 'error' : 'done') : 'running';
          if (planned && plan && s.cloudInit === 'done') {
            for (const p of renderProbes(plan, planned)) if ((await runProbe(agent, p)).problems.length) s.failing.push(`${p.source}: ${p.name}`);
          }
        } finally {
          agent.close();
        }
      } catch {
        /* agent not answering: reported as agent=false */
      }
    }
    // A guest vmlab does not provision has neither agent nor cloud-init: running is all vmlab can know.
    s.ready = parsed.meta.provision === 'none' ? s.state === 'running' : s.state === 'running' && s.agent && s.cloudInit === 'done' && s.failing.length === 0;
    if (parsed.meta.provision === 'none') s.provision = 'none';
    vms.push(s);
  }
  const networks = (await h.listNetworks()).filter((n) => n.name.startsWith(prefix)).map((n) => ({ name: n.name, active: n.active }));
  const missing = plan ? plan.vms.filter((v) => !vms.some((s) => s.name === v.name)).map((v) => v.name) : [];
  vms.sort((a, b) => a.name.localeCompare(b.name));
  return { lab, vms, networks, missing };
}
