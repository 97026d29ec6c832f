import { basename, join } from 'node:path';
import type { LabModel, VmModel } from '../lab/model.js';
import { domainName } from '../lab/names.js';
import { containerProfile, nativeRun } from '../profiles/container.js';
import { sha256Hex, stableStringify } from '../util/hash.js';
import { planNic } from './nic-plan.js';
import type { NetworkPlan, PlanOptions, VmPlan } from './plan.js';

/** Where a container's files are: the shared image tree, its own layer, and the overlay of both. */
export interface ContainerPaths {
  /** The image version the lower layer is unpacked from (resolved as for a VM's backing file). */
  imageFile: string;
  /** The image's root file system, unpacked once per image version (read-only, shared by every container of it). */
  lower: string;
  /** This container's writable layer, and overlayfs's work directory next to it. */
  upper: string;
  work: string;
  /** Where the overlay is mounted: the container's root. */
  root: string;
  /** cloud-init's NoCloud seed, a directory in the container's own layer. */
  seedDir: string;
}

/** The folder a version of an image is unpacked into (`debian-12@<version>`), from the file its VMs are cloned from. */
export function rootfsDir(dataDir: string, imageFile: string): string {
  return join(dataDir, 'rootfs', basename(imageFile).replace(/\.qcow2$/, ''));
}

/** A container of the lab: no disks, no device model, no agent; the same NICs, cloud-init and services as a VM. */
export function planContainer(lab: LabModel, vm: VmModel, labDir: string, networks: Map<string, NetworkPlan>, opts: PlanOptions): VmPlan {
  const dir = join(labDir, vm.name);
  const dn = domainName(lab.name, vm.name);
  const image = vm.image!;
  const upper = join(dir, 'upper');
  const body = {
    name: vm.name,
    kind: 'container' as const,
    template: vm.template,
    domainName: dn,
    hostname: vm.name,
    fqdn: `${vm.name}.${lab.domain}`,
    ...(vm.description !== undefined ? { description: vm.description } : {}),
    profile: containerProfile,
    accel: nativeRun,
    accelRequested: 'auto' as const,
    accelReason: "a container: its processes run on the host's kernel",
    memoryMiB: 0,
    vcpus: 0,
    image: { name: image, path: join(opts.paths.dataDir, 'images', `${image}.qcow2`) },
    provision: 'cloud-init' as const,
    dir,
    disks: [],
    nics: vm.nics.map((n, i) => ({ ...planNic(lab.name, vm.name, n, i, networks.get(n.network)!), model: 'veth' as const, vhost: false, why: containerProfile.nic.why })),
    agent: { transport: 'nsenter' as const },
    container: {
      imageFile: join(opts.paths.dataDir, 'images', `${image}.qcow2`),
      lower: rootfsDir(opts.paths.dataDir, `${image}.qcow2`),
      upper,
      work: join(dir, 'work'),
      root: join(dir, 'root'),
      seedDir: join(upper, 'var/lib/cloud/seed/nocloud'),
    },
    consoleLog: join(dir, 'console.log'),
    cloudInit: vm.cloudInit,
    services: vm.services,
  };
  // As for VMs: the image version and the links are not what the container is.
  const hash = sha256Hex(stableStringify({ ...body, container: { ...body.container, imageFile: undefined, lower: undefined }, nics: body.nics.map(({ link: _link, ...n }) => n) })).slice(0, 16);
  const resolved = opts.imageFiles?.[image];
  if (resolved) Object.assign(body.container, { imageFile: resolved, lower: rootfsDir(opts.paths.dataDir, resolved) });
  return { ...body, ready: vm.ready, hash, instanceId: `${dn}-${hash.slice(0, 12)}` };
}
