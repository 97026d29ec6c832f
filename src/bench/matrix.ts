import type { LabModel } from '../lab/model.js';
import type { AutoAccel } from '../plan/plan.js';
import type { ConfigKind } from './results.js';

/**
 * The configurations `vmlab bench` knows: device model × accelerator, the host
 * itself, and ablations of the virtio model (which knob buys what).
 */
export interface BenchConfig {
  name: string;
  kind: ConfigKind;
  accel?: 'kvm' | 'tcg';
  /** A device profile's name (src/profiles/): the bench lab's VMs get it. */
  profile?: string;
  diskCache: 'none' | 'writeback';
  diskIo: 'native' | 'threads';
  vhostNet: boolean;
  description: string;
}

const GUESTS: Record<string, Omit<BenchConfig, 'name'>> = {
  'tcg-emulated': {
    kind: 'guest',
    accel: 'tcg',
    profile: 'emulated',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: false,
    description: 'TCG (binary translation) + hardware emulation: SATA/AHCI disk, e1000 NIC, unmodified guest drivers',
  },
  'tcg-virtio': {
    kind: 'guest',
    accel: 'tcg',
    profile: 'virtio',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: true,
    description: 'TCG + paravirtualization: virtio-blk, virtio-net (vhost needs KVM), cache=none io=native',
  },
  'kvm-emulated': {
    kind: 'guest',
    accel: 'kvm',
    profile: 'emulated',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: false,
    description: 'KVM (hardware virtualization) + hardware emulation: SATA/AHCI, e1000',
  },
  'kvm-virtio': {
    kind: 'guest',
    accel: 'kvm',
    profile: 'virtio',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: true,
    description: 'KVM + paravirtualization: virtio-blk, virtio-net with vhost-net, cache=none io=native',
  },
  'tcg-virtio-writeback': {
    kind: 'ablation',
    accel: 'tcg',
    profile: 'virtio',
    diskCache: 'writeback',
    diskIo: 'threads',
    vhostNet: true,
    description: 'ablation of tcg-virtio: host page cache (cache=writeback, io=threads) instead of direct I/O',
  },
  'kvm-virtio-writeback': {
    kind: 'ablation',
    accel: 'kvm',
    profile: 'virtio',
    diskCache: 'writeback',
    diskIo: 'threads',
    vhostNet: true,
    description: 'ablation of kvm-virtio: cache=writeback, io=threads',
  },
  'kvm-virtio-novhost': {
    kind: 'ablation',
    accel: 'kvm',
    profile: 'virtio',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: false,
    description: 'ablation of kvm-virtio: virtio-net in QEMU userspace (no vhost-net)',
  },
  container: {
    kind: 'container',
    profile: 'container',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: false,
    description:
      "a system container (systemd-nspawn): the host's kernel, no virtual hardware; fio on a file of its own layer (the host's file system through overlayfs), iperf3 and ping between two containers on a lab bridge (veth pairs)",
  },
  host: {
    kind: 'host',
    diskCache: 'none',
    diskIo: 'native',
    vhostNet: false,
    description: 'the host itself: fio on a file of the same filesystem, iperf3 between two network namespaces on a Linux bridge',
  },
};

export const DEFAULT_MATRIX = ['tcg-emulated', 'tcg-virtio', 'kvm-emulated', 'kvm-virtio', 'container', 'host', 'tcg-virtio-writeback', 'kvm-virtio-writeback', 'kvm-virtio-novhost'];
export const KNOWN_CONFIGS = Object.keys(GUESTS);

export function benchConfigs(names: string[]): BenchConfig[] {
  return names.map((name) => ({ name, ...GUESTS[name]! }));
}

/** Why a configuration cannot run on this host, or undefined when it can. */
export function refusal(c: BenchConfig, host: { auto: AutoAccel; vhostNet: boolean }): string | undefined {
  if (c.accel === 'kvm' && host.auto.accel !== 'kvm') return host.auto.reason;
  if (c.name.endsWith('-novhost') && !host.vhostNet) return 'there is no /dev/vhost-net here, so there is nothing to switch off';
  return undefined;
}

/**
 * The bench lab, for one configuration: same guests, this device model and accel, its own
 * name. As containers: the same guests without their test disk (a container has none; fio
 * runs on a file of its layer, CONTAINER_FIO_FILE) and without a size (it reserves nothing).
 */
export function labFor(model: LabModel, c: BenchConfig): LabModel {
  return {
    ...model,
    name: `bench-${c.name}`,
    vms: model.vms.map((v) =>
      c.kind === 'container' ? { ...v, kind: 'container' as const, profile: 'container', accel: 'auto' as const, disks: [], memoryBytes: 0, vcpus: 0 } : { ...v, profile: c.profile!, accel: c.accel! },
    ),
  };
}

/** Where fio writes in a container: a file of its own layer, i.e. the host's file system under overlayfs. */
export const CONTAINER_FIO_FILE = '/var/tmp/vmlab-fio.dat';
