import type { Plan, VmPlan } from '../plan/plan.js';
import { nicFields, vmlabMetadata } from './domain-fields.js';
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
    ...vmlabMetadata(plan, vm),
    hostname: vm.hostname,
    title: `${plan.lab.name}/${vm.name} (container)`,
    profile: vm.profile,
    init: vm.profile.init.value,
    root: c.root,
    lower: c.lower,
    upper: c.upper,
    work: c.work,
    nics: vm.nics.map((n) => ({ ...nicFields(n), ifname: n.ifname })),
    consoleLog: vm.consoleLog,
  });
}
