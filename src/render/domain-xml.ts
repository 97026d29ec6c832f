import type { Plan, VmPlan } from '../plan/plan.js';
import { VMLAB_XMLNS } from '../lab/names.js';
import { renderContainerXml } from './container-xml.js';
import { xmlTemplate } from './engine.js';

/** The libvirt domain XML of one VM. */
export function renderDomainXml(plan: Plan, vm: VmPlan): string {
  const profile = vm.profile;
  if (profile.family === 'container') return renderContainerXml(plan, vm);
  return xmlTemplate('domain.xml.hbs')({
    ns: VMLAB_XMLNS,
    file: plan.lab.file,
    lab: plan.lab.name,
    labHash: plan.lab.fileHash,
    owner: plan.lab.owner ?? false,
    vmHash: vm.hash,
    name: vm.name,
    template: vm.template,
    domainName: vm.domainName,
    title: `${plan.lab.name}/${vm.name} (${vm.profile.name}, ${vm.accel.name})`,
    description: vm.description ?? '',
    profile,
    accel: vm.accel,
    accelRequested: vm.accelRequested,
    accelReason: vm.accelReason,
    hostPassthrough: vm.accel.cpu.value.mode === 'host-passthrough',
    memoryMiB: vm.memoryMiB,
    vcpus: vm.vcpus,
    iothreads: vm.disks.some((d) => d.iothread !== undefined) ? 1 : 0,
    iothreadWhy: profile.iothread.why,
    disks: vm.disks.map((d) => ({
      role: d.role,
      why: d.why,
      device: d.device,
      format: d.format,
      cache: d.cache ?? '',
      io: d.io ?? '',
      iothread: d.iothread ?? 0,
      discard: d.discard,
      path: d.path,
      dev: d.dev,
      bus: d.bus,
      readonly: d.readonly,
      bootOrder: d.bootOrder ?? 0,
    })),
    nics: vm.nics.map((n) => ({
      index: n.index,
      network: n.network,
      why: n.why,
      sourceKind: n.source.kind,
      sourceName: n.source.name,
      mac: n.mac,
      model: n.model,
      vhost: n.vhost,
      tap: n.tap,
      linkDown: n.link.state === 'down',
    })),
    consoleLog: vm.consoleLog,
    agentSocket: vm.agent.socketPath ?? '',
    hasAgent: vm.agent.transport !== 'none',
    provisionNone: vm.provision === 'none',
  });
}
