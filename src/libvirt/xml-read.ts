import xml2js from 'xml2js';
import { VMLAB_XMLNS } from '../lab/names.js';
import type { SnapshotInfo } from './types.js';

/**
 * The one reader of XML that libvirt hands back: domains, networks and
 * snapshots, typed, for the parts vmlab reads. xml2js's untyped tree stays in
 * this file; everything else works with these interfaces.
 */
export interface DomainDisk {
  file: string;
  /** disk or cdrom. */
  device: string;
  dev: string;
  bus: string;
  /** qcow2 or raw (driver type). */
  format: string;
  cache?: string;
  io?: string;
  iothread?: number;
  discard?: string;
  readonly: boolean;
}

export interface DomainInterface {
  mac: string;
  model: string;
  /** vhost when the packets move through vhost-net. */
  driver?: string;
  source: { network?: string; bridge?: string };
  /** The host side (tap) of a running domain's NIC, or the name asked for in the definition. */
  tap?: string;
  /** <link state>: absent means up. */
  link: 'up' | 'down';
  /** A container's end of the pair (<guest dev>): its name inside. */
  guestDev?: string;
}

export interface DomainSerial {
  type: string;
  port?: string;
  /** The unix socket of a `unix` serial port. */
  sourcePath?: string;
  /** Where libvirt logs what the port prints. */
  logFile?: string;
}

export interface DomainXml {
  name: string;
  type: string;
  machine: string;
  memoryMiB: number;
  vcpus: number;
  /** Attributes of vmlab's own <vmlab:vm> metadata element, if there is one. */
  vmlab?: Record<string, string>;
  disks: DomainDisk[];
  interfaces: DomainInterface[];
  serials: DomainSerial[];
  /** Target names of virtio-serial channels (org.qemu.guest_agent.0). */
  channels: string[];
  /** UEFI firmware in pflash. */
  pflash: boolean;
  /** A container's (type lxc): its init, and the overlay its vmlab metadata describes (libvirt keeps one metadata element per namespace). */
  container?: { init: string; hostname?: string; lower?: string; upper?: string; work?: string; root: string; consoleLog?: string };
}

// xml2js's tree: elements are arrays of nodes, attributes under `$`, text under `_`.
interface Node {
  $?: Record<string, string>;
  _?: string;
  [child: string]: Node[] | Record<string, string> | string | undefined;
}

const kids = (n: Node | undefined, name: string): Node[] => (n?.[name] as Node[] | undefined) ?? [];
const kid = (n: Node | undefined, name: string): Node | undefined => kids(n, name)[0];
const attr = (n: Node | undefined, name: string): string | undefined => n?.$?.[name];
const text = (n: Node | undefined): string | undefined => (typeof n === 'string' ? n : n?._);

async function root(xml: string, element: string): Promise<Node> {
  const doc = (await xml2js.parseStringPromise(xml)) as Record<string, Node>;
  const r = doc[element];
  if (!r) throw new Error(`not a <${element}> document`);
  return r;
}

/** <prefix:element xmlns:prefix="vmlab namespace"> under <metadata>, whatever prefix libvirt kept. */
function vmlabMeta(metadata: Node | undefined, element: string): Record<string, string> | undefined {
  if (!metadata) return undefined;
  for (const [key, value] of Object.entries(metadata)) {
    if (key === '$' || !Array.isArray(value)) continue;
    const local = key.includes(':') ? key.split(':')[1] : key;
    const attrs = value[0]?.$;
    if (local !== element || !attrs) continue;
    if (Object.entries(attrs).some(([k, v]) => k.startsWith('xmlns') && v === VMLAB_XMLNS)) return attrs;
  }
  return undefined;
}

export async function readDomainXml(xml: string): Promise<DomainXml> {
  const d = await root(xml, 'domain');
  const devices = kid(d, 'devices');
  const os = kid(d, 'os');
  const memory = kid(d, 'memory');
  const unit = attr(memory, 'unit') ?? 'KiB';
  const mem = Number(text(memory) ?? 0);
  const vmlab = vmlabMeta(kid(d, 'metadata'), 'vm');
  return {
    name: text(kid(d, 'name')) ?? '',
    type: attr(d, 'type') ?? '',
    machine: attr(kid(os, 'type'), 'machine') ?? '',
    memoryMiB: unit === 'MiB' ? mem : unit === 'GiB' ? mem * 1024 : mem / 1024,
    vcpus: Number(text(kid(d, 'vcpu')) ?? 1),
    ...(vmlab ? { vmlab } : {}),
    disks: kids(devices, 'disk').map((x) => {
      const drv = kid(x, 'driver');
      const iothread = attr(drv, 'iothread');
      return {
        file: attr(kid(x, 'source'), 'file') ?? '',
        device: attr(x, 'device') ?? 'disk',
        dev: attr(kid(x, 'target'), 'dev') ?? '',
        bus: attr(kid(x, 'target'), 'bus') ?? '',
        format: attr(drv, 'type') ?? 'raw',
        ...(attr(drv, 'cache') ? { cache: attr(drv, 'cache') } : {}),
        ...(attr(drv, 'io') ? { io: attr(drv, 'io') } : {}),
        ...(iothread ? { iothread: Number(iothread) } : {}),
        ...(attr(drv, 'discard') ? { discard: attr(drv, 'discard') } : {}),
        readonly: kid(x, 'readonly') !== undefined || attr(x, 'device') === 'cdrom',
      };
    }),
    interfaces: kids(devices, 'interface').map((i) => ({
      mac: attr(kid(i, 'mac'), 'address') ?? '',
      model: attr(kid(i, 'model'), 'type') ?? '',
      ...(attr(kid(i, 'driver'), 'name') ? { driver: attr(kid(i, 'driver'), 'name') } : {}),
      source: {
        ...(attr(kid(i, 'source'), 'network') ? { network: attr(kid(i, 'source'), 'network') } : {}),
        ...(attr(kid(i, 'source'), 'bridge') ? { bridge: attr(kid(i, 'source'), 'bridge') } : {}),
      },
      ...(attr(kid(i, 'target'), 'dev') ? { tap: attr(kid(i, 'target'), 'dev') } : {}),
      link: attr(kid(i, 'link'), 'state') === 'down' ? ('down' as const) : ('up' as const),
      ...(attr(kid(i, 'guest'), 'dev') ? { guestDev: attr(kid(i, 'guest'), 'dev') } : {}),
    })),
    serials: kids(devices, 'serial').map((s) => ({
      type: attr(s, 'type') ?? '',
      ...(attr(kid(s, 'target'), 'port') !== undefined ? { port: attr(kid(s, 'target'), 'port') } : {}),
      ...(attr(kid(s, 'source'), 'path') ? { sourcePath: attr(kid(s, 'source'), 'path') } : {}),
      ...(attr(kid(s, 'log'), 'file') ? { logFile: attr(kid(s, 'log'), 'file') } : {}),
    })),
    channels: kids(devices, 'channel').map((c) => attr(kid(c, 'target'), 'name') ?? ''),
    pflash: kids(os, 'loader').some((l) => attr(l, 'type') === 'pflash') || attr(os, 'firmware') === 'efi',
    ...(attr(d, 'type') === 'lxc' ? { container: containerOf(d, os, devices) } : {}),
  };
}

function containerOf(d: Node, os: Node | undefined, devices: Node | undefined): NonNullable<DomainXml['container']> {
  const overlay = vmlabMeta(kid(d, 'metadata'), 'vm') ?? {};
  const root = kids(devices, 'filesystem').find((f) => attr(kid(f, 'target'), 'dir') === '/');
  const log = attr(kid(kid(devices, 'console'), 'log'), 'file');
  return {
    init: text(kid(os, 'init')) ?? '/sbin/init',
    root: attr(kid(root, 'source'), 'dir') ?? '',
    ...(overlay.hostname ? { hostname: overlay.hostname } : {}),
    ...(overlay.lower ? { lower: overlay.lower } : {}),
    ...(overlay.upper ? { upper: overlay.upper } : {}),
    ...(overlay.work ? { work: overlay.work } : {}),
    ...(log ? { consoleLog: log } : {}),
  };
}

export interface NetworkXml {
  name: string;
  bridge?: string;
  vmlab?: Record<string, string>;
}

export async function readNetworkXml(xml: string): Promise<NetworkXml> {
  const n = await root(xml, 'network');
  const vmlab = vmlabMeta(kid(n, 'metadata'), 'network');
  const bridge = attr(kid(n, 'bridge'), 'name');
  return { name: text(kid(n, 'name')) ?? '', ...(bridge ? { bridge } : {}), ...(vmlab ? { vmlab } : {}) };
}

export async function readSnapshotXml(xml: string): Promise<SnapshotInfo> {
  const s = await root(xml, 'domainsnapshot');
  const state = text(kid(s, 'state')) ?? 'unknown';
  const memAttr = attr(kid(s, 'memory'), 'snapshot');
  const description = text(kid(s, 'description'));
  return {
    name: text(kid(s, 'name')) ?? '',
    createdAt: Number(text(kid(s, 'creationTime')) ?? 0),
    state,
    memory: memAttr ? memAttr !== 'no' : state === 'running',
    ...(description ? { description } : {}),
  };
}

/** <domainsnapshot> for a new internal snapshot, serialised by xml2js (escaping included). */
export function snapshotXml(name: string, description: string): string {
  return new xml2js.Builder({ headless: true, renderOpts: { pretty: false } }).buildObject({ domainsnapshot: { name, description } });
}

/**
 * A snapshot of one domain as another domain's (a fork: lab-ops/fork.ts): its name, description,
 * state and creation time kept, its memory internal, and the copy's own definition as the domain
 * it was taken of. libvirt's dump also holds an <inactiveDomain>: left out, or a revert would put
 * the template's definition (its UUID, its disks) into the copy's.
 */
export async function snapshotForCopy(templateSnapshotXml: string, copyDomainXml: string): Promise<string> {
  const s = await root(templateSnapshotXml, 'domainsnapshot');
  const field = (k: string) => text(kid(s, k));
  const head = new xml2js.Builder({ headless: true, renderOpts: { pretty: false } }).buildObject({
    domainsnapshot: {
      name: field('name') ?? '',
      ...(field('description') ? { description: field('description') } : {}),
      state: field('state') ?? 'running',
      creationTime: field('creationTime') ?? '0',
      memory: { $: { snapshot: 'internal' } },
    },
  });
  // The copy's definition verbatim, as libvirt wrote it (a rebuilt one would lose its element order).
  const domain = copyDomainXml.replace(/^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*/, '').trim();
  if (!/^<domain[\s>]/.test(domain)) throw new Error('not a domain definition');
  return head.replace(/<\/domainsnapshot>$/, `${domain}</domainsnapshot>`);
}

/**
 * The <interface> element with MAC `mac` of a domain's XML, with its link
 * state set: what virDomainUpdateDeviceFlags takes to change only that (the
 * rest of the element must be as libvirt has it).
 */
export async function interfaceWithLink(domainXml: string, mac: string, state: 'up' | 'down'): Promise<string> {
  const d = await root(domainXml, 'domain');
  const iface = kids(kid(d, 'devices'), 'interface').find((i) => attr(kid(i, 'mac'), 'address') === mac);
  if (!iface) throw new Error(`no interface with MAC ${mac}`);
  iface.link = [{ $: { state } }];
  return new xml2js.Builder({ rootName: 'interface', headless: true }).buildObject(iface);
}

/** A whole domain definition with one NIC's link state set, as libvirt keeps it (comments, which libvirt drops too, are not kept). */
export async function domainWithLink(domainXml: string, mac: string, state: 'up' | 'down'): Promise<string> {
  const doc = (await xml2js.parseStringPromise(domainXml)) as { domain: Node };
  const iface = kids(kid(doc.domain, 'devices'), 'interface').find((i) => attr(kid(i, 'mac'), 'address') === mac);
  if (!iface) throw new Error(`no interface with MAC ${mac}`);
  if (state === 'down') iface.link = [{ $: { state } }];
  else delete iface.link;
  return new xml2js.Builder({ headless: true }).buildObject(doc);
}
