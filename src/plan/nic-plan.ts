import { LINK_UP } from '../lab/link.js';
import type { NicSpec } from '../lab/model.js';
import { macFor, tapNameFor } from '../lab/names.js';
import type { NetworkPlan, NicPlan } from './plan.js';

/** What a NIC is whatever carries it (an emulated or virtio card, a veth pair): its network, names, MAC and addresses. */
export function planNic(lab: string, vm: string, n: NicSpec, index: number, net: NetworkPlan): Omit<NicPlan, 'model' | 'vhost' | 'why'> {
  return {
    index,
    network: n.network,
    source: net.libvirtName ? { kind: 'network', name: net.libvirtName } : { kind: 'bridge', name: net.bridge },
    bridge: net.bridge,
    tap: tapNameFor(lab, vm, index),
    mac: n.mac ?? macFor(lab, vm, index),
    ifname: n.ifname,
    address: n.address,
    ...(n.gateway !== undefined ? { gateway: n.gateway } : {}),
    nameservers: n.nameservers,
    link: n.link ?? LINK_UP,
  };
}
