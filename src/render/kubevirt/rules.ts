import type { Plan, VmPlan } from '../../plan/plan.js';

/**
 * What KubeVirt's admission accepts, as far as vmlab's labs reach it
 * (kubevirt.io/kubevirt pkg/virt-api/webhooks/validating-webhook/admitters):
 * the interface models and disk buses it knows, the size of inline cloud-init,
 * and Kubernetes' object names.
 */
export const KUBEVIRT_RULES = {
  interfaceModels: ['e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139', 'virtio'],
  /** KubeVirt has no IDE: q35 only, disks on virtio, SATA, SCSI (or USB). */
  diskBuses: ['virtio', 'sata', 'scsi', 'usb'],
  /** cloudInitUserMaxLen and cloudInitNetworkMaxLen: inline user-data and network-data above this go into a Secret. */
  cloudInitInlineMax: 2048,
  /** DNS-1123 label: namespaces, VM names, interface and network names used as object names. */
  label: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  labelMax: 63,
} as const;

/** Why a lab (a student's copy) cannot become KubeVirt objects: every reason, each with what to change. */
export function kubevirtProblems(plan: Plan): string[] {
  const out: string[] = [];
  const ns = namespaceOf(plan);
  if (!KUBEVIRT_RULES.label.test(ns) || ns.length > KUBEVIRT_RULES.labelMax) out.push(`namespace "${ns}" is not a Kubernetes name (lowercase letters, digits and "-", at most 63): rename the lab`);
  for (const n of plan.networks) {
    if (n.mode === 'bridge') out.push(`network ${n.name}: an existing host bridge (${n.bridge}) is this host's, not a cluster node's: use an isolated network`);
    if (n.mode === 'nat') out.push(`network ${n.name}: NAT through the host has no KubeVirt equivalent here (the pod network would be the way out): use an isolated network`);
    if (!KUBEVIRT_RULES.label.test(n.name)) out.push(`network ${n.name}: not a Kubernetes name (lowercase letters, digits and "-"): rename it`);
  }
  for (const vm of plan.vms) out.push(...vmProblems(vm).map((p) => `${vm.name}: ${p}`));
  return out;
}

function vmProblems(vm: VmPlan): string[] {
  const out: string[] = [];
  if (vm.profile.family === 'container') return ['a container is not a KubeVirt VM (a Pod would be its equivalent, which vmlab does not render): use kind: vm'];
  const p = vm.profile;
  if (!KUBEVIRT_RULES.label.test(vm.name)) out.push('its name is not a Kubernetes name (lowercase letters, digits and "-"): rename it');
  if (p.machine.value !== 'q35') out.push(`profile ${p.name} is a ${p.machine.value} machine with IDE; KubeVirt has q35 only and no IDE: use profile emulated (SATA, e1000)`);
  for (const d of vm.disks) {
    if (!(KUBEVIRT_RULES.diskBuses as readonly string[]).includes(d.bus)) out.push(`disk ${d.dev} on ${d.bus}: KubeVirt has no ${d.bus.toUpperCase()} bus: use sata or virtio`);
    if (d.role === 'data' && d.format === 'raw') out.push(`disk ${d.dev} is raw: KubeVirt makes empty disks itself (emptyDisk, a qcow2 overlay on the node): remove format: raw`);
    if (d.role === 'media') out.push('install media (cdrom:) would need a DataVolume or a container disk of its own: not rendered for KubeVirt; install once, vmlab image capture, and use the image');
  }
  if (vm.provision === 'none') out.push('provision: none guests are installed from media here: capture the installed VM as an image first');
  for (const n of vm.nics) {
    if (!(KUBEVIRT_RULES.interfaceModels as readonly string[]).includes(n.model)) out.push(`NIC ${n.ifname}: KubeVirt has no ${n.model} model`);
    const { state: _state, ...impairment } = n.link;
    if (Object.values(impairment).some((v) => v !== undefined))
      out.push(`NIC ${n.ifname}: link impairment (delay, loss, rate) is tc on this host's taps; KubeVirt has no equivalent: remove link: from the lab for this target`);
  }
  return out;
}

/** A lab copy's namespace: `vmlab-<lab>` (a student's copy is named `<lab>-<student>`). */
export function namespaceOf(plan: Plan): string {
  return `vmlab-${plan.lab.name}`;
}
