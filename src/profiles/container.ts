import type { AccelProfile, Choice } from './types.js';

/**
 * The course's third way: a system container. Not a device model (there is no
 * virtual hardware): the guest's processes run on the host's kernel, in their
 * own namespaces. Data like the device models, each choice with its "why".
 */
export interface ContainerProfile {
  name: 'container';
  summary: string;
  family: 'container';
  /** The program that runs containers on this host, behind the same port as libvirt (see README: which hosts get which). */
  runtime: Choice<'systemd-nspawn'>;
  init: Choice<string>;
  rootfs: Choice<'overlay'>;
  nic: Choice<'veth'>;
  /** How vmlab runs commands in it (there is no guest agent: nothing is virtual). */
  exec: Choice<'nsenter'>;
  /** How the image's first-boot provisioning reaches it. */
  seed: Choice<'nocloud-directory'>;
  /** The <memory> of its domain XML (MiB). */
  memoryLimit: Choice<number>;
}

export const containerProfile: ContainerProfile = {
  name: 'container',
  family: 'container',
  summary: "system container: the host's kernel, its own init and namespaces, an overlay on the image's root file system, veth pairs on the lab bridges",
  runtime: {
    value: 'systemd-nspawn',
    why: "systemd-nspawn --register=no --keep-unit: runs a whole system (its own systemd) without systemd on the host; libvirt 9.0's LXC driver cannot start containers on a hybrid cgroup v1/v2 host",
  },
  init: { value: '/sbin/init', why: "the image's own systemd as PID 1 of the container: services start as they do in the VMs" },
  rootfs: {
    value: 'overlay',
    why: "overlayfs: the image's root file system, unpacked once per image version, shared read-only; each container writes to a layer of its own",
  },
  nic: { value: 'veth', why: 'a veth pair per NIC: one end in the container (named as in the lab), the other on the lab bridge, named like a VM tap' },
  exec: { value: 'nsenter', why: "commands and checks enter the container's namespaces (nsenter): a container has no guest agent, nothing is virtual" },
  seed: { value: 'nocloud-directory', why: "cloud-init's NoCloud seed as a directory in the container's own layer: the same user-data and network-config as the VMs'" },
  memoryLimit: {
    value: 1024,
    why: "libvirt's LXC driver needs a size (a cgroup limit there); vmlab's systemd-nspawn runtime sets none: a container uses the host's memory as its processes need it, and reserves nothing",
  },
};

/** Containers are not accelerated or emulated: their code is the host kernel's own processes. */
export const nativeRun: AccelProfile = {
  name: 'native',
  domainType: 'lxc',
  summary: "native: the container's processes run on the host's kernel, nothing is translated or trapped",
  cpu: { value: { mode: 'host-passthrough' }, why: "the host's CPU itself: container processes are host processes" },
  clocksource: { value: 'guest default', why: "the host's clock: a container has no kernel of its own, and its restart from a snapshot keeps the host's time" },
};
