import { parseStringPromise } from 'xml2js';
import { VMLAB_XMLNS } from '../lab/names.js';

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

type X = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Finds <prefix:vm xmlns:prefix="vmlab ns"> whatever prefix libvirt kept. */
function findMeta(metadata: X | undefined, element: string): Record<string, string> | undefined {
  if (!metadata) return undefined;
  for (const [key, value] of Object.entries(metadata)) {
    if (key === '$') continue;
    const local = key.includes(':') ? key.split(':')[1] : key;
    const node = Array.isArray(value) ? value[0] : value;
    const attrs = node?.$ as Record<string, string> | undefined;
    if (local !== element || !attrs) continue;
    const nsAttr = Object.entries(attrs).find(([k]) => k.startsWith('xmlns'));
    if (nsAttr?.[1] === VMLAB_XMLNS) return attrs;
  }
  return undefined;
}

export async function parseDomainXml(xml: string): Promise<ParsedDomain> {
  const doc = (await parseStringPromise(xml)) as X;
  const d = doc.domain as X;
  const attrs = findMeta(d.metadata?.[0], 'vm');
  const devices = (d.devices?.[0] ?? {}) as X;
  const channel = (devices.channel ?? []).find((c: X) => c.target?.[0]?.$?.name === 'org.qemu.guest_agent.0');
  const serialAgent = (devices.serial ?? []).find((s: X) => s.$?.type === 'unix' && s.target?.[0]?.$?.port === '1');
  const consoleSerial = (devices.serial ?? []).find((s: X) => s.$?.type === 'pty');
  return {
    ...(attrs
      ? {
          meta: {
            lab: attrs.lab!,
            vm: attrs.vm!,
            template: attrs.template ?? attrs.vm!,
            profile: attrs.profile ?? '',
            accel: attrs.accel ?? '',
            accelRequested: attrs['accel-requested'] ?? '',
            labHash: attrs['lab-hash'] ?? '',
            vmHash: attrs['vm-hash'] ?? '',
            file: attrs.file ?? '',
          },
        }
      : {}),
    ...(channel ? { agent: { kind: 'virtio' as const } } : serialAgent ? { agent: { kind: 'serial-socket' as const, socketPath: serialAgent.source?.[0]?.$?.path } } : {}),
    disks: (devices.disk ?? []).map((x: X) => ({
      file: x.source?.[0]?.$?.file ?? '',
      device: x.$?.device ?? 'disk',
      dev: x.target?.[0]?.$?.dev ?? '',
      format: x.driver?.[0]?.$?.type ?? 'raw',
      readonly: x.readonly !== undefined || x.$?.device === 'cdrom',
    })),
    pflash: (d.os?.[0]?.loader ?? []).some((l: X) => l.$?.type === 'pflash') || d.os?.[0]?.$?.firmware === 'efi',
    macs: (devices.interface ?? []).map((i: X) => i.mac?.[0]?.$?.address ?? ''),
    ...(consoleSerial?.log?.[0]?.$?.file ? { consoleLog: consoleSerial.log[0].$.file } : {}),
  };
}

export async function parseNetworkMeta(xml: string): Promise<{ lab: string; network: string } | undefined> {
  const doc = (await parseStringPromise(xml)) as X;
  const attrs = findMeta(doc.network?.metadata?.[0], 'network');
  return attrs ? { lab: attrs.lab!, network: attrs.network! } : undefined;
}
