import type { AccelRequest, DiskBus, NicModel } from '../profiles/types.js';
import type { Cidr } from '../util/ipv4.js';
import type { LinkSpec } from './link.js';
import type { BootSpec, TcpReady } from './validate-boot.js';
import type { ReadyProbe } from './ready.js';

/** A validated lab with defaults applied and `count` expanded. Pure data. */
export interface LabModel {
  name: string;
  description?: string;
  /** DNS domain of the lab's hosts (default `<name>.lab`). */
  domain: string;
  file: string;
  /** sha256 of the lab file's bytes. */
  fileHash: string;
  networks: NetworkModel[];
  vms: VmModel[];
  /** Set on a student's copy of a lab in a class (plan/class-plan.ts): who it belongs to. */
  owner?: LabOwner;
}

export interface LabOwner {
  class: string;
  student: string;
}

export type NetworkMode = 'isolated' | 'bridge' | 'nat';

export interface NetworkModel {
  name: string;
  mode: NetworkMode;
  /** Existing host bridge (mode `bridge`). */
  hostBridge?: string;
  subnet?: Cidr;
  /** Host-side address on the bridge (nat: the guests' gateway). */
  hostAddress?: number;
  /** libvirt DHCP range (nat networks only; lab DHCP servers are services). */
  dhcpRange?: { start: number; end: number };
  mtu?: number;
}

export interface DiskModel {
  sizeBytes: number;
  bus?: DiskBus;
  format: 'qcow2' | 'raw';
}

export type NicAddress = { kind: 'static'; cidr: Cidr } | { kind: 'dhcp' } | { kind: 'none' };

export interface NicSpec {
  network: string;
  address: NicAddress;
  gateway?: number;
  nameservers: number[];
  mac?: string;
  model?: NicModel;
  /** Interface name inside the guest (set by cloud-init), default eth<index>. */
  ifname: string;
  /** The link's state and impairment from the lab file (default: up, none). */
  link?: LinkSpec;
}

export interface UserSpec {
  name: string;
  sshAuthorizedKeys: string[];
  hashedPasswd?: string;
  sudo: boolean;
  groups: string[];
  shell?: string;
}

export interface WriteFileSpec {
  path: string;
  content: string;
  permissions?: string;
  owner?: string;
}

export type Command = string | string[];

export interface CloudInitSpec {
  users: UserSpec[];
  packages: string[];
  writeFiles: WriteFileSpec[];
  runcmd: Command[];
  bootcmd: Command[];
}

export interface ServiceUse {
  name: string;
  params: Record<string, unknown>;
  /** Where in the lab this came from, for errors in later stages. */
  path: string;
}

export interface VmModel {
  name: string;
  /** vm: a virtual machine; container: a system container on the host's kernel (validate-container.ts). */
  kind: 'vm' | 'container';
  /** The key under `vms:`; differs from `name` for `count` copies (student → student1). */
  template: string;
  /** 1-based copy number for `count` copies. */
  copy?: number;
  description?: string;
  /** The image its system disk is a linked clone of; none for a guest installed from media onto empty disks. */
  image?: string;
  /** How it boots and whether vmlab provisions it (validate-boot.ts). */
  boot: BootSpec;
  memoryBytes: number;
  vcpus: number;
  profile: string;
  accel: AccelRequest;
  disks: DiskModel[];
  nics: NicSpec[];
  cloudInit: CloudInitSpec;
  services: ServiceUse[];
  /** The lab's own readiness probes for this VM, besides its services' (ready.ts). */
  ready: ReadyProbe[];
  /** provision none: ready when this port answers the host (validate-boot.ts). */
  tcpReady?: TcpReady;
}
