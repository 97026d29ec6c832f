import { join } from 'node:path';
import { GuestAgent, type GuestChannel } from '../guest/agent.js';
import { GuestsHypervisor } from '../container/routing-hypervisor.js';
import { CONTAINER_ENV, containerEntry } from '../container/nsenter-guest.js';
import { SocketTransport } from '../guest/socket-transport.js';
import { ReconnectingTransport } from '../guest/reconnecting-transport.js';
import { VirshTransport } from '../guest/virsh-transport.js';
import { VmlabError } from '../errors.js';
import { ImageStore } from '../host/image-store.js';
import { hostTcpProbe, type TcpProbe } from '../host/tcp-probe.js';
import { hostTrafficControl, type TrafficControl } from '../host/traffic-control.js';
import { hostKvm } from '../host/accel-probe.js';
import { hostLinks, type HostLinks } from '../host/host-net.js';
import type { AutoAccel } from '../plan/plan.js';
import type { HostPaths } from '../paths.js';
import type { Hypervisor } from '../libvirt/types.js';
import { parseDomainXml } from './metadata.js';
import { reconnectDeadline } from './resumed.js';

/** Everything lab operations need from the host, behind small interfaces. */
export interface LabRuntime {
  hypervisor: Hypervisor;
  paths: HostPaths;
  /** The image cache: the file a lab's linked clones are made from (ImageStore on the host). */
  images: Pick<ImageStore, 'resolve'>;
  /** Impairment on the host side of VMs' taps (tc where libvirtd runs). */
  tc: TrafficControl;
  /** Whether a guest's TCP port answers the host (nc where libvirtd runs). */
  tcp: TcpProbe;
  /** The way into a running guest: its guest agent on whichever channel its XML declares, or nsenter into a container. */
  agentFor(domain: string, vmName: string): Promise<GuestChannel>;
  /** The host's network interfaces where libvirtd runs: to find and remove what a crash left (leftovers.ts). */
  links: HostLinks;
  /** What KVM is on this host (none, unusable, working), probed once: asked before a VM with accel: kvm is created. */
  hostKvm(): Promise<AutoAccel>;
  /** For a running container: the command that enters it with an interactive root shell (it has no serial line). */
  containerShell(domain: string): Promise<string[] | undefined>;
}

/** A libvirt URI without a host part (qemu:///system): libvirtd runs here. */
export function localUri(uri: string): boolean {
  return /^[a-z0-9+]+:\/\/\//i.test(uri);
}

/** No host links to look at or remove (a remote libvirtd). */
const noLinks: HostLinks = { list: async () => [], remove: async () => undefined };

/** The host's runtime: libvirt for VMs, with vmlab's container runtime beside it behind the same port. */
export function createRuntime(libvirt: Hypervisor, paths: HostPaths): LabRuntime {
  const hypervisor = new GuestsHypervisor(libvirt, paths);
  return {
    hypervisor,
    paths,
    images: new ImageStore(join(paths.dataDir, 'images')),
    tc: hostTrafficControl,
    tcp: hostTcpProbe,
    hostKvm,
    // Only where libvirtd runs on this host: with a remote URI the host's links are another machine's.
    links: localUri(libvirt.uri) ? hostLinks : noLinks,
    async containerShell(domain) {
      if (!hypervisor.containers.has(domain)) return undefined;
      return [
        ...(await containerEntry(await hypervisor.containers.leader(domain))),
        '/usr/bin/env',
        '-i',
        ...CONTAINER_ENV.filter((e) => !e.startsWith('TERM=')),
        `TERM=${process.env.TERM ?? 'vt100'}`,
        '/bin/bash',
        '--login',
      ];
    },
    async agentFor(domain, vmName) {
      if (hypervisor.containers.has(domain)) return hypervisor.containers.guest(domain, vmName);
      const parsed = await parseDomainXml(await hypervisor.domainXml(domain));
      if (parsed.agent?.kind === 'virtio') {
        const transport = new VirshTransport(hypervisor.uri, domain, vmName);
        const until = reconnectDeadline(paths.runDir, domain);
        return new GuestAgent(until ? new ReconnectingTransport(transport, until) : transport, vmName);
      }
      if (parsed.agent?.kind === 'serial-socket' && parsed.agent.socketPath) return new GuestAgent(new SocketTransport(parsed.agent.socketPath, vmName), vmName);
      if (parsed.meta?.provision === 'none') {
        throw new VmlabError('ERR_VMLAB_NO_AGENT', `${vmName} has no guest agent: its lab says provision: none (an OS vmlab does not provision), so vmlab cannot run commands or checks in it`, {
          kind: 'user',
          hint: `use its serial console: vmlab console LAB ${vmName}`,
        });
      }
      throw new VmlabError('ERR_VMLAB_NO_AGENT', `${domain} has no guest agent channel`, { hint: 'vmlab domains have one; was it defined by hand?' });
    },
  };
}
