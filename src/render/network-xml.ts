import type { NetworkPlan, Plan } from '../plan/plan.js';
import { formatIpv4 } from '../util/ipv4.js';
import { VMLAB_XMLNS } from '../lab/names.js';
import { xmlTemplate } from './engine.js';

const WHY: Record<NetworkPlan['mode'], string> = {
  isolated: 'isolated Linux bridge: a software switch joining the lab guests only; no uplink, no NAT, no route to the host network',
  nat: 'NAT network: a Linux bridge plus a host address, masquerading guest traffic to the host uplink',
  bridge: 'existing host bridge: vmlab only attaches guests to it',
};

/** The libvirt network XML of one lab network; undefined for existing host bridges (nothing to define). */
export function renderNetworkXml(plan: Plan, net: NetworkPlan): string | undefined {
  if (!net.libvirtName) return undefined;
  const ip =
    net.subnet && net.hostAddress !== undefined
      ? {
          address: formatIpv4(net.hostAddress),
          prefix: net.subnet.prefix,
          dhcp: net.dhcpRange ? { start: formatIpv4(net.dhcpRange.start), end: formatIpv4(net.dhcpRange.end) } : undefined,
        }
      : undefined;
  return xmlTemplate('network.xml.hbs')({
    ns: VMLAB_XMLNS,
    file: plan.lab.file,
    lab: plan.lab.name,
    labHash: plan.lab.fileHash,
    owner: plan.lab.owner ?? false,
    network: net.name,
    mode: net.mode,
    why: WHY[net.mode],
    libvirtName: net.libvirtName,
    nat: net.mode === 'nat',
    bridge: net.bridge,
    mtu: net.mtu ?? 0,
    ip: ip ?? false,
  });
}
