import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { run } from '../host/exec.js';
import { mountsUnder } from '../host/mounts.js';
import { domainWithLink, readDomainXml, type DomainXml } from '../libvirt/xml-read.js';
import type { DomainInfo, SnapshotInfo } from '../libvirt/types.js';
import type { HostPaths } from '../paths.js';
import { removeContainerCgroups, spawnInContainerCgroup } from './cgroups.js';
import { NsenterGuest } from './nsenter-guest.js';
import { ContainerSnapshots } from './snapshots.js';
import { createContainerNet, hostEndState, removeContainerNet, setHostEnd } from './veth.js';

/** What the container runtime asks of the rest of the host: the bridge of a libvirt network. */
export interface ContainerHostNet {
  bridgeOf(source: { network?: string; bridge?: string }): Promise<string>;
}

interface RunState {
  /** The systemd-nspawn process. */
  pid: number;
  startedAt: number;
}

const ROOTFS_COMPLETE = '.vmlab-rootfs-complete';

/**
 * Containers as libvirt would hold them (a domain of type lxc, its XML with
 * vmlab's metadata), run by systemd-nspawn: definitions are files under
 * `<data>/containers/`, a running container is an nspawn process recorded
 * under `<run>/containers/` and checked against /proc (its command line names
 * the machine). Everything a container has on the host — the overlay mount,
 * the network namespace and its veth pairs, the process — is found from its
 * definition and removed by destroy.
 */
export class NspawnContainers {
  private readonly defs: string;
  private readonly runs: string;
  readonly snapshots: ContainerSnapshots;

  constructor(
    paths: HostPaths,
    private readonly net: ContainerHostNet,
  ) {
    this.defs = join(paths.dataDir, 'containers');
    this.runs = join(paths.runDir, 'containers');
    this.snapshots = new ContainerSnapshots(join(paths.dataDir, 'containers'), this);
  }

  static isContainerXml(xml: string): boolean {
    return /<domain\s[^>]*type\s*=\s*['"]lxc['"]/.test(xml);
  }

  has(name: string): boolean {
    return existsSync(this.defFile(name));
  }

  async listDomains(): Promise<DomainInfo[]> {
    if (!existsSync(this.defs)) return [];
    const names = readdirSync(this.defs)
      .filter((f) => f.endsWith('.xml'))
      .map((f) => f.slice(0, -4));
    return names.map((n) => this.info(n));
  }

  async domain(name: string): Promise<DomainInfo | undefined> {
    return this.has(name) ? this.info(name) : undefined;
  }

  async defineDomain(xml: string): Promise<void> {
    const d = await readDomainXml(xml);
    if (!d.container?.root) throw new VmlabError('ERR_VMLAB_CONTAINER_XML', `${d.name}: a container needs a root file system (<filesystem> with target /)`);
    mkdirSync(this.defs, { recursive: true, mode: 0o700 });
    const tmp = `${this.defFile(d.name)}.partial-${process.pid}`;
    writeFileSync(tmp, xml);
    renameSync(tmp, this.defFile(d.name));
  }

  /** Its definition; of a running container (unless `inactive`), with each NIC's link state as it is now (its host end up or down). */
  async domainXml(name: string, inactive = false): Promise<string> {
    this.must(name);
    let xml = readFileSync(this.defFile(name), 'utf8');
    if (inactive || !this.info(name).active) return xml;
    for (const i of (await readDomainXml(xml)).interfaces) {
      const live = i.tap ? await hostEndState(i.tap) : undefined;
      if (live && live !== i.link) xml = await domainWithLink(xml, i.mac, live);
    }
    return xml;
  }

  async startDomain(name: string): Promise<void> {
    if (this.info(name).active) throw new VmlabError('ERR_VMLAB_CONTAINER_RUNNING', `container ${name} is already running`);
    const d = await readDomainXml(await this.domainXml(name, true));
    const c = d.container!;
    if (!c.lower || !existsSync(join(c.lower, ROOTFS_COMPLETE))) {
      throw new VmlabError('ERR_VMLAB_ROOTFS', `${name}: its image's root file system is not unpacked (${c.lower ?? 'no lower layer'})`, { hint: 'vmlab up unpacks it; run up again' });
    }
    await this.cleanup(name, d);
    for (const dir of [c.upper!, c.work!, c.root]) mkdirSync(dir, { recursive: true, mode: 0o755 });
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${c.lower},upperdir=${c.upper},workdir=${c.work}`, c.root]);
    const nics = await Promise.all(
      d.interfaces.map(async (i, k) => ({ host: i.tap!, guest: i.guestDev ?? `eth${k}`, mac: i.mac, bridge: await this.net.bridgeOf(i.source), down: i.link === 'down' })),
    );
    await createContainerNet(name, nics);
    mkdirSync(this.runs, { recursive: true, mode: 0o700 });
    // Its console (what systemd prints as it boots) appended to the log, as libvirt does for a VM's serial port: the file itself, not a pipe through vmlab.
    const log = openSync(c.consoleLog ?? '/dev/null', 'a');
    try {
      // Node's own spawn, not execa: a daemon that outlives vmlab, with a file descriptor as its output (execa's types take none).
      const child = spawnInContainerCgroup(name, () => spawn('systemd-nspawn', nspawnArgs(name, d), { detached: true, stdio: ['ignore', log, log] }));
      child.on('error', () => undefined); // a missing program is reported just below; its end is seen through /proc
      child.unref();
      if (!child.pid) throw new VmlabError('ERR_VMLAB_TOOL_MISSING', 'systemd-nspawn is not installed', { hint: 'install it: apt-get install systemd-container' });
      writeFileSync(this.runFile(name), JSON.stringify({ pid: child.pid, startedAt: Date.now() } satisfies RunState));
    } finally {
      closeSync(log);
    }
    await this.leader(name, 15_000);
  }

  /** The container's PID 1 as the host sees it; waits up to `waitMs` for nspawn to start it. */
  async leader(name: string, waitMs = 0): Promise<number> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const st = this.running(name);
      const child = st ? firstChild(st.pid) : undefined;
      if (child) return child;
      if (!st || Date.now() >= deadline) {
        throw new VmlabError('ERR_VMLAB_CONTAINER_DOWN', `container ${name} is not running`, { hint: `see its console log; vmlab up starts it` });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  guest(name: string, vmName: string): NsenterGuest {
    return new NsenterGuest(() => this.leader(name, 5000), vmName);
  }

  /** Stops at once (as libvirt's destroy): the container's PID 1 is killed, which ends every process in it; then its mount and network go. */
  async destroyDomain(name: string): Promise<void> {
    const st = this.running(name);
    if (st) {
      const leader = firstChild(st.pid);
      if (leader) kill(leader, 'SIGKILL');
      if (!(await exited(st.pid, 10_000))) kill(st.pid, 'SIGKILL');
      await exited(st.pid, 5_000);
    }
    await this.cleanup(name, await readDomainXml(await this.domainXml(name, true)));
  }

  /** Asks for an orderly power-off (nspawn passes SIGTERM on to the container's systemd); returns at once. */
  async shutdownDomain(name: string): Promise<void> {
    const st = this.running(name);
    if (st) kill(st.pid, 'SIGTERM');
  }

  async undefineDomain(name: string): Promise<void> {
    if (this.info(name).active) throw new VmlabError('ERR_VMLAB_CONTAINER_RUNNING', `container ${name} is running: destroy it first`);
    await this.cleanup(name, await readDomainXml(await this.domainXml(name, true)));
    this.snapshots.removeAll(name);
    rmSync(this.defFile(name), { force: true });
  }

  /** A NIC's link state, live: its host end down or up. The definition changes with `config`. */
  async updateDevice(name: string, ifaceXml: string, scope: { live?: boolean; config?: boolean }): Promise<void> {
    const mac = /<mac\s+address=['"]([^'"]+)['"]/.exec(ifaceXml)?.[1];
    const state = /<link\s+state=['"]down['"]/.test(ifaceXml) ? 'down' : 'up';
    // The definition, not the live view: a config change must not write the live link states into it.
    const xml = await this.domainXml(name, true);
    const iface = (await readDomainXml(xml)).interfaces.find((i) => i.mac === mac);
    if (!iface?.tap) throw new VmlabError('ERR_VMLAB_CONTAINER_XML', `${name} has no interface with MAC ${mac ?? '?'}`);
    if (scope.live && this.info(name).active) await setHostEnd(iface.tap, state);
    if (scope.config) await this.defineDomain(await domainWithLink(xml, mac!, state));
  }

  listSnapshots(name: string): Promise<SnapshotInfo[]> {
    this.must(name);
    return Promise.resolve(this.snapshots.list(name));
  }

  private info(name: string): DomainInfo {
    const active = this.running(name) !== undefined;
    return { name, active, state: active ? 'running' : 'shutoff', reason: 0 };
  }

  /** The nspawn process of a running container: recorded, alive, and still naming this machine. */
  private running(name: string): RunState | undefined {
    const f = this.runFile(name);
    if (!existsSync(f)) return undefined;
    const st = JSON.parse(readFileSync(f, 'utf8')) as RunState;
    try {
      const argv = readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0');
      return argv[0]?.endsWith('systemd-nspawn') && argv.includes(`--machine=${name}`) ? st : undefined;
    } catch {
      return undefined;
    }
  }

  /** What a stopped container leaves: its overlay mount, its network namespace and veth pairs, its cgroups, its run file. */
  private async cleanup(name: string, d: DomainXml): Promise<void> {
    const root = d.container?.root;
    if (root) for (const mp of mountsUnder(root)) await run('umount', [mp]).catch(() => run('umount', ['--lazy', mp]));
    await removeContainerNet(
      name,
      d.interfaces.flatMap((i) => (i.tap ? [i.tap] : [])),
    );
    await removeContainerCgroups(name);
    rmSync(this.runFile(name), { force: true });
  }

  private must(name: string): void {
    if (!this.has(name)) throw new VmlabError('ERR_VMLAB_NO_DOMAIN', `no container ${name}`);
  }

  private defFile(name: string): string {
    return join(this.defs, `${name}.xml`);
  }

  private runFile(name: string): string {
    return join(this.runs, `${name}.json`);
  }
}

/** The lower layers (unpacked image versions) the defined containers stand on, with who stands on each. */
export async function containerLowers(dataDir: string): Promise<Map<string, string[]>> {
  const dir = join(dataDir, 'containers');
  const out = new Map<string, string[]>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.xml'))) {
    const lower = (await readDomainXml(readFileSync(join(dir, f), 'utf8'))).container?.lower;
    if (lower) out.set(lower, [...(out.get(lower) ?? []), f.slice(0, -4)]);
  }
  return out;
}

/**
 * systemd-nspawn for a whole system (its own systemd as PID 1) on a host
 * without systemd: not registered with machined and kept in the cgroup it is
 * started in, one of its own (--register=no --keep-unit; see cgroups.ts); the
 * network namespace vmlab made; nothing copied in from the host (resolv.conf,
 * timezone, journal, .nspawn files).
 */
export function nspawnArgs(name: string, d: DomainXml): string[] {
  const c = d.container!;
  return [
    '--quiet',
    '--register=no',
    '--keep-unit',
    '--settings=no',
    `--machine=${name}`,
    ...(c.hostname ? [`--hostname=${c.hostname}`] : []),
    `--directory=${c.root}`,
    `--network-namespace-path=/run/netns/${name}`,
    // Also "private": without it nspawn bind-mounts the host's /sys, whose /sys/class/net lists the host's NICs (cloud-init then finds none of the lab's).
    '--private-network',
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
    '--console=read-only',
    '--boot',
  ];
}

function firstChild(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

async function exited(pid: number, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z') return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
