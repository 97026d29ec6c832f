import { readDomainXml, readNetworkXml } from '../libvirt/xml-read.js';

/** What vmlab wrote into a domain's <metadata>, read back from libvirt's XML. */
export interface DomainMeta {
  lab: string;
  vm: string;
  template: string;
  profile: string;
  accel: string;
  accelRequested: string;
  labHash: string;
  vmHash: string;
  file: string;
  /** A student's copy of a lab in a class. */
  owner?: { class: string; student: string };
  /** `none`: a guest vmlab does not provision (no agent). */
  provision?: 'none';
}

export interface AgentEndpoint {
  kind: 'virtio' | 'serial-socket';
  socketPath?: string;
}

export interface ParsedDomain {
  meta?: DomainMeta;
  agent?: AgentEndpoint;
  disks: Array<{ file: string; device: string; dev: string; format: string; readonly: boolean }>;
  /** UEFI firmware in pflash (internal snapshots refused by libvirt before 10.9). */
  pflash: boolean;
  macs: string[];
  consoleLog?: string;
}

export async function parseDomainXml(xml: string): Promise<ParsedDomain> {
  const d = await readDomainXml(xml);
  const m = d.vmlab;
  const serialAgent = d.serials.find((s) => s.type === 'unix' && s.port === '1');
  const consoleLog = d.serials.find((s) => s.type === 'pty')?.logFile;
  return {
    ...(m
      ? {
          meta: {
            lab: m.lab!,
            vm: m.vm!,
            template: m.template ?? m.vm!,
            profile: m.profile ?? '',
            accel: m.accel ?? '',
            accelRequested: m['accel-requested'] ?? '',
            labHash: m['lab-hash'] ?? '',
            vmHash: m['vm-hash'] ?? '',
            file: m.file ?? '',
            ...(m.class && m.student ? { owner: { class: m.class, student: m.student } } : {}),
            ...(m.provision === 'none' ? { provision: 'none' as const } : {}),
          },
        }
      : {}),
    ...(d.channels.includes('org.qemu.guest_agent.0')
      ? { agent: { kind: 'virtio' as const } }
      : serialAgent
        ? { agent: { kind: 'serial-socket' as const, ...(serialAgent.sourcePath ? { socketPath: serialAgent.sourcePath } : {}) } }
        : {}),
    disks: d.disks.map((x) => ({ file: x.file, device: x.device, dev: x.dev, format: x.format, readonly: x.readonly })),
    pflash: d.pflash,
    macs: d.interfaces.map((i) => i.mac),
    ...(consoleLog ? { consoleLog } : {}),
  };
}

export async function parseNetworkMeta(xml: string): Promise<{ lab: string; network: string; owner?: { class: string; student: string } } | undefined> {
  const m = (await readNetworkXml(xml)).vmlab;
  return m ? { lab: m.lab!, network: m.network!, ...(m.class && m.student ? { owner: { class: m.class, student: m.student } } : {}) } : undefined;
}
