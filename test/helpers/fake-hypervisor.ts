import type { DomainEvent, DomainInfo, Hypervisor, NetworkInfo, SnapshotInfo } from '../../src/libvirt/types.js';

/**
 * An in-memory Hypervisor for orchestration tests: domains and networks with
 * their XML and snapshots, and a log of every mutating call. `failOn` makes a
 * call throw: return true for a generic error, or a string for libvirt's own
 * message (e.g. a real libvirt error text). It is asked on every call, so it
 * can fail the first attempt and let the second through.
 */
export class FakeHypervisor implements Hypervisor {
  readonly uri = 'fake:///';
  readonly domains = new Map<string, { xml: string; state: DomainInfo['state']; reason?: number; snapshots: SnapshotInfo[]; saved?: boolean }>();
  readonly networks = new Map<string, { xml: string; active: boolean }>();
  readonly calls: string[] = [];
  /** The host's network interfaces (name → kind): a started network makes its bridge, as libvirt does. */
  readonly links = new Map<string, string>();
  failOn?: (call: string) => boolean | string | undefined;
  private clock = 1_700_000_000;

  private act(call: string): void {
    this.calls.push(call);
    const fail = this.failOn?.(call);
    if (fail) throw new Error(typeof fail === 'string' ? fail : `fake failure: ${call}`);
  }

  private must(name: string) {
    const d = this.domains.get(name);
    if (!d) throw new Error(`no domain ${name}`);
    return d;
  }

  async version() {
    return { libvirt: '9.0.0', hypervisor: '7.2.0' };
  }
  async listDomains(): Promise<DomainInfo[]> {
    return [...this.domains].map(([name, d]) => ({ name, active: d.state === 'running' || d.state === 'paused', state: d.state, reason: d.reason ?? 0 }));
  }
  async domain(name: string) {
    return (await this.listDomains()).find((d) => d.name === name);
  }
  async defineDomain(xml: string) {
    const name = /<name>([^<]+)<\/name>/.exec(xml)![1]!;
    this.act(`define ${name}`);
    this.domains.set(name, { xml, state: 'shutoff', snapshots: this.domains.get(name)?.snapshots ?? [] });
  }
  /** A start resumes a managed save (and consumes it), as libvirt's does. */
  async startDomain(name: string) {
    this.act(`start ${name}`);
    const d = this.must(name);
    d.state = 'running';
    d.saved = false;
  }
  async startDomainPaused(name: string) {
    this.act(`start-paused ${name}`);
    const d = this.must(name);
    d.state = 'paused';
    d.saved = false;
  }
  async suspendDomain(name: string) {
    this.act(`suspend ${name}`);
    const d = this.must(name);
    if (d.state !== 'running') throw new Error('Requested operation is not valid: domain is not running');
    d.state = 'paused';
  }
  async resumeDomain(name: string) {
    this.act(`resume ${name}`);
    const d = this.must(name);
    if (d.state !== 'paused') throw new Error('Requested operation is not valid: domain is not paused');
    d.state = 'running';
  }
  /** Shaped as libvirt's: the snapshot's fields and the definitions it holds (the active and the inactive one). */
  async snapshotXml(domain: string, name: string) {
    const d = this.must(domain);
    const s = d.snapshots.find((x) => x.name === name);
    if (!s) throw new Error(`no domain snapshot with matching name '${name}'`);
    return `<domainsnapshot><name>${s.name}</name><description>${s.description ?? ''}</description><state>${s.state}</state><creationTime>${s.createdAt}</creationTime><memory snapshot='${s.memory ? 'internal' : 'no'}'/>${d.xml}<inactiveDomain>${d.xml.replace(/^<domain|<\/domain>$/g, '')}</inactiveDomain></domainsnapshot>`;
  }
  /** As libvirt's REDEFINE: the metadata of a snapshot that is in the copied disks, with the domain's own definition in it. */
  async redefineSnapshot(domain: string, xml: string) {
    const d = this.must(domain);
    const field = (k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(xml)?.[1];
    const name = field('name')!;
    this.act(`snapshot-redefine ${domain} ${name}`);
    const own = /<name>([^<]+)<\/name>/g;
    const names = [...xml.matchAll(own)].map((m) => m[1]);
    if (!names.includes(domain)) throw new Error(`invalid argument: definition for snapshot ${name} must use the domain's own definition`);
    if (xml.includes('<inactiveDomain')) throw new Error('fake: a fork must not redefine the template inactive definition');
    d.snapshots = d.snapshots.filter((x) => x.name !== name);
    d.snapshots.push({ name, createdAt: Number(field('creationTime')), state: field('state')!, memory: /<memory snapshot=['"]internal['"]/.test(xml), description: field('description') ?? '' });
  }
  async managedSave(name: string) {
    this.act(`managedsave ${name}`);
    const d = this.must(name);
    if (d.state !== 'running' && d.state !== 'paused') throw new Error(`Requested operation is not valid: domain is not running`);
    d.state = 'shutoff';
    d.saved = true;
  }
  async hasManagedSave(name: string) {
    return Boolean(this.must(name).saved);
  }
  async destroyDomain(name: string) {
    this.act(`destroy ${name}`);
    this.must(name).state = 'shutoff';
  }
  /** A fake guest powers off at once. */
  async shutdownDomain(name: string) {
    this.act(`shutdown ${name}`);
    this.must(name).state = 'shutoff';
  }
  async undefineDomain(name: string) {
    this.act(`undefine ${name}`);
    this.domains.delete(name);
  }
  async domainXml(name: string) {
    return this.must(name).xml;
  }
  async listNetworks(): Promise<NetworkInfo[]> {
    return [...this.networks].map(([name, n]) => ({ name, active: n.active }));
  }
  async network(name: string) {
    return (await this.listNetworks()).find((n) => n.name === name);
  }
  private mustNet(name: string) {
    const n = this.networks.get(name);
    if (!n) throw new Error(`no network ${name}`);
    return n;
  }
  async defineNetwork(xml: string) {
    const name = /<name>([^<]+)<\/name>/.exec(xml)![1]!;
    this.act(`net-define ${name}`);
    this.networks.set(name, { xml, active: false });
  }
  async startNetwork(name: string) {
    this.act(`net-start ${name}`);
    const n = this.mustNet(name);
    const bridge = /<bridge name='([^']+)'/.exec(n.xml)?.[1];
    // libvirt 9.0's own words when the bridge of a network it starts is already there
    if (bridge && this.links.has(bridge)) throw new Error(`libvirt (qemu:///system): error creating bridge interface ${bridge}: File exists`);
    if (bridge) this.links.set(bridge, 'bridge');
    n.active = true;
  }
  async destroyNetwork(name: string) {
    this.act(`net-destroy ${name}`);
    const n = this.mustNet(name);
    const bridge = /<bridge name='([^']+)'/.exec(n.xml)?.[1];
    if (bridge) this.links.delete(bridge);
    n.active = false;
  }
  /**
   * libvirtd killed and started again with its runtime state lost: every network inactive, every
   * domain shut off, but the host's bridges and taps left where they were.
   */
  crashDaemons(): void {
    for (const n of this.networks.values()) n.active = false;
    for (const d of this.domains.values()) d.state = 'shutoff';
  }
  async undefineNetwork(name: string) {
    this.act(`net-undefine ${name}`);
    this.mustNet(name);
    this.networks.delete(name);
  }
  async networkXml(name: string) {
    return this.mustNet(name).xml;
  }
  async listSnapshots(domain: string) {
    return [...this.must(domain).snapshots];
  }
  async createSnapshot(domain: string, name: string, description: string) {
    this.act(`snapshot-create ${domain} ${name}`);
    const d = this.must(domain);
    d.snapshots.push({ name, createdAt: this.clock++, state: d.state, memory: d.state === 'running', description });
  }
  async revertSnapshot(domain: string, name: string) {
    this.act(`snapshot-revert ${domain} ${name}`);
    const d = this.must(domain);
    const s = d.snapshots.find((x) => x.name === name);
    if (!s) throw new Error('no snapshot');
    d.state = s.state === 'running' ? 'running' : 'shutoff';
  }
  async loadSnapshotLive(domain: string, name: string) {
    this.act(`snapshot-load ${domain} ${name}`);
    const d = this.must(domain);
    if ((d.state !== 'running' && d.state !== 'paused') || !d.snapshots.some((x) => x.name === name && x.memory)) throw new Error('loadvm: not a running domain with a memory snapshot');
  }
  /** Only what vmlab updates: an interface's link state (live and definition share one XML here). */
  async updateDevice(domain: string, xml: string, scope: { live?: boolean; config?: boolean }) {
    const mac = /<mac address="([^"]+)"/.exec(xml)?.[1] ?? /<mac address='([^']+)'/.exec(xml)?.[1];
    const state = /<link state="(up|down)"/.exec(xml)?.[1];
    this.act(`update-device ${domain} ${mac} link ${state} ${[scope.live ? 'live' : '', scope.config ? 'config' : ''].filter(Boolean).join('+')}`);
    const d = this.must(domain);
    d.xml = d.xml.replace(/<interface[\s\S]*?<\/interface>/g, (block) =>
      block.includes(`'${mac}'`) || block.includes(`"${mac}"`) ? block.replace(/\s*<link state=['"](up|down)['"]\/>/, '').replace('</interface>', `<link state='${state}'/></interface>`) : block,
    );
  }
  async deleteSnapshot(domain: string, name: string) {
    this.act(`snapshot-delete ${domain} ${name}`);
    const d = this.must(domain);
    d.snapshots = d.snapshots.filter((x) => x.name !== name);
  }
  onDomainEvent(_listener: (e: DomainEvent) => void) {
    return () => undefined;
  }
  close() {}
}
