import { execa } from 'execa';
import dbus from 'dbus-next';
import { VmlabError } from '../errors.js';
import { readSnapshotXml, snapshotXml as newSnapshotXml } from './xml-read.js';
import {
  AFFECT_CONFIG,
  AFFECT_LIVE,
  DOMAIN_XML_INACTIVE,
  NONE,
  SNAPSHOT_CREATE_ATOMIC,
  SNAPSHOT_CREATE_REDEFINE,
  START_PAUSED,
  UNDEFINE_MANAGED_SAVE,
  UNDEFINE_NVRAM,
  UNDEFINE_SNAPSHOTS_METADATA,
} from './flags.js';
import { DOMAIN_EVENTS, DOMAIN_STATES, type DomainEvent, type DomainInfo, type Hypervisor, type NetworkInfo, type SnapshotInfo } from './types.js';

const BUS_NAME = 'org.libvirt';

/** libvirt URI → (bus, object path) of libvirt-dbus. */
export function dbusTarget(uri: string): { bus: 'system' | 'session'; path: string } {
  const m = /^([a-z]+):\/\/\/(system|session|default)$/.exec(uri);
  const drivers: Record<string, string> = { qemu: 'QEMU', test: 'Test', lxc: 'LXC', xen: 'Xen', vbox: 'VBox', ch: 'CH' };
  if (!m || !drivers[m[1]!]) {
    throw new VmlabError('ERR_VMLAB_URI_UNSUPPORTED', `libvirt-dbus cannot reach "${uri}"`, {
      kind: 'user',
      hint: 'libvirt-dbus serves local drivers only: use qemu:///system (or set LIBVIRT_DEFAULT_URI)',
    });
  }
  return { bus: m[2] === 'session' ? 'session' : 'system', path: `/org/libvirt/${drivers[m[1]!]}` };
}

export function defaultUri(explicit?: string): string {
  return explicit ?? process.env.VMLAB_CONNECT ?? process.env.LIBVIRT_DEFAULT_URI ?? 'qemu:///system';
}

type Iface = dbus.ClientInterface & Record<string, (...args: unknown[]) => Promise<unknown>>;

function isNotFound(e: unknown): boolean {
  const text = String((e as { text?: string }).text ?? (e as Error).message ?? '');
  return /not found|no (domain|network) with matching/i.test(text);
}

function unreachable(e: unknown, uri: string): VmlabError {
  const type = String((e as { type?: string }).type ?? '');
  const text = String((e as { text?: string }).text ?? (e as Error).message ?? e);
  if (/ENOENT|ECONNREFUSED/.test(text) && /bus|socket/i.test(text + type)) {
    return new VmlabError('ERR_VMLAB_DBUS_DOWN', `the D-Bus system bus is not running (${text})`, { hint: 'start it: systemctl start dbus (without systemd: dbus-daemon --system --fork)', cause: e });
  }
  if (/ServiceUnknown|NameHasNoOwner|Spawn/.test(type + text)) {
    return new VmlabError('ERR_VMLAB_LIBVIRT_DBUS_DOWN', `libvirt-dbus is not available on the system bus (${text})`, {
      hint: 'apt-get install libvirt-dbus (the system bus starts it on first use), and start libvirtd: systemctl start libvirtd (without systemd: libvirtd -d)',
      cause: e,
    });
  }
  if (/Failed to connect socket|libvirt-sock|Cannot recv data|connect to the hypervisor/i.test(text)) {
    return new VmlabError('ERR_VMLAB_LIBVIRTD_DOWN', `libvirtd is not running for ${uri} (${text})`, {
      hint: 'start it: systemctl start libvirtd (without systemd: virtlogd -d; libvirtd -d)',
      cause: e,
    });
  }
  // libvirt keeps the MACs of a network with an address there, but makes the folder only when it starts dnsmasq (a network with DHCP or DNS).
  const macs = /Failed to create file '(\/[^']*\/dnsmasq)\/[^']*\.macs\.new'/.exec(text);
  if (macs) {
    return new VmlabError('ERR_VMLAB_LIBVIRT', `libvirt (${uri}): ${text}`, {
      hint: `create the folder libvirt expects: mkdir -p ${macs[1]} (libvirt makes it only once it has started dnsmasq for some network)`,
      cause: e,
    });
  }
  return new VmlabError('ERR_VMLAB_LIBVIRT', `libvirt (${uri}): ${text}`, { cause: e });
}

/** libvirt through libvirt-dbus: the same binding Cockpit's VM pages use. */
/** How long opening the connection may take: libvirt-dbus is D-Bus activated, and libvirtd may be starting. */
const OPEN_TIMEOUT_MS = 60_000;

export class DbusHypervisor implements Hypervisor {
  private readonly proxies = new Map<string, Promise<dbus.ProxyObject>>();
  private connect?: Iface;

  private constructor(
    readonly uri: string,
    private readonly bus: dbus.MessageBus,
    private readonly root: string,
  ) {}

  /** Connects, or says why not (no bus, no libvirt-dbus, no libvirtd) within OPEN_TIMEOUT_MS. */
  static async open(uri = defaultUri()): Promise<DbusHypervisor> {
    const target = dbusTarget(uri);
    let bus: dbus.MessageBus;
    try {
      bus = target.bus === 'system' ? dbus.systemBus() : dbus.sessionBus();
    } catch (e) {
      throw unreachable(e, uri);
    }
    // dbus-next reports a missing bus socket as an 'error' event, and the calls waiting on that
    // connection then never settle: the event ends the wait (as does a bus that never answers).
    const busErrors: unknown[] = [];
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      bus.on('error', (e: unknown) => {
        busErrors.push(e);
        reject(e);
      });
      timer = setTimeout(() => reject(new Error(`no answer on the ${target.bus} bus within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
    });
    failed.catch(() => undefined);
    const h = new DbusHypervisor(uri, bus, target.path);
    try {
      await Promise.race([
        (async () => {
          h.connect = (await h.iface(target.path, 'org.libvirt.Connect')) as Iface;
          await h.connect.ListDomains!(NONE); // cheap; GetCapabilities takes seconds
        })(),
        failed,
      ]);
    } catch (e) {
      h.close();
      throw unreachable(busErrors[0] ?? e, uri);
    } finally {
      clearTimeout(timer);
    }
    return h;
  }

  private async iface(path: string, name: string): Promise<Iface> {
    let p = this.proxies.get(path);
    if (!p) {
      p = this.bus.getProxyObject(BUS_NAME, path);
      this.proxies.set(path, p);
      p.catch(() => this.proxies.delete(path));
    }
    return (await p).getInterface(name) as Iface;
  }

  private async prop<T>(path: string, iface: string, name: string): Promise<T> {
    const props = await this.iface(path, 'org.freedesktop.DBus.Properties');
    const v = (await props.Get!(iface, name)) as dbus.Variant;
    return v.value as T;
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof VmlabError) throw e;
      throw unreachable(e, this.uri);
    }
  }

  async version(): Promise<{ libvirt: string; hypervisor: string }> {
    const fmt = (n: bigint | number) => {
      const v = Number(n);
      return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
    };
    return this.call(async () => ({
      libvirt: fmt(await this.prop<bigint>(this.root, 'org.libvirt.Connect', 'LibVersion')),
      hypervisor: fmt(await this.prop<bigint>(this.root, 'org.libvirt.Connect', 'Version')),
    }));
  }

  private async domainPath(name: string): Promise<string | undefined> {
    try {
      return (await this.connect!.DomainLookupByName!(name)) as string;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw unreachable(e, this.uri);
    }
  }

  private async mustDomain(name: string): Promise<Iface> {
    const path = await this.domainPath(name);
    if (!path) throw new VmlabError('ERR_VMLAB_DOMAIN_MISSING', `libvirt has no domain "${name}"`);
    return this.iface(path, 'org.libvirt.Domain');
  }

  private async domainInfoAt(path: string): Promise<DomainInfo> {
    const dom = await this.iface(path, 'org.libvirt.Domain');
    const [state, reason] = (await dom.GetState!(NONE)) as [number, number];
    return {
      name: await this.prop<string>(path, 'org.libvirt.Domain', 'Name'),
      active: await this.prop<boolean>(path, 'org.libvirt.Domain', 'Active'),
      state: DOMAIN_STATES[state] ?? 'nostate',
      reason,
    };
  }

  async listDomains(): Promise<DomainInfo[]> {
    return this.call(async () => {
      const paths = (await this.connect!.ListDomains!(NONE)) as string[];
      const out: DomainInfo[] = [];
      for (const p of paths) {
        try {
          out.push(await this.domainInfoAt(p));
        } catch (e) {
          if (!isNotFound(e)) throw e; // undefined while we listed
        }
      }
      return out;
    });
  }

  async domain(name: string): Promise<DomainInfo | undefined> {
    return this.call(async () => {
      const p = await this.domainPath(name);
      if (!p) return undefined;
      try {
        return await this.domainInfoAt(p);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    });
  }

  async defineDomain(xml: string): Promise<void> {
    await this.call(() => this.connect!.DomainDefineXML!(xml));
  }

  async startDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Create!(NONE));
  }

  async startDomainPaused(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Create!(START_PAUSED));
  }

  async suspendDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Suspend!());
  }

  async resumeDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Resume!());
  }

  async managedSave(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).ManagedSave!(NONE));
  }

  async hasManagedSave(name: string): Promise<boolean> {
    return this.call(async () => Boolean(await (await this.mustDomain(name)).HasManagedSaveImage!(NONE)));
  }

  async destroyDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Destroy!(NONE));
  }

  async shutdownDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Shutdown!(NONE));
  }

  async undefineDomain(name: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(name)).Undefine!(UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA | UNDEFINE_NVRAM));
  }

  async domainXml(name: string, inactive = false): Promise<string> {
    return this.call(async () => (await (await this.mustDomain(name)).GetXMLDesc!(inactive ? DOMAIN_XML_INACTIVE : NONE)) as string);
  }

  private async networkPath(name: string): Promise<string | undefined> {
    try {
      return (await this.connect!.NetworkLookupByName!(name)) as string;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw unreachable(e, this.uri);
    }
  }

  private async mustNetwork(name: string): Promise<Iface> {
    const path = await this.networkPath(name);
    if (!path) throw new VmlabError('ERR_VMLAB_NETWORK_MISSING', `libvirt has no network "${name}"`);
    return this.iface(path, 'org.libvirt.Network');
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return this.call(async () => {
      const paths = (await this.connect!.ListNetworks!(NONE)) as string[];
      const out: NetworkInfo[] = [];
      for (const p of paths) {
        out.push({ name: await this.prop<string>(p, 'org.libvirt.Network', 'Name'), active: await this.prop<boolean>(p, 'org.libvirt.Network', 'Active') });
      }
      return out;
    });
  }

  async network(name: string): Promise<NetworkInfo | undefined> {
    return this.call(async () => {
      const p = await this.networkPath(name);
      if (!p) return undefined;
      return { name, active: await this.prop<boolean>(p, 'org.libvirt.Network', 'Active') };
    });
  }

  async defineNetwork(xml: string): Promise<void> {
    await this.call(() => this.connect!.NetworkDefineXML!(xml));
  }

  async startNetwork(name: string): Promise<void> {
    await this.call(async () => (await this.mustNetwork(name)).Create!());
  }

  async destroyNetwork(name: string): Promise<void> {
    await this.call(async () => (await this.mustNetwork(name)).Destroy!());
  }

  async undefineNetwork(name: string): Promise<void> {
    await this.call(async () => (await this.mustNetwork(name)).Undefine!());
  }

  async networkXml(name: string): Promise<string> {
    return this.call(async () => (await (await this.mustNetwork(name)).GetXMLDesc!(NONE)) as string);
  }

  private async snapshotIface(domain: string, name: string): Promise<Iface> {
    const dom = await this.mustDomain(domain);
    try {
      return await this.iface((await dom.SnapshotLookupByName!(name, NONE)) as string, 'org.libvirt.DomainSnapshot');
    } catch (e) {
      if (/not found|no domain snapshot/i.test(String((e as { text?: string }).text ?? (e as Error).message))) {
        throw new VmlabError('ERR_VMLAB_SNAPSHOT_MISSING', `${domain} has no snapshot "${name}"`);
      }
      throw e;
    }
  }

  async listSnapshots(domain: string): Promise<SnapshotInfo[]> {
    return this.call(async () => {
      const dom = await this.mustDomain(domain);
      const paths = (await dom.ListDomainSnapshots!(NONE)) as string[];
      const out: SnapshotInfo[] = [];
      for (const p of paths) out.push(await readSnapshotXml((await (await this.iface(p, 'org.libvirt.DomainSnapshot')).GetXMLDesc!(NONE)) as string));
      return out.sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name));
    });
  }

  async createSnapshot(domain: string, name: string, description: string): Promise<void> {
    const xml = newSnapshotXml(name, description);
    await this.call(async () => (await this.mustDomain(domain)).SnapshotCreateXML!(xml, SNAPSHOT_CREATE_ATOMIC));
  }

  async snapshotXml(domain: string, name: string): Promise<string> {
    return this.call(async () => (await (await this.snapshotIface(domain, name)).GetXMLDesc!(NONE)) as string);
  }

  async redefineSnapshot(domain: string, xml: string): Promise<void> {
    await this.call(async () => (await this.mustDomain(domain)).SnapshotCreateXML!(xml, SNAPSHOT_CREATE_REDEFINE));
  }

  async revertSnapshot(domain: string, name: string): Promise<void> {
    await this.call(async () => (await this.snapshotIface(domain, name)).Revert!(NONE));
  }

  async updateDevice(domain: string, xml: string, scope: { live?: boolean; config?: boolean }): Promise<void> {
    const flags = (scope.live ? AFFECT_LIVE : 0) | (scope.config ? AFFECT_CONFIG : 0);
    await this.call(async () => (await this.mustDomain(domain)).UpdateDevice!(xml, flags));
  }

  async loadSnapshotLive(domain: string, name: string): Promise<void> {
    // libvirt-dbus has no monitor call; libvirt's own revert of a running domain starts a new QEMU.
    const r = await execa('virsh', ['-c', this.uri, 'qemu-monitor-command', domain, '--hmp', `loadvm ${name}`], { reject: false, timeout: 120_000 });
    const out = `${String(r.stdout)}${String(r.stderr)}`.trim();
    if (r.exitCode !== 0 || out !== '') {
      throw new VmlabError('ERR_VMLAB_SNAPSHOT_LOAD', `loadvm ${name} in ${domain} failed: ${out || `virsh exited ${r.exitCode}`}`);
    }
  }

  async deleteSnapshot(domain: string, name: string): Promise<void> {
    await this.call(async () => (await this.snapshotIface(domain, name)).Delete!(NONE));
  }

  onDomainEvent(listener: (e: DomainEvent) => void): () => void {
    const names = new Map<string, string>();
    const handler = (path: string, event: number, detail: number) => {
      const emit = (domain: string) => listener({ domain, event: DOMAIN_EVENTS[event] ?? 'unknown', detail });
      const known = names.get(path);
      if (known) return emit(known);
      this.prop<string>(path, 'org.libvirt.Domain', 'Name')
        .then((n) => {
          names.set(path, n);
          emit(n);
        })
        .catch(() => undefined);
    };
    this.connect!.on('DomainEvent', handler as (...args: unknown[]) => void);
    return () => this.connect!.removeListener('DomainEvent', handler as (...args: unknown[]) => void);
  }

  close(): void {
    try {
      this.bus.disconnect();
    } catch {
      /* already gone */
    }
  }
}
