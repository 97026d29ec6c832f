import type { NicPlan, Plan, VmPlan } from '../plan/plan.js';
import { VMLAB_XMLNS } from '../lab/names.js';

/** What vmlab writes into every domain's <metadata> (and its name and description): how vmlab finds it again. */
export function vmlabMetadata(plan: Plan, vm: VmPlan) {
  return {
    ns: VMLAB_XMLNS,
    file: plan.lab.file,
    lab: plan.lab.name,
    labHash: plan.lab.fileHash,
    owner: plan.lab.owner ?? false,
    vmHash: vm.hash,
    name: vm.name,
    template: vm.template,
    domainName: vm.domainName,
    description: vm.description ?? '',
    accel: vm.accel,
    accelRequested: vm.accelRequested,
  };
}

/** A NIC as both domain templates (VM and container) write it. */
export function nicFields(n: NicPlan) {
  return {
    index: n.index,
    network: n.network,
    why: n.why,
    sourceKind: n.source.kind,
    sourceName: n.source.name,
    mac: n.mac,
    tap: n.tap,
    linkDown: n.link.state === 'down',
  };
}
