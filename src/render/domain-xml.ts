import type { Plan, VmPlan } from '../plan/plan.js';
import { renderContainerXml } from './container-xml.js';
import { xmlTemplate } from './engine.js';
import { nicFields, vmlabMetadata } from './domain-fields.js';

/** The libvirt domain XML of one VM. */
export function renderDomainXml(plan: Plan, vm: VmPlan): string {
  const profile = vm.profile;
  if (profile.family === 'container') return renderContainerXml(plan, vm);
  return xmlTemplate('domain.xml.hbs')({
    ...vmlabMetadata(plan, vm),
    title: `${plan.lab.name}/${vm.name} (${vm.profile.name}, ${vm.accel.name})`,
    profile,
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
    nics: vm.nics.map((n) => ({ ...nicFields(n), model: n.model, vhost: n.vhost })),
    consoleLog: vm.consoleLog,
    agentSocket: vm.agent.socketPath ?? '',
    hasAgent: vm.agent.transport !== 'none',
    provisionNone: vm.provision === 'none',
  });
}
