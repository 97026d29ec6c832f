import { containerProfile, deviceProfiles, profileNames, type AccelRequest, type DiskBus, type NicModel } from '../profiles/index.js';
import type { ServiceCatalog } from '../services/catalog.js';
import { broadcastOf, contains, formatCidr, networkOf, parseCidr, parseIpv4, type Cidr } from '../util/ipv4.js';
import { closest } from '../util/names.js';
import { parseSize, MiB } from '../util/units.js';
import type { Checker } from './checker.js';
import { LIMITS } from './fields.js';
import type { DiskModel, LabModel, NetworkMode, NetworkModel, NicAddress, NicSpec, VmModel } from './model.js';
import type { RawDefaults, RawDisk, RawLab, RawLink, RawNetwork, RawNic, RawVm } from './raw.js';
import { linkFrom, parseLinkFields, type LinkSpec } from './link.js';
import { labSchema } from './schema.js';
import { StructureChecker } from './structure.js';
import { parseReady } from './ready.js';
import { isAgentlessReady, parseBoot, resolveTcpReady } from './validate-boot.js';
import { refuseVmOnly } from './validate-container.js';
import type { PathSeg } from './source.js';
import { parseCloudInit } from './validate-cloud-init.js';
import { parseServices } from './validate-services.js';

export interface ValidateOptions {
  services: ServiceCatalog;
  /** Image names known to this host (local cache + catalog). When absent, any well-formed name passes. */
  knownImages?: readonly string[];
  /** Derives the Linux bridge name of a lab network (from the plan), to check the 15-character limit and clashes. */
  bridgeName: (lab: string, network: string) => string;
}

interface Defaults {
  image: string;
  memoryBytes: number;
  vcpus: number;
  profile: string;
  accel: AccelRequest;
}

const BUILTIN_DEFAULTS: Defaults = { image: 'debian-12', memoryBytes: 512 * MiB, vcpus: 1, profile: 'virtio', accel: 'auto' };

const structures = new WeakMap<ServiceCatalog, StructureChecker>();

/** The lab schema's checker for this service catalog (compiled once). */
function labStructure(services: ServiceCatalog): StructureChecker {
  let s = structures.get(services);
  if (!s) structures.set(services, (s = new StructureChecker(labSchema(services))));
  return s;
}

/**
 * Checks the parsed YAML: its structure against the published schema, then
 * what the schema cannot say (addresses in subnets, names that must exist,
 * services' own rules). Returns the model, or undefined with issues in `c`.
 */
export function validateLab(c: Checker, raw: unknown, fileHash: string, opts: ValidateOptions): LabModel | undefined {
  if (!labStructure(opts.services).check(c, raw)) return undefined;
  const root = raw as RawLab;
  const name = root.name;
  const domain = root.domain ?? `${name}.lab`;
  const defaults = parseDefaults(c, root.defaults, opts);
  const networks = parseNetworks(c, root.networks, name, opts);
  const vms = parseVms(c, root.vms, defaults, networks, opts);
  if (!c.ok || !vms) return undefined;
  crossCheck(c, vms, networks);
  if (!c.ok) return undefined;
  return { name, ...(root.description !== undefined ? { description: root.description } : {}), domain, file: c.source.file, fileHash, networks: [...networks.values()], vms: vms.map((v) => v.vm) };
}

function parseDefaults(c: Checker, o: RawDefaults | null | undefined, opts: ValidateOptions): Defaults {
  const d = { ...BUILTIN_DEFAULTS };
  if (!o) return d;
  if (o.image !== undefined) d.image = image(c, ['defaults', 'image'], o.image, opts) ?? d.image;
  if (o.memory !== undefined) d.memoryBytes = memory(c, ['defaults', 'memory'], o.memory) ?? d.memoryBytes;
  if (o.vcpus !== undefined) d.vcpus = o.vcpus;
  if (o.profile !== undefined) d.profile = o.profile;
  if (o.accel !== undefined) d.accel = o.accel as AccelRequest;
  return d;
}

function image(c: Checker, segs: PathSeg[], s: string, opts: ValidateOptions): string | undefined {
  if (opts.knownImages && !opts.knownImages.includes(s)) {
    const guess = closest(s, opts.knownImages);
    c.fail(segs, `unknown image "${s}"`, {
      value: s,
      hint: (guess ? `did you mean "${guess}"? ` : '') + 'see `vmlab image list`; build the default with `vmlab image build debian-12`',
    });
    return undefined;
  }
  return s;
}

/** A VM without `image:` uses the default, which must exist on this host too. */
function defaultImage(c: Checker, segs: PathSeg[], name: string, opts: ValidateOptions): string | undefined {
  if (opts.knownImages && !opts.knownImages.includes(name)) {
    c.fail(segs, `uses the default image "${name}", which this host does not have`, {
      atKey: true,
      hint: name === 'debian-12' ? 'build it with `vmlab image build debian-12`' : 'see `vmlab image list`',
    });
    return undefined;
  }
  return name;
}

/** A memory size (its shape is the schema's): in range and whole MiB. */
function memory(c: Checker, segs: PathSeg[], v: string): number | undefined {
  const bytes = parseSize(v);
  if (bytes === undefined) {
    c.fail(segs, 'is not a size', { value: v, hint: 'write a number and a unit: 512MiB, 1GiB, 2G' });
    return undefined;
  }
  if (bytes < LIMITS.minMemory || bytes > LIMITS.maxMemory) {
    c.fail(segs, 'is out of range (64MiB to 256GiB)', { value: v });
    return undefined;
  }
  if (bytes % MiB !== 0) {
    c.fail(segs, 'must be a whole number of MiB', { value: v });
    return undefined;
  }
  return bytes;
}

function parseNetworks(c: Checker, nets: RawLab['networks'], lab: string, opts: ValidateOptions): Map<string, NetworkModel> {
  const out = new Map<string, NetworkModel>();
  const bridges = new Map<string, string>();
  for (const [key, def] of Object.entries(nets ?? {})) {
    const segs = ['networks', key];
    const o: RawNetwork = def ?? {};
    const mode = (o.mode ?? (o.bridge !== undefined ? 'bridge' : 'isolated')) as NetworkMode;
    const net: NetworkModel = { name: key, mode };
    if (o.bridge !== undefined) {
      if (mode !== 'bridge') c.fail([...segs, 'bridge'], `only networks with mode "bridge" attach to an existing host bridge`, { hint: 'remove "bridge:" to let vmlab create an isolated bridge' });
      else net.hostBridge = o.bridge;
    } else if (mode === 'bridge') {
      c.fail(segs, 'mode "bridge" needs "bridge: <existing host bridge>"', { hint: 'e.g. bridge: br0' });
    }
    if (o.subnet !== undefined) {
      const s = parseCidr(o.subnet)!;
      if (networkOf(s) !== s.address) c.fail([...segs, 'subnet'], 'has host bits set', { value: o.subnet, hint: `did you mean ${formatCidr({ address: networkOf(s), prefix: s.prefix })}?` });
      else if (s.prefix > 30 || s.prefix < 8) c.fail([...segs, 'subnet'], 'prefix must be between /8 and /30', { value: o.subnet });
      else net.subnet = s;
    } else if (mode === 'nat') {
      c.fail(segs, 'a "nat" network needs a subnet', { hint: 'e.g. subnet: 192.168.100.0/24' });
    }
    if (o['host-address'] !== undefined) {
      const ip = parseIpv4(o['host-address'])!;
      if (mode === 'bridge') c.fail([...segs, 'host-address'], 'vmlab does not configure addresses on existing host bridges');
      else if (!net.subnet) c.fail([...segs, 'host-address'], 'needs a subnet on the network');
      else if (!usable(net.subnet, ip)) c.fail([...segs, 'host-address'], `is not a usable address in ${formatCidr(net.subnet)}`, { value: o['host-address'] });
      else net.hostAddress = ip;
    } else if (mode === 'nat' && net.subnet) {
      net.hostAddress = networkOf(net.subnet) + 1;
    }
    if (o.dhcp !== undefined) {
      if (mode !== 'nat') c.fail([...segs, 'dhcp'], 'libvirt DHCP is only for "nat" networks; lab DHCP servers are a service', { hint: 'use the "dhcp" service on a VM' });
      else if (net.subnet) {
        const start = parseIpv4(o.dhcp.start)!;
        const end = parseIpv4(o.dhcp.end)!;
        if (!usable(net.subnet, start) || !usable(net.subnet, end) || start > end) c.fail([...segs, 'dhcp'], `range must lie inside ${formatCidr(net.subnet)} with start <= end`);
        else net.dhcpRange = { start, end };
      }
    }
    if (o.mtu !== undefined) net.mtu = o.mtu;
    if (mode !== 'bridge') {
      const br = opts.bridgeName(lab, key);
      if (br.length > 15) c.fail(segs, `derived bridge name "${br}" is longer than Linux's 15-character limit`, { atKey: true, hint: 'use a shorter network name' });
      const other = bridges.get(br);
      if (other) c.fail(segs, `bridge name "${br}" clashes with network "${other}"`, { atKey: true, hint: 'rename one of the networks' });
      bridges.set(br, key);
    } else if (net.hostBridge) {
      const other = bridges.get(net.hostBridge);
      if (other) c.fail([...segs, 'bridge'], `bridge "${net.hostBridge}" is already used by network "${other}"`);
      bridges.set(net.hostBridge, key);
    }
    out.set(key, net);
  }
  return out;
}

function usable(net: Cidr, ip: number): boolean {
  return contains(net, ip) && ip !== networkOf(net) && ip !== broadcastOf(net);
}

interface ParsedVm {
  vm: VmModel;
  segs: PathSeg[];
  /** Where each NIC's static ip came from, for duplicate reports. */
  nicSegs: PathSeg[][];
}

function parseVms(c: Checker, vms: RawLab['vms'], d: Defaults, networks: Map<string, NetworkModel>, opts: ValidateOptions): ParsedVm[] | undefined {
  const out: ParsedVm[] = [];
  for (const [key, def] of Object.entries(vms)) {
    const segs = ['vms', key];
    const o: RawVm = def ?? {};
    const count = o.count ?? 1;
    const kind = (o.kind as VmModel['kind'] | undefined) ?? 'vm';
    if (kind === 'container') refuseVmOnly(c, segs, o);
    const boot = parseBoot(c, segs, o, c.source.file, d.profile);
    // Install media boots onto empty disks: no system image unless the lab names one.
    const img = o.image === undefined ? (boot.boot === 'cdrom' ? null : defaultImage(c, segs, d.image, opts)) : image(c, [...segs, 'image'], o.image, opts);
    // A container reserves no memory (it uses what its processes use) and has no device model.
    const mem = kind === 'container' ? 0 : o.memory === undefined ? d.memoryBytes : memory(c, [...segs, 'memory'], o.memory);
    const profile = kind === 'container' ? containerProfile.name : (o.profile ?? d.profile);
    const disks = kind === 'container' ? [] : parseDisks(c, [...segs, 'disks'], o.disks ?? [], profile);
    const nics = parseNics(c, [...segs, 'nics'], o.nics ?? [], networks, count);
    const cloudInit = parseCloudInit(c, [...segs, 'cloud-init'], o['cloud-init']);
    const services = parseServices(c, [...segs, 'services'], o.services, { networks, nics }, opts);
    const ready = isAgentlessReady(o.ready) ? [] : parseReady(c, [...segs, 'ready'], o.ready);
    if (img === undefined || mem === undefined || !cloudInit || !services || !ready) continue;
    if (count > 1 && key.length + String(count).length > 63) c.fail(segs, 'name plus copy number would exceed 63 characters', { atKey: true });
    if (boot.tcpReady?.address !== undefined && count > 1)
      c.fail([...segs, 'ready', 'address'], 'cannot be fixed on a VM with count > 1 (every copy would share it)', { hint: "remove it: each copy's NIC address is used" });
    // A provisioned guest's tcp: is refused by parseBoot; every copy resolves like the first, so its error is said once.
    let resolveTcp = boot.tcpReady !== undefined && boot.provision === 'none';
    for (let i = 1; i <= count; i++) {
      const copyNics = nics.map((n) => copyNic(n, i - 1));
      const tcpReady = resolveTcp ? resolveTcpReady(c, segs, boot, copyNics, networks) : undefined;
      if (!tcpReady) resolveTcp = false;
      out.push({
        segs,
        nicSegs: nics.map((_, n) => [...segs, 'nics', n]),
        vm: {
          name: count === 1 ? key : `${key}${i}`,
          kind,
          template: key,
          ...(count > 1 ? { copy: i } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
          ...(img ? { image: img } : {}),
          boot,
          memoryBytes: mem,
          vcpus: kind === 'container' ? 0 : (o.vcpus ?? d.vcpus),
          profile,
          accel: kind === 'container' ? 'auto' : ((o.accel as AccelRequest | undefined) ?? d.accel),
          disks,
          nics: copyNics,
          ...(tcpReady ? { tcpReady } : {}),
          cloudInit,
          services,
          ready,
        },
      });
    }
  }
  if (out.length > LIMITS.maxVms) c.fail(['vms'], `a lab may have at most ${LIMITS.maxVms} VMs (counting copies), got ${out.length}`);
  return out;
}

/** The n-th copy of a `count` VM gets the n-th address after the first. */
function copyNic(n: NicSpec, offset: number): NicSpec {
  if (offset === 0 || n.address.kind !== 'static') return n;
  return { ...n, address: { kind: 'static', cidr: { address: n.address.cidr.address + offset, prefix: n.address.cidr.prefix } } };
}

function parseDisks(c: Checker, segs: PathSeg[], items: RawDisk[], profile: string): DiskModel[] {
  const out: DiskModel[] = [];
  items.forEach((o, i) => {
    const s = [...segs, i];
    const size = parseSize(o.size);
    if (size === undefined) c.fail([...s, 'size'], 'is not a size', { value: o.size, hint: 'write e.g. 1GiB or 512MiB' });
    else if (size < MiB || size > LIMITS.maxDisk) c.fail([...s, 'size'], 'must be between 1MiB and 16TiB', { value: o.size });
    const bus = o.bus as DiskBus | undefined;
    const dp = deviceProfiles[profile]!;
    if (bus && dp.unsupportedBuses.includes(bus)) {
      c.fail([...s, 'bus'], `the ${dp.machine.value} machine of profile "${dp.name}" has no ${bus.toUpperCase()} controller`, {
        value: bus,
        hint: `use another bus, or a profile whose machine has ${bus.toUpperCase()}: ${profileNames.filter((p) => !deviceProfiles[p]!.unsupportedBuses.includes(bus)).join(', ')}`,
      });
    }
    if (size !== undefined) out.push({ sizeBytes: size, format: (o.format ?? 'qcow2') as DiskModel['format'], ...(bus ? { bus } : {}) });
  });
  return out;
}

function parseNics(c: Checker, segs: PathSeg[], items: RawNic[], networks: Map<string, NetworkModel>, count: number): NicSpec[] {
  const out: NicSpec[] = [];
  items.forEach((o, i) => {
    const s = [...segs, i];
    const net = networks.get(o.network);
    if (!net) {
      const guess = closest(o.network, [...networks.keys()]);
      c.fail([...s, 'network'], `no network "${o.network}" in this lab`, {
        value: o.network,
        hint: guess ? `did you mean "${guess}"?` : `define it under networks: (known: ${[...networks.keys()].join(', ') || 'none'})`,
      });
    }
    let address: NicAddress = { kind: 'none' };
    if (o.ip === 'dhcp') address = { kind: 'dhcp' };
    else if (o.ip !== undefined) {
      const ip = parseCidr(o.ip)!;
      if (net?.subnet) {
        const last = ip.address + count - 1;
        if (ip.prefix !== net.subnet.prefix)
          c.fail([...s, 'ip'], `prefix /${ip.prefix} differs from the network's subnet ${formatCidr(net.subnet)}`, { value: o.ip, hint: `write /${net.subnet.prefix}` });
        else if (!usable(net.subnet, ip.address)) c.fail([...s, 'ip'], `is not a usable address in network "${net.name}" (${formatCidr(net.subnet)})`, { value: o.ip });
        else if (!usable(net.subnet, last)) c.fail([...s, 'ip'], `with count ${count}, the last copy's address would fall outside ${formatCidr(net.subnet)}`, { value: o.ip });
        else if (net.hostAddress === ip.address) c.fail([...s, 'ip'], `is the host's own address on network "${net.name}"`, { value: o.ip });
      }
      address = { kind: 'static', cidr: ip };
    }
    const gateway = o.gateway === undefined ? undefined : parseIpv4(o.gateway)!;
    if (gateway !== undefined && address.kind === 'static' && !contains(address.cidr, gateway)) {
      c.fail([...s, 'gateway'], `is not inside ${formatCidr(address.cidr)}`, { value: o.gateway });
    }
    const nameservers = (o.dns ?? []).map((x) => parseIpv4(x)!);
    if (o.mac !== undefined) {
      if ((parseInt(o.mac.slice(0, 2), 16) & 1) === 1) c.fail([...s, 'mac'], 'is a multicast address', { value: o.mac, hint: 'the first byte must be even; 52:54:00:… is the usual range' });
      if (count > 1) c.fail([...s, 'mac'], 'cannot be fixed on a VM with count > 1 (every copy would share it)', { hint: 'remove "mac:"; vmlab derives a stable MAC per copy' });
    }
    const link = o.link ? parseLink(c, [...s, 'link'], o.link) : undefined;
    out.push({
      network: o.network,
      address,
      nameservers,
      ifname: o.name ?? `eth${i}`,
      ...(link ? { link } : {}),
      ...(gateway !== undefined ? { gateway } : {}),
      ...(o.mac ? { mac: o.mac } : {}),
      ...(o.model ? { model: o.model as NicModel } : {}),
    });
  });
  return out;
}

function parseLink(c: Checker, segs: PathSeg[], raw: RawLink): LinkSpec {
  const { fields, problems } = parseLinkFields(raw);
  const { link, problems: more } = linkFrom(fields);
  for (const p of [...problems, ...more]) c.fail([...segs, p.key], p.message, { ...(p.value !== undefined ? { value: p.value } : {}), ...(p.hint ? { hint: p.hint } : {}) });
  return link;
}

/** Checks across VMs: unique names after `count`, unique static IPs and MACs. */
function crossCheck(c: Checker, vms: ParsedVm[], networks: Map<string, NetworkModel>): void {
  const names = new Map<string, ParsedVm>();
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const p of vms) {
    const prev = names.get(p.vm.name);
    if (prev) c.fail(p.segs, `VM name "${p.vm.name}" is used twice (count copies are named <name>1..<name>N)`, { atKey: true, hint: `rename "${p.vm.template}" or "${prev.vm.template}"` });
    names.set(p.vm.name, p);
    p.vm.nics.forEach((n, i) => {
      const segs = p.nicSegs[i]!;
      if (n.address.kind === 'static') {
        const key = `${n.network}/${n.address.cidr.address}`;
        const other = ips.get(key);
        if (other) c.fail([...segs, 'ip'], `address ${formatCidr(n.address.cidr)} is already used by ${other}`, { hint: 'every static address on a network must be unique' });
        else ips.set(key, `${p.vm.name}.nics[${i}]`);
      }
      if (n.mac) {
        const other = macs.get(n.mac);
        if (other) c.fail([...segs, 'mac'], `MAC ${n.mac} is already used by ${other}`);
        else macs.set(n.mac, `${p.vm.name}.nics[${i}]`);
      }
      const net = networks.get(n.network);
      if (n.address.kind === 'dhcp' && net?.mode === 'isolated' && !vmsHaveDhcp(vms, n.network)) {
        c.fail([...segs, 'ip'], `"dhcp" on isolated network "${n.network}", but no VM there runs the "dhcp" service`, { hint: 'give a static ip, or add the dhcp service to a VM on that network' });
      }
    });
  }
}

/** A DHCP server, or a relay to one, with an interface on the network. */
function vmsHaveDhcp(vms: ParsedVm[], network: string): boolean {
  return vms.some((p) =>
    p.vm.services.some((s) => {
      if (s.name !== 'dhcp' && s.name !== 'dhcp-relay') return false;
      const nic = p.vm.nics.find((n) => n.ifname === s.params.interface);
      return nic ? nic.network === network : p.vm.nics.some((n) => n.network === network);
    }),
  );
}
