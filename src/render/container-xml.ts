import type { Plan, VmPlan } from '../plan/plan.js';
import { VMLAB_XMLNS } from '../lab/names.js';
import { xmlTemplate } from './engine.js';

/**
 * The libvirt domain XML (type lxc) of one container: what libvirt's LXC
 * driver takes, and what vmlab's systemd-nspawn runtime reads (the overlay
 * in vmlab's <vmlab:container> metadata).
 */
export function renderContainerXml(plan: Plan, vm: VmPlan): string {
  const c = vm.container;
  if (!c || vm.profile.family !== 'container') throw new Error(`${vm.name} is not a container`);
  return xmlTemplate('container.xml.hbs')({
    ns: VMLAB_XMLNS,
    file: plan.lab.file,
    lab: plan.lab.name,
    labHash: plan.lab.fileHash,
    owner: plan.lab.owner ?? false,
    vmHash: vm.hash,
    name: vm.name,
    hostname: vm.hostname,
    template: vm.template,
    domainName: vm.domainName,
    title: `${plan.lab.name}/${vm.name} (container)`,
    description: vm.description ?? '',
    profile: vm.profile,
    accel: vm.accel,
    accelRequested: vm.accelRequested,
    init: vm.profile.init.value,
    root: c.root,
    lower: c.lower,
    upper: c.upper,
    work: c.work,
    nics: vm.nics.map((n) => ({
      index: n.index,
      network: n.network,
      why: n.why,
      sourceKind: n.source.kind,
      sourceName: n.source.name,
      mac: n.mac,
      tap: n.tap,
      ifname: n.ifname,
      linkDown: n.link.state === 'down',
    })),
    consoleLog: vm.consoleLog,
  });
}
