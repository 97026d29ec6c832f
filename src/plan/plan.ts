import { join } from 'node:path';
import { LabError } from '../errors.js';
import type { LabModel, LabOwner, NetworkModel, NicAddress, UserSpec, WriteFileSpec, Command, ServiceUse } from '../lab/model.js';
import { accelProfiles, BUS_DISCARD, deviceProfiles, type Accel, type AccelProfile, type DeviceProfile, type DiskBus, type NicModel } from '../profiles/index.js';
import type { HostPaths } from '../paths.js';
import { sha256Hex, stableStringify } from '../util/hash.js';
import type { ReadyProbe } from '../lab/ready.js';
import type { TcpReady } from '../lab/validate-boot.js';
import { formatCidr, formatIpv4, type Cidr } from '../util/ipv4.js';
import { bridgeNameFor, domainName, networkName } from '../lab/names.js';
import type { LinkSpec } from '../lab/link.js';
import type { ContainerProfile } from '../profiles/container.js';
import { planContainer, type ContainerPaths } from './container-plan.js';
import { planNic } from './nic-plan.js';

/**
 * What KVM is on a host: none (no usable /dev/kvm), unusable (a /dev/kvm that cannot run a stock
 * guest, e.g. nested through PVM) or working. host/accel-probe.ts decides.
 */
export type KvmHost = 'none' | 'unusable' | 'working';

/** How `accel: auto` was decided on this host (by the live layer, or fixed for rendering). */
export interface AutoAccel {
  accel: Accel;
  reason: string;
  /** The host's kind, where it was probed (rendering for another host fixes only `accel`). */
  kvm?: KvmHost;
}

export interface PlanOptions {
  paths: HostPaths;
  autoAccel: AutoAccel;
  /** Host facts that change devices: /dev/vhost-net present (default true). */
  host?: { vhostNet: boolean };
  /**
   * Disk cache and I/O mode, the same for every device model so comparisons stay fair.
   * Labs default to the host page cache without flushes (unsafe, threads): a revert reads the
   * guest's memory state from host RAM, and a snapshot taken after a revert is not slowed by
   * qcow2's flush-ordered copy-on-write (one VM here: 0.34 s instead of 2.2 s). The price: a host
   * crash can lose a lab's last seconds of disk writes (README "Device models are data"); a host
   * that must not sets VMLAB_DISK_CACHE (lab-ops/host-lab.ts hostDiskCache).
   * `vmlab bench` sets cache=none io=native, the tuning a performance-minded user picks.
   */
  diskCache?: 'none' | 'writeback' | 'unsafe';
  diskIo?: 'native' | 'threads' | 'io_uring';
  /**
   * Image name → the versioned file linked clones are made from, resolved by the caller
   * (the image cache is I/O). Not part of a VM's hash: a rebuilt image does not change a
   * running VM; its overlay keeps the version it was cloned from.
   */
  imageFiles?: Readonly<Record<string, string>>;
  /** Imported install media (cdrom: NAME) → its file, resolved by the caller; default: the cache's link. */
  mediaFiles?: Readonly<Record<string, string>>;
}

export interface NetworkPlan {
  name: string;
  /** libvirt network name; absent for existing host bridges (nothing to create). */
  libvirtName?: string;
  mode: NetworkModel['mode'];
  bridge: string;
  subnet?: Cidr;
  hostAddress?: number;
  dhcpRange?: { start: number; end: number };
  mtu?: number;
}

export interface DiskPlan {
  /** root: the image's linked clone; data: an empty disk; seed: cloud-init's; media: install media (read-only, never copied). */
  role: 'root' | 'data' | 'seed' | 'media';
  path: string;
  format: 'qcow2' | 'raw';
  device: 'disk' | 'cdrom';
  bus: DiskBus;
  dev: string;
  readonly: boolean;
  /** Host page cache and I/O mode for writable disks: identical across device models (fair comparisons). */
  cache?: 'none' | 'writeback' | 'unsafe';
  io?: 'native' | 'threads' | 'io_uring';
  /** The QEMU I/O thread serving this disk (virtio-blk with a profile that has one). */
  iothread?: number;
  /**
   * The file the root overlay is a linked clone of: the image version resolved
   * when the plan was made (PlanOptions.imageFiles, as `up` does), else the
   * cache's link to the image's current version.
   */
  backingFile?: string;
  /** Install media imported into the image cache (cdrom: NAME), for up's messages. */
  mediaImage?: string;
  /** Pass the guest's discards on to the file (discard='unmap'): where the bus can (profiles' BUS_DISCARD). */
  discard: boolean;
  sizeBytes?: number;
  bootOrder?: number;
  why: string;
}

export interface NicPlan {
  index: number;
  network: string;
  /** Either a libvirt network or an existing host bridge. */
  source: { kind: 'network'; name: string } | { kind: 'bridge'; name: string };
  bridge: string;
  /** The host side of the NIC (libvirt's <target dev>): where captures and impairment happen. */
  tap: string;
  mac: string;
  /** The emulated or virtio card; veth: a container's end of a veth pair. */
  model: NicModel | 'veth';
  vhost: boolean;
  ifname: string;
  address: NicAddress;
  gateway?: number;
  nameservers: number[];
  /** State and impairment from the lab file; not part of the VM's hash: `up` applies a change live. */
  link: LinkSpec;
  why: string;
}

export interface VmPlan {
  name: string;
  /** vm: a QEMU domain; container: a system container (profiles/container.ts), the fields in `container`. */
  kind: 'vm' | 'container';
  template: string;
  domainName: string;
  hostname: string;
  fqdn: string;
  description?: string;
  profile: DeviceProfile | ContainerProfile;
  accel: AccelProfile;
  accelRequested: 'kvm' | 'tcg' | 'auto';
  accelReason: string;
  memoryMiB: number;
  vcpus: number;
  /** The image the system disk is cloned from; none for a guest installed from media. */
  image?: { name: string; path: string };
  /** cloud-init: seeded and watched through the guest agent; none: an unmodified OS, neither seed nor agent. */
  provision: 'cloud-init' | 'none';
  /** provision none: ready when the serial console prints a match (not part of the hash). */
  consoleReady?: string;
  /** provision none: ready when this port of the guest answers the host (not part of the hash). */
  tcpReady?: TcpReady;
  dir: string;
  disks: DiskPlan[];
  nics: NicPlan[];
  /** How vmlab runs commands in it: the QEMU guest agent on a channel, nsenter into a container, or none. */
  agent: { transport: 'virtio-serial' | 'isa-serial' | 'nsenter' | 'none'; socketPath?: string };
  /** A container's overlay and seed (plan/container-plan.ts). */
  container?: ContainerPaths;
  consoleLog: string;
  cloudInit: { users: UserSpec[]; packages: string[]; writeFiles: WriteFileSpec[]; runcmd: Command[]; bootcmd: Command[] };
  services: ServiceUse[];
  /** The lab's own readiness probes (not part of the hash: a probe does not change the VM). */
  ready: ReadyProbe[];
  /** Hash of everything above: changes when the VM's definition changes. */
  hash: string;
  instanceId: string;
}

export interface Plan {
  lab: { name: string; description?: string; domain: string; file: string; fileHash: string; dir: string; owner?: LabOwner };
  networks: NetworkPlan[];
  vms: VmPlan[];
}

const DEV_PREFIX: Record<DiskBus, string> = { ide: 'hd', sata: 'sd', scsi: 'sd', virtio: 'vd' };
const IDE_MAX = 4;

/** LabModel + device profiles → a complete, deterministic description of what to create. No I/O. */
export function planLab(lab: LabModel, opts: PlanOptions): Plan {
  const labDir = join(opts.paths.dataDir, 'labs', lab.name);
  const networks = lab.networks.map((n) => planNetwork(lab.name, n));
  const byName = new Map(networks.map((n) => [n.name, n]));
  const vms = lab.vms.map((vm): VmPlan => {
    if (vm.kind === 'container') return planContainer(lab, vm, labDir, byName, opts);
    const profile = deviceProfiles[vm.profile]!;
    const accelName: Accel = vm.accel === 'auto' ? opts.autoAccel.accel : vm.accel;
    const accel = accelProfiles[accelName];
    const dir = join(labDir, vm.name);
    const dn = domainName(lab.name, vm.name);
    const tuning = { cache: opts.diskCache ?? 'unsafe', io: opts.diskIo ?? 'threads' } as const;
    const imagePath = vm.image ? join(opts.paths.dataDir, 'images', `${vm.image}.qcow2`) : undefined;
    const media = vm.boot.cdromImage
      ? { path: opts.mediaFiles?.[vm.boot.cdromImage] ?? join(opts.paths.dataDir, 'images', `${vm.boot.cdromImage}.iso`), image: vm.boot.cdromImage }
      : vm.boot.cdrom
        ? { path: vm.boot.cdrom }
        : undefined;
    const disks = planDisks(lab, vm, profile, dir, imagePath, tuning, media);
    const nics: NicPlan[] = vm.nics.map((n, i) => {
      const model = n.model ?? profile.nic.value.model;
      const hostVhost = opts.host?.vhostNet ?? true;
      const vhost = model === 'virtio' && profile.nic.value.vhost && accel.name === 'kvm' && hostVhost;
      return { ...planNic(lab.name, vm.name, n, i, byName.get(n.network)!), model, vhost, why: nicWhy(profile, model, vhost, accelName, hostVhost) };
    });
    const agent =
      vm.boot.provision === 'none'
        ? { transport: 'none' as const }
        : profile.agent.value === 'isa-serial'
          ? { transport: 'isa-serial' as const, socketPath: agentSocketPath(opts.paths.runDir, dn) }
          : { transport: 'virtio-serial' as const };
    const body = {
      name: vm.name,
      kind: 'vm' as const,
      template: vm.template,
      domainName: dn,
      hostname: vm.name,
      fqdn: `${vm.name}.${lab.domain}`,
      ...(vm.description !== undefined ? { description: vm.description } : {}),
      profile,
      accel,
      accelRequested: vm.accel,
      accelReason: vm.accel === 'auto' ? `auto: ${opts.autoAccel.reason}` : 'set in the lab file',
      memoryMiB: vm.memoryBytes / (1024 * 1024),
      vcpus: vm.vcpus,
      ...(vm.image && imagePath ? { image: { name: vm.image, path: imagePath } } : {}),
      provision: vm.boot.provision,
      dir,
      disks,
      nics,
      agent,
      consoleLog: join(dir, 'console.log'),
      cloudInit: vm.cloudInit,
      services: vm.services,
    };
    // A link's state and impairment are applied live (up, revert): not part of what the VM is.
    const hash = sha256Hex(stableStringify({ ...body, kind: undefined, accelReason: undefined, nics: nics.map(({ link: _link, ...n }) => n) })).slice(0, 16);
    // After the hash (see PlanOptions.imageFiles): the version up clones from.
    const resolved = vm.image ? opts.imageFiles?.[vm.image] : undefined;
    if (resolved) for (const d of body.disks) if (d.role === 'root') d.backingFile = resolved;
    return {
      ...body,
      ready: vm.ready,
      ...(vm.boot.consoleReady !== undefined ? { consoleReady: vm.boot.consoleReady } : {}),
      ...(vm.tcpReady ? { tcpReady: vm.tcpReady } : {}),
      hash,
      instanceId: `${dn}-${hash.slice(0, 12)}`,
    } satisfies VmPlan;
  });
  assertUniqueMacs(lab, vms);
  return {
    lab: {
      name: lab.name,
      ...(lab.description !== undefined ? { description: lab.description } : {}),
      domain: lab.domain,
      file: lab.file,
      fileHash: lab.fileHash,
      dir: labDir,
      ...(lab.owner ? { owner: lab.owner } : {}),
    },
    networks,
    vms,
  };
}

function planNetwork(lab: string, n: NetworkModel): NetworkPlan {
  const base = {
    name: n.name,
    mode: n.mode,
    ...(n.subnet ? { subnet: n.subnet } : {}),
    ...(n.hostAddress !== undefined ? { hostAddress: n.hostAddress } : {}),
    ...(n.dhcpRange ? { dhcpRange: n.dhcpRange } : {}),
    ...(n.mtu !== undefined ? { mtu: n.mtu } : {}),
  };
  if (n.mode === 'bridge') return { ...base, bridge: n.hostBridge! };
  return { ...base, libvirtName: networkName(lab, n.name), bridge: bridgeNameFor(lab, n.name) };
}

function planDisks(
  lab: LabModel,
  vm: LabModel['vms'][number],
  profile: DeviceProfile,
  dir: string,
  base: string | undefined,
  tuning: Pick<DiskPlan, 'cache' | 'io'>,
  media?: { path: string; image?: string },
): DiskPlan[] {
  const next: Partial<Record<string, number>> = {};
  const dev = (bus: DiskBus) => {
    const p = DEV_PREFIX[bus];
    const i = next[p] ?? 0;
    next[p] = i + 1;
    return p + String.fromCharCode(97 + i);
  };
  const rootBus = profile.diskBus.value;
  const fromMedia = vm.boot.boot === 'cdrom';
  const disks: DiskPlan[] = [];
  if (base) {
    disks.push({
      role: 'root',
      path: join(dir, 'root.qcow2'),
      format: 'qcow2',
      device: 'disk',
      bus: rootBus,
      dev: dev(rootBus),
      readonly: false,
      discard: BUS_DISCARD[rootBus].value,
      ...tuning,
      backingFile: base,
      bootOrder: fromMedia ? 2 : 1,
      why: profile.diskBus.why,
    });
  }
  vm.disks.forEach((d, i) => {
    const bus = d.bus ?? rootBus;
    disks.push({
      role: 'data',
      path: join(dir, `disk${i + 1}.${d.format}`),
      format: d.format,
      device: 'disk',
      bus,
      dev: dev(bus),
      readonly: false,
      discard: BUS_DISCARD[bus].value,
      ...tuning,
      sizeBytes: d.sizeBytes,
      // Without an image, the first empty disk is the one an installer writes to: boot from it next.
      ...(!base && i === 0 ? { bootOrder: fromMedia ? 2 : 1 } : {}),
      why:
        !base && i === 0
          ? 'an empty disk to install onto (no image): booted after the install media'
          : bus === rootBus
            ? `extra disk on the same bus as the system disk`
            : `extra disk on the ${bus} bus (override in the lab)`,
    });
  });
  if (profile.iothread.value) for (const d of disks) if (d.bus === 'virtio') d.iothread = 1;
  const cd = profile.seed.value;
  if (media) {
    disks.push({
      role: 'media',
      path: media.path,
      ...(media.image ? { mediaImage: media.image } : {}),
      format: 'raw',
      device: cd.device,
      bus: cd.bus,
      dev: dev(cd.bus),
      readonly: true,
      discard: false,
      ...(fromMedia ? { bootOrder: 1 } : {}),
      why: `install media, read-only (never copied or changed), on the profile's CD-ROM bus${fromMedia ? '; booted first' : ''}`,
    });
  }
  if (vm.boot.provision === 'cloud-init') {
    disks.push({ role: 'seed', path: join(dir, 'seed.iso'), format: 'raw', device: cd.device, bus: cd.bus, dev: dev(cd.bus), readonly: true, discard: false, why: profile.seed.why });
  }
  const ide = disks.filter((d) => d.bus === 'ide').length;
  if (ide > IDE_MAX) {
    throw new LabError([
      {
        file: lab.file,
        path: `vms.${vm.template}.disks`,
        message: `${vm.name} needs ${ide} IDE devices (system disk, extra disks, CD-ROMs); an IDE machine has ${IDE_MAX}`,
        hint: 'put extra disks on bus: sata',
      },
    ]);
  }
  return disks;
}

function nicWhy(profile: DeviceProfile, model: NicModel, vhost: boolean, accel: Accel, hostVhost: boolean): string {
  if (model !== profile.nic.value.model) return `${model} NIC (override in the lab)`;
  if (model === 'virtio' && profile.nic.value.vhost && accel === 'kvm' && !hostVhost) {
    return "virtio-net through QEMU's own backend: this host has no /dev/vhost-net (modprobe vhost_net), so no in-kernel vhost";
  }
  if (model === 'virtio' && profile.nic.value.vhost && !vhost) {
    return `virtio-net through QEMU's own backend: vhost-net needs KVM, under ${accel.toUpperCase()} packets still use shared rings but QEMU moves them`;
  }
  return profile.nic.why;
}

/** Unix socket paths are limited to 107 bytes; fall back to a hashed name. */
export function agentSocketPath(runDir: string, domain: string): string {
  const readable = join(runDir, `${domain}.agent.sock`);
  return Buffer.byteLength(readable) <= 100 ? readable : join(runDir, `${sha256Hex(domain).slice(0, 16)}.agent.sock`);
}

function assertUniqueMacs(lab: LabModel, vms: VmPlan[]): void {
  const seen = new Map<string, string>();
  for (const vm of vms) {
    for (const n of vm.nics) {
      const other = seen.get(n.mac);
      if (other) {
        throw new LabError([
          { file: lab.file, path: `vms.${vm.template}.nics[${n.index}].mac`, message: `MAC ${n.mac} of ${vm.name} clashes with ${other}`, hint: 'set "mac:" explicitly on one of them' },
        ]);
      }
      seen.set(n.mac, `${vm.name}.nics[${n.index}]`);
    }
  }
}

export function describeAddress(a: NicAddress): string {
  return a.kind === 'static' ? formatCidr(a.cidr) : a.kind;
}

export { formatIpv4 };
