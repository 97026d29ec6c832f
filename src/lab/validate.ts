import { accelNames, deviceProfiles, DISK_BUSES, NIC_MODELS, profileNames, type AccelRequest } from '../profiles/index.js';
import type { ServiceCatalog } from '../services/catalog.js';
import { broadcastOf, contains, formatCidr, networkOf, type Cidr } from '../util/ipv4.js';
import { isDnsLabel, closest } from '../util/names.js';
import { parseSize, MiB } from '../util/units.js';
import { Checker } from './checker.js';
import { cidr, DNS_HINT, IFNAME, IMAGE_NAME, ipv4, LIMITS, MAC } from './fields.js';
import type { DiskModel, LabModel, NetworkMode, NetworkModel, NicAddress, NicSpec, VmModel } from './model.js';
import { parseReady } from './ready.js';
import type { PathSeg } from './source.js';
import { parseCloudInit } from './validate-cloud-init.js';
import { parseServices } from './validate-services.js';

const NETWORK_MODES: NetworkMode[] = ['isolated', 'bridge', 'nat'];

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

/** Walks the parsed YAML; returns the model, or undefined with issues recorded in `c`. */
export function validateLab(c: Checker, raw: unknown, fileHash: string, opts: ValidateOptions): LabModel | undefined {
  const root = c.object([], raw, {
    required: ['name', 'vms'],
    optional: ['description', 'domain', 'defaults', 'networks', 'vms'],
  });
  if (!root) return undefined;

  const name = c.string(['name'], root.name, {
    pattern: /^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/,
    what: 'a lab name',
    hint: 'lowercase letters, digits and "-", at most 24 characters (it becomes part of every libvirt name)',
  });
  const description = root.description === undefined ? undefined : c.string(['description'], root.description, { maxLength: 2000 });
  const domain =
    root.domain === undefined
      ? `${name ?? 'lab'}.lab`
      : c.string(['domain'], root.domain, { pattern: /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, maxLength: 200, what: 'a DNS domain' });

  const defaults = parseDefaults(c, root.defaults, opts);
  const networks = parseNetworks(c, root.networks, name, opts);
  const vms = parseVms(c, root.vms, defaults, networks, opts);

  if (!c.ok || !name || domain === undefined || !networks || !vms) return undefined;
  crossCheck(c, vms, networks);
  if (!c.ok) return undefined;
  return { name, ...(description !== undefined ? { description } : {}), domain, file: c.source.file, fileHash, networks: [...networks.values()], vms: vms.map((v) => v.vm) };
}

function parseDefaults(c: Checker, v: unknown, opts: ValidateOptions): Defaults {
  const d = { ...BUILTIN_DEFAULTS };
  if (v === undefined || v === null) return d;
  const o = c.object(['defaults'], v, { optional: ['image', 'memory', 'vcpus', 'profile', 'accel'] });
  if (!o) return d;
  if (o.image !== undefined) d.image = image(c, ['defaults', 'image'], o.image, opts) ?? d.image;
  if (o.memory !== undefined) d.memoryBytes = memory(c, ['defaults', 'memory'], o.memory) ?? d.memoryBytes;
  if (o.vcpus !== undefined) d.vcpus = c.int(['defaults', 'vcpus'], o.vcpus, 1, LIMITS.maxVcpus) ?? d.vcpus;
  if (o.profile !== undefined) d.profile = c.oneOf(['defaults', 'profile'], o.profile, profileNames, 'device profile') ?? d.profile;
  if (o.accel !== undefined) d.accel = c.oneOf(['defaults', 'accel'], o.accel, accelNames, 'accelerator') ?? d.accel;
  return d;
}

function image(c: Checker, segs: PathSeg[], v: unknown, opts: ValidateOptions): string | undefined {
  const s = c.string(segs, v, { pattern: IMAGE_NAME, what: 'an image name', hint: 'lowercase letters, digits, ".", "_" and "-"' });
  if (s === undefined) return undefined;
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

function memory(c: Checker, segs: PathSeg[], v: unknown): number | undefined {
  if (typeof v === 'number') {
    c.fail(segs, 'needs a unit', { value: v, hint: `write "${v}MiB" or "${v}GiB"` });
    return undefined;
  }
  const s = c.string(segs, v, { what: 'a size like 512MiB' });
  if (s === undefined) return undefined;
  const bytes = parseSize(s);
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

function parseNetworks(c: Checker, v: unknown, lab: string | undefined, opts: ValidateOptions): Map<string, NetworkModel> | undefined {
  const out = new Map<string, NetworkModel>();
  if (v === undefined || v === null) return out;
  const nets = c.namedMap(['networks'], v);
  if (!nets) return undefined;
  if (Object.keys(nets).length > LIMITS.maxNetworks) c.fail(['networks'], `at most ${LIMITS.maxNetworks} networks`);
  const bridges = new Map<string, string>();
  for (const [key, def] of Object.entries(nets)) {
    const segs = ['networks', key];
    if (!isDnsLabel(key) || key.length > 32) {
      c.fail(segs, 'network name is not allowed', { atKey: true, value: key, hint: DNS_HINT.replace('63', '32') });
      continue;
    }
    const o = c.object(segs, def ?? {}, { optional: ['mode', 'bridge', 'subnet', 'host-address', 'dhcp', 'mtu', 'description'] });
    if (!o) continue;
    const mode: NetworkMode | undefined = o.mode === undefined ? (o.bridge !== undefined ? 'bridge' : 'isolated') : c.oneOf([...segs, 'mode'], o.mode, NETWORK_MODES, 'network mode');
    if (!mode) continue;
    const net: NetworkModel = { name: key, mode };
    if (o.description !== undefined) c.string([...segs, 'description'], o.description, { maxLength: 500 });
    if (o.bridge !== undefined) {
      if (mode !== 'bridge') c.fail([...segs, 'bridge'], `only networks with mode "bridge" attach to an existing host bridge`, { hint: 'remove "bridge:" to let vmlab create an isolated bridge' });
      else net.hostBridge = c.string([...segs, 'bridge'], o.bridge, { pattern: IFNAME, what: 'a Linux bridge name', hint: 'at most 15 characters: letters, digits, "_", "-", "."' });
    } else if (mode === 'bridge') {
      c.fail(segs, 'mode "bridge" needs "bridge: <existing host bridge>"', { hint: 'e.g. bridge: br0' });
    }
    if (o.subnet !== undefined) {
      const s = cidr(c, [...segs, 'subnet'], o.subnet);
      if (s) {
        if (networkOf(s) !== s.address) c.fail([...segs, 'subnet'], 'has host bits set', { value: o.subnet, hint: `did you mean ${formatCidr({ address: networkOf(s), prefix: s.prefix })}?` });
        else if (s.prefix > 30 || s.prefix < 8) c.fail([...segs, 'subnet'], 'prefix must be between /8 and /30', { value: o.subnet });
        else net.subnet = s;
      }
    } else if (mode === 'nat') {
      c.fail(segs, 'a "nat" network needs a subnet', { hint: 'e.g. subnet: 192.168.100.0/24' });
    }
    if (o['host-address'] !== undefined) {
      const ip = ipv4(c, [...segs, 'host-address'], o['host-address']);
      if (ip !== undefined) {
        if (mode === 'bridge') c.fail([...segs, 'host-address'], 'vmlab does not configure addresses on existing host bridges');
        else if (!net.subnet) c.fail([...segs, 'host-address'], 'needs a subnet on the network');
        else if (!usable(net.subnet, ip)) c.fail([...segs, 'host-address'], `is not a usable address in ${formatCidr(net.subnet)}`, { value: o['host-address'] });
        else net.hostAddress = ip;
      }
    } else if (mode === 'nat' && net.subnet) {
      net.hostAddress = networkOf(net.subnet) + 1;
    }
    if (o.dhcp !== undefined) {
      const d = c.object([...segs, 'dhcp'], o.dhcp, { required: ['start', 'end'] });
      if (mode !== 'nat') c.fail([...segs, 'dhcp'], 'libvirt DHCP is only for "nat" networks; lab DHCP servers are a service', { hint: 'use the "dhcp" service on a VM' });
      else if (d && net.subnet) {
        const start = ipv4(c, [...segs, 'dhcp', 'start'], d.start);
        const end = ipv4(c, [...segs, 'dhcp', 'end'], d.end);
        if (start !== undefined && end !== undefined) {
          if (!usable(net.subnet, start) || !usable(net.subnet, end) || start > end) c.fail([...segs, 'dhcp'], `range must lie inside ${formatCidr(net.subnet)} with start <= end`);
          else net.dhcpRange = { start, end };
        }
      }
    }
    if (o.mtu !== undefined) net.mtu = c.int([...segs, 'mtu'], o.mtu, 576, 9000);
    if (lab && mode !== 'bridge') {
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

function parseVms(c: Checker, v: unknown, d: Defaults, networks: Map<string, NetworkModel> | undefined, opts: ValidateOptions): ParsedVm[] | undefined {
  const vms = c.namedMap(['vms'], v);
  if (!vms) return undefined;
  if (Object.keys(vms).length === 0) c.fail(['vms'], 'a lab needs at least one VM');
  const out: ParsedVm[] = [];
  for (const [key, def] of Object.entries(vms)) {
    const segs = ['vms', key];
    if (!isDnsLabel(key)) {
      c.fail(segs, 'VM name is not a DNS label', { atKey: true, value: key, hint: DNS_HINT });
      continue;
    }
    const o = c.object(segs, def ?? {}, {
      optional: ['description', 'image', 'memory', 'vcpus', 'profile', 'accel', 'count', 'disks', 'nics', 'cloud-init', 'services', 'ready'],
    });
    if (!o) continue;
    const count = o.count === undefined ? 1 : c.int([...segs, 'count'], o.count, 1, LIMITS.maxCount);
    const img = o.image === undefined ? defaultImage(c, segs, d.image, opts) : image(c, [...segs, 'image'], o.image, opts);
    const mem = o.memory === undefined ? d.memoryBytes : memory(c, [...segs, 'memory'], o.memory);
    const vcpus = o.vcpus === undefined ? d.vcpus : c.int([...segs, 'vcpus'], o.vcpus, 1, LIMITS.maxVcpus);
    const profile = o.profile === undefined ? d.profile : c.oneOf([...segs, 'profile'], o.profile, profileNames, 'device profile');
    const accel = o.accel === undefined ? d.accel : c.oneOf([...segs, 'accel'], o.accel, accelNames, 'accelerator');
    const description = o.description === undefined ? undefined : c.string([...segs, 'description'], o.description, { maxLength: 2000 });
    const disks = parseDisks(c, [...segs, 'disks'], o.disks, profile);
    const nics = parseNics(c, [...segs, 'nics'], o.nics, networks, count ?? 1);
    const cloudInit = parseCloudInit(c, [...segs, 'cloud-init'], o['cloud-init']);
    const services = nics ? parseServices(c, [...segs, 'services'], o.services, { networks, nics }, opts) : undefined;
    const ready = parseReady(c, [...segs, 'ready'], o.ready);
    if (count === undefined || !img || !mem || !vcpus || !profile || !accel || !disks || !nics || !cloudInit || !services || !ready) continue;
    if (count > 1 && key.length + String(count).length > 63) c.fail(segs, 'name plus copy number would exceed 63 characters', { atKey: true });
    for (let i = 1; i <= count; i++) {
      const name = count === 1 ? key : `${key}${i}`;
      out.push({
        segs,
        nicSegs: nics.map((_, n) => [...segs, 'nics', n]),
        vm: {
          name,
          template: key,
          ...(count > 1 ? { copy: i } : {}),
          ...(description !== undefined ? { description } : {}),
          image: img,
          memoryBytes: mem,
          vcpus,
          profile,
          accel,
          disks,
          nics: nics.map((n) => copyNic(n, i - 1)),
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

function parseDisks(c: Checker, segs: PathSeg[], v: unknown, profile: string | undefined): DiskModel[] | undefined {
  const items = c.list(segs, v, { max: LIMITS.maxDisks });
  if (!items) return undefined;
  const out: DiskModel[] = [];
  items.forEach((item, i) => {
    const s = [...segs, i];
    const o = c.object(s, item, { required: ['size'], optional: ['bus', 'format'] });
    if (!o) return;
    const size = typeof o.size === 'string' ? parseSize(o.size) : undefined;
    if (size === undefined) c.fail([...s, 'size'], 'is not a size', { value: o.size, hint: 'write e.g. 1GiB or 512MiB' });
    else if (size < MiB || size > LIMITS.maxDisk) c.fail([...s, 'size'], 'must be between 1MiB and 16TiB', { value: o.size });
    const bus = o.bus === undefined ? undefined : c.oneOf([...s, 'bus'], o.bus, DISK_BUSES, 'disk bus');
    const dp = profile ? deviceProfiles[profile] : undefined;
    if (bus && dp?.unsupportedBuses.includes(bus)) {
      c.fail([...s, 'bus'], `the ${dp.machine.value} machine of profile "${dp.name}" has no ${bus.toUpperCase()} controller`, {
        value: bus,
        hint: `use another bus, or a profile whose machine has ${bus.toUpperCase()}: ${profileNames.filter((p) => !deviceProfiles[p]!.unsupportedBuses.includes(bus)).join(', ')}`,
      });
    }
    const format = o.format === undefined ? 'qcow2' : c.oneOf([...s, 'format'], o.format, ['qcow2', 'raw'] as const, 'disk format');
    if (size !== undefined && format) out.push({ sizeBytes: size, format, ...(bus ? { bus } : {}) });
  });
  return c.ok ? out : out;
}

function parseNics(c: Checker, segs: PathSeg[], v: unknown, networks: Map<string, NetworkModel> | undefined, count: number): NicSpec[] | undefined {
  const items = c.list(segs, v, { max: LIMITS.maxNics });
  if (!items) return undefined;
  const out: NicSpec[] = [];
  items.forEach((item, i) => {
    const s = [...segs, i];
    const o = c.object(s, item, { required: ['network'], optional: ['ip', 'gateway', 'dns', 'mac', 'model', 'name'] });
    if (!o) return;
    const netName = c.string([...s, 'network'], o.network);
    const net = netName && networks ? networks.get(netName) : undefined;
    if (netName && networks && !net) {
      const guess = closest(netName, [...networks.keys()]);
      c.fail([...s, 'network'], `no network "${netName}" in this lab`, {
        value: netName,
        hint: guess ? `did you mean "${guess}"?` : `define it under networks: (known: ${[...networks.keys()].join(', ') || 'none'})`,
      });
    }
    let address: NicAddress = { kind: 'none' };
    if (o.ip === 'dhcp') address = { kind: 'dhcp' };
    else if (o.ip !== undefined) {
      const ip = cidr(c, [...s, 'ip'], o.ip);
      if (ip && net?.subnet) {
        const last = ip.address + count - 1;
        if (ip.prefix !== net.subnet.prefix)
          c.fail([...s, 'ip'], `prefix /${ip.prefix} differs from the network's subnet ${formatCidr(net.subnet)}`, { value: o.ip, hint: `write /${net.subnet.prefix}` });
        else if (!usable(net.subnet, ip.address)) c.fail([...s, 'ip'], `is not a usable address in network "${net.name}" (${formatCidr(net.subnet)})`, { value: o.ip });
        else if (!usable(net.subnet, last)) c.fail([...s, 'ip'], `with count ${count}, the last copy's address would fall outside ${formatCidr(net.subnet)}`, { value: o.ip });
        else if (net.hostAddress === ip.address) c.fail([...s, 'ip'], `is the host's own address on network "${net.name}"`, { value: o.ip });
      }
      if (ip) address = { kind: 'static', cidr: ip };
    }
    const gateway = o.gateway === undefined ? undefined : ipv4(c, [...s, 'gateway'], o.gateway);
    if (gateway !== undefined && address.kind === 'static' && !contains(address.cidr, gateway)) {
      c.fail([...s, 'gateway'], `is not inside ${formatCidr(address.cidr)}`, { value: o.gateway });
    }
    const dnsItems = c.list([...s, 'dns'], o.dns, { max: 3 }) ?? [];
    const nameservers = dnsItems.map((x, j) => ipv4(c, [...s, 'dns', j], x)).filter((x): x is number => x !== undefined);
    let mac: string | undefined;
    if (o.mac !== undefined) {
      mac = c.string([...s, 'mac'], o.mac, { pattern: MAC, what: 'a MAC address', hint: 'six lowercase hex pairs, e.g. 52:54:00:12:34:56' });
      if (mac && (parseInt(mac.slice(0, 2), 16) & 1) === 1) c.fail([...s, 'mac'], 'is a multicast address', { value: mac, hint: 'the first byte must be even; 52:54:00:… is the usual range' });
      if (mac && count > 1) c.fail([...s, 'mac'], 'cannot be fixed on a VM with count > 1 (every copy would share it)', { hint: 'remove "mac:"; vmlab derives a stable MAC per copy' });
    }
    const model = o.model === undefined ? undefined : c.oneOf([...s, 'model'], o.model, NIC_MODELS, 'NIC model');
    const ifname = o.name === undefined ? `eth${i}` : c.string([...s, 'name'], o.name, { pattern: IFNAME, what: 'an interface name', hint: 'at most 15 characters: letters, digits, "_", "-", "."' });
    if (netName && ifname) {
      out.push({ network: netName, address, nameservers, ifname, ...(gateway !== undefined ? { gateway } : {}), ...(mac ? { mac } : {}), ...(model ? { model } : {}) });
    }
  });
  return out;
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
