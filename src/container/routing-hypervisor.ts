import { VmlabError } from '../errors.js';
import { readNetworkXml } from '../libvirt/xml-read.js';
import type { DomainEvent, DomainInfo, Hypervisor, NetworkInfo, SnapshotInfo } from '../libvirt/types.js';
import type { HostPaths } from '../paths.js';
import { NspawnContainers } from './nspawn.js';

/**
 * One port for every guest of a lab: VMs go to libvirt, containers (domains of
 * type lxc) to vmlab's systemd-nspawn runtime, which holds them as libvirt
 * would. Networks are libvirt's; containers join their bridges. Lab
 * operations do not know which guest is which, except where the guest itself
 * differs (its way in: agent or nsenter).
 */
export class GuestsHypervisor implements Hypervisor {
  readonly uri: string;
  readonly containers: NspawnContainers;

  constructor(
    private readonly vms: Hypervisor,
    paths: HostPaths,
  ) {
    this.uri = vms.uri;
    this.containers = new NspawnContainers(paths, {
      bridgeOf: async (s) => s.bridge ?? (await readNetworkXml(await vms.networkXml(s.network!))).bridge!,
    });
  }

  private of(name: string): Pick<Hypervisor, 'domain' | 'startDomain' | 'destroyDomain' | 'shutdownDomain' | 'undefineDomain' | 'domainXml' | 'updateDevice'> {
    return this.containers.has(name) ? this.containers : this.vms;
  }

  version(): Promise<{ libvirt: string; hypervisor: string }> {
    return this.vms.version();
  }
  async listDomains(): Promise<DomainInfo[]> {
    return [...(await this.vms.listDomains()), ...(await this.containers.listDomains())];
  }
  domain(name: string): Promise<DomainInfo | undefined> {
    return this.of(name).domain(name);
  }
  defineDomain(xml: string): Promise<void> {
    return NspawnContainers.isContainerXml(xml) ? this.containers.defineDomain(xml) : this.vms.defineDomain(xml);
  }
  startDomain(name: string): Promise<void> {
    return this.of(name).startDomain(name);
  }
  destroyDomain(name: string): Promise<void> {
    return this.of(name).destroyDomain(name);
  }
  shutdownDomain(name: string): Promise<void> {
    return this.of(name).shutdownDomain(name);
  }
  undefineDomain(name: string): Promise<void> {
    return this.of(name).undefineDomain(name);
  }
  domainXml(name: string, inactive?: boolean): Promise<string> {
    return this.of(name).domainXml(name, inactive);
  }
  updateDevice(domain: string, xml: string, scope: { live?: boolean; config?: boolean }): Promise<void> {
    return this.of(domain).updateDevice(domain, xml, scope);
  }
  listSnapshots(domain: string): Promise<SnapshotInfo[]> {
    return this.containers.has(domain) ? this.containers.listSnapshots(domain) : this.vms.listSnapshots(domain);
  }
  createSnapshot(domain: string, name: string, description: string): Promise<void> {
    return this.containers.has(domain) ? this.containers.snapshots.create(domain, name, description) : this.vms.createSnapshot(domain, name, description);
  }
  revertSnapshot(domain: string, name: string): Promise<void> {
    return this.containers.has(domain) ? this.containers.snapshots.revert(domain, name) : this.vms.revertSnapshot(domain, name);
  }
  /** A container has no memory to load: its revert is a restart from the saved file system (container/snapshots.ts). */
  loadSnapshotLive(domain: string, name: string): Promise<void> {
    return this.containers.has(domain) ? this.containers.snapshots.revert(domain, name) : this.vms.loadSnapshotLive(domain, name);
  }
  async deleteSnapshot(domain: string, name: string): Promise<void> {
    if (this.containers.has(domain)) this.containers.snapshots.delete(domain, name);
    else await this.vms.deleteSnapshot(domain, name);
  }
  listNetworks(): Promise<NetworkInfo[]> {
    return this.vms.listNetworks();
  }
  network(name: string): Promise<NetworkInfo | undefined> {
    return this.vms.network(name);
  }
  defineNetwork(xml: string): Promise<void> {
    return this.vms.defineNetwork(xml);
  }
  startNetwork(name: string): Promise<void> {
    return this.vms.startNetwork(name);
  }
  destroyNetwork(name: string): Promise<void> {
    return this.vms.destroyNetwork(name);
  }
  undefineNetwork(name: string): Promise<void> {
    return this.vms.undefineNetwork(name);
  }
  networkXml(name: string): Promise<string> {
    return this.vms.networkXml(name);
  }
  /** Forks (lab-ops/fork.ts) and pauses are of VMs: a container has no memory state to load or stop. */
  async startDomainPaused(name: string): Promise<void> {
    return this.vmOnly(name, 'start paused').startDomainPaused(name);
  }
  async suspendDomain(name: string): Promise<void> {
    return this.vmOnly(name, 'pause').suspendDomain(name);
  }
  async resumeDomain(name: string): Promise<void> {
    return this.vmOnly(name, 'resume').resumeDomain(name);
  }
  async snapshotXml(domain: string, name: string): Promise<string> {
    return this.vmOnly(domain, 'dump a snapshot of').snapshotXml(domain, name);
  }
  async redefineSnapshot(domain: string, xml: string): Promise<void> {
    return this.vmOnly(domain, 'redefine a snapshot of').redefineSnapshot(domain, xml);
  }
  private vmOnly(name: string, what: string): Hypervisor {
    if (this.containers.has(name)) throw new VmlabError('ERR_VMLAB_CONTAINER_UNSUPPORTED', `cannot ${what} ${name}: it is a container (no memory state)`);
    return this.vms;
  }
  /** A container has no memory image to keep: it is stopped (its state is its file system; the next start boots it). */
  managedSave(name: string): Promise<void> {
    return this.containers.has(name) ? this.containers.destroyDomain(name) : this.vms.managedSave(name);
  }
  hasManagedSave(name: string): Promise<boolean> {
    return this.containers.has(name) ? Promise.resolve(false) : this.vms.hasManagedSave(name);
  }
  /** libvirt's lifecycle events; containers have none (readiness polls their state). */
  onDomainEvent(listener: (e: DomainEvent) => void): () => void {
    return this.vms.onDomainEvent(listener);
  }
  close(): void {
    this.vms.close();
  }
}
