import type { Plan } from '../plan/plan.js';
import { renderMetaData, renderNetworkConfig, renderUserData } from './cloud-init.js';
import { renderDomainXml } from './domain-xml.js';
import { renderNetworkXml } from './network-xml.js';
import { renderProbes, type VmProbe } from './probes.js';

export interface RenderedVm {
  name: string;
  domainName: string;
  /** What `up` waits for after cloud-init: the VM's services work (probes.ts). */
  probes: VmProbe[];
  /** The cloud-init seed's files only for guests vmlab provisions. */
  files: { 'domain.xml': string; 'user-data'?: string; 'meta-data'?: string; 'network-config'?: string };
}

export interface RenderedLab {
  vms: RenderedVm[];
  /** libvirt network XML by lab network name (host bridges have none). */
  networks: Array<{ name: string; libvirtName: string; xml: string }>;
}

/** Plan → every text artefact. Pure apart from reading templates. */
export function renderLab(plan: Plan): RenderedLab {
  return {
    vms: plan.vms.map((vm) => ({
      name: vm.name,
      domainName: vm.domainName,
      probes: renderProbes(plan, vm),
      files: {
        'domain.xml': renderDomainXml(plan, vm),
        ...(vm.provision === 'cloud-init' ? { 'user-data': renderUserData(plan, vm), 'meta-data': renderMetaData(vm), 'network-config': renderNetworkConfig(plan, vm) } : {}),
      },
    })),
    networks: plan.networks.flatMap((n) => {
      const xml = renderNetworkXml(plan, n);
      return xml && n.libvirtName ? [{ name: n.name, libvirtName: n.libvirtName, xml }] : [];
    }),
  };
}

export { renderDomainXml, renderNetworkXml, renderUserData, renderMetaData, renderNetworkConfig, renderProbes };
