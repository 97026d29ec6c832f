import type { Checker } from './checker.js';
import type { RawVm } from './raw.js';
import type { PathSeg } from './source.js';

/**
 * What a system container cannot have, with why: it is not a virtual machine,
 * so nothing about virtual hardware applies. Refused, never ignored.
 */
const VM_ONLY: Array<[keyof RawVm, string, string]> = [
  ['profile', 'a container has no device model: there is no virtual hardware, its processes run on the host kernel', 'remove it; to compare device models, use kind: vm'],
  ['accel', 'a container is neither accelerated nor emulated: its code runs natively on the host kernel', 'remove it'],
  ['disks', 'a container has no disks of its own: its files live in a layer over the image', 'remove it, or use kind: vm for a guest with extra disks'],
  ['cdrom', 'a container boots no install media: it runs the image as its root file system', 'use kind: vm with profile emulated for install media'],
  ['boot', 'a container does not boot from a device: its init starts in the image', 'remove it'],
  ['provision', 'a container is provisioned by cloud-init from a seed directory, or not at all when its image has no cloud-init', 'remove it'],
  ['memory', "this container runtime sets no memory size: a container uses the host's memory as its processes need it", 'remove it'],
  ['vcpus', "a container has no virtual CPUs: its processes share the host's CPUs", 'remove it'],
];

export function refuseVmOnly(c: Checker, segs: PathSeg[], o: RawVm): void {
  for (const [key, why, hint] of VM_ONLY) if (o[key] !== undefined && o[key] !== null) c.fail([...segs, key], why, { atKey: true, hint });
  (o.nics ?? []).forEach((n, i) => {
    if (n?.model !== undefined) c.fail([...segs, 'nics', i, 'model'], 'a container NIC is one end of a veth pair, not an emulated or virtio card', { atKey: true, hint: 'remove it' });
  });
  const ready = o.ready as { console?: unknown } | undefined;
  if (ready && typeof ready === 'object' && !Array.isArray(ready) && 'console' in ready) {
    c.fail([...segs, 'ready', 'console'], 'a container has no serial console: its readiness is its services and probes', { atKey: true, hint: 'use command probes (run:)' });
  }
}
