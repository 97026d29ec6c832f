import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestAgent, type AgentTransport } from '../../src/guest/agent.js';
import type { DiskOps } from '../../src/lab-ops/disks.js';
import type { LabRuntime } from '../../src/lab-ops/runtime.js';
import type { TapQdisc, TrafficControl } from '../../src/host/traffic-control.js';
import type { TcpProbe } from '../../src/host/tcp-probe.js';
import { formatImpairment, hasImpairment, type Impairment } from '../../src/lab/link.js';
import { FakeHypervisor } from './fake-hypervisor.js';

export interface GuestAnswer {
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

/** What a fake guest answers to `guest-exec`: (vm, program, arguments) → result. */
export type GuestResponder = (vm: string, path: string, args: string[]) => GuestAnswer;

/**
 * A guest agent with nothing behind it: answers ping, serves cloud-init's
 * result.json (done, no errors, unless told otherwise) and runs programs
 * through a responder. Every exec is logged as "vm: program args…".
 */
export class FakeGuestTransport implements AgentTransport {
  private readonly pending = new Map<number, GuestAnswer>();
  /** Files opened by guest-file-open other than cloud-init's result, by handle. */
  private readonly open = new Map<number, string>();
  private nextPid = 100;

  constructor(
    private readonly vm: string,
    private readonly world: FakeGuests,
  ) {}

  async command<T = unknown>(execute: string, args: Record<string, unknown> = {}): Promise<T> {
    const w = this.world;
    switch (execute) {
      case 'guest-ping':
        return {} as T;
      case 'guest-network-get-interfaces':
        return [] as T;
      case 'guest-file-open': {
        if (args.path === '/run/cloud-init/result.json' && w.cloudInitDone(this.vm)) return 1 as T;
        const content = w.file(this.vm, String(args.path));
        if (content === undefined) throw new Error(`Failed to open file '${String(args.path)}': No such file or directory`);
        this.open.set(this.nextPid, content);
        return this.nextPid++ as T;
      }
      case 'guest-file-read': {
        const text = this.open.get(args.handle as number) ?? JSON.stringify({ v1: { errors: [] } });
        return { count: text.length, 'buf-b64': Buffer.from(text).toString('base64'), eof: true } as T;
      }
      case 'guest-file-close':
        return {} as T;
      case 'guest-exec': {
        const argv = (args.arg as string[]) ?? [];
        w.execs.push(`${this.vm}: ${[String(args.path), ...argv].join(' ')}`);
        const pid = this.nextPid++;
        this.pending.set(pid, w.respond(this.vm, String(args.path), argv));
        return { pid } as T;
      }
      case 'guest-exec-status': {
        const a = this.pending.get(args.pid as number)!;
        const b64 = (s?: string) => (s ? Buffer.from(s).toString('base64') : undefined);
        return { exited: true, exitcode: a.exitCode, 'out-data': b64(a.stdout), 'err-data': b64(a.stderr) } as T;
      }
      default:
        throw new Error(`fake guest: no ${execute}`);
    }
  }

  close(): void {}
}

/** The guests of a fake runtime: how they answer, and a log of what ran in them. */
export class FakeGuests {
  readonly execs: string[] = [];
  respond: GuestResponder = () => ({ exitCode: 0, stdout: '' });
  cloudInitDone: (vm: string) => boolean = () => true;
  /** A file's content in a guest (guest-file-read), or undefined: none. */
  file: (vm: string, path: string) => string | undefined = () => undefined;
}

/** Disk and seed files in memory; `failOn` makes one call throw. */
export class FakeDisks implements DiskOps {
  readonly files = new Set<string>();
  readonly calls: string[] = [];
  failOn?: (call: string) => boolean;

  private act(call: string): void {
    this.calls.push(call);
    if (this.failOn?.(call)) throw new Error(`fake disk failure: ${call}`);
  }
  exists(path: string): boolean {
    return this.files.has(path);
  }
  ensureDir(): void {}
  async linkedClone(_base: string, path: string): Promise<void> {
    this.act(`clone ${path}`);
    this.files.add(path);
  }
  async create(path: string): Promise<void> {
    this.act(`create ${path}`);
    this.files.add(path);
  }
  /** The internal snapshots in each disk file (a fork copies them with the file). */
  readonly snapshots = new Map<string, string[]>();
  async copy(from: string, path: string): Promise<void> {
    this.act(`copy ${from} ${path}`);
    if (!this.files.has(from)) throw new Error(`cp: cannot stat '${from}': No such file or directory`);
    this.files.add(path);
    this.snapshots.set(path, [...(this.snapshots.get(from) ?? [])]);
  }
  mark(path: string): void {
    this.act(`mark ${path}`);
    this.files.add(path);
  }
  unmark(path: string): void {
    this.act(`unmark ${path}`);
    this.files.delete(path);
  }
  async snapshotsIn(path: string): Promise<string[]> {
    return [...(this.snapshots.get(path) ?? [])];
  }
  async deleteSnapshotIn(path: string, name: string): Promise<void> {
    this.act(`snapshot-delete-in ${path} ${name}`);
    this.snapshots.set(
      path,
      (this.snapshots.get(path) ?? []).filter((s) => s !== name),
    );
  }
  async writeSeed(path: string): Promise<void> {
    this.act(`seed ${path}`);
    this.files.add(path);
  }
  vmDirs(labDir: string): string[] {
    return [...new Set([...this.files].filter((f) => f.startsWith(labDir + '/')).map((f) => f.slice(0, f.indexOf('/', labDir.length + 1))))].sort();
  }
  pruneLabDir(): void {}
  /** Install media: every path ending in .iso is a bootable ISO. */
  mediaProblem(path: string): string | undefined {
    return path.endsWith('.iso') ? undefined : 'is not an ISO 9660 image';
  }
  async ensureRootfs(_image: string, dir: string): Promise<void> {
    this.act(`rootfs ${dir}`);
    this.files.add(`${dir}/.vmlab-rootfs-complete`);
  }
  writeSeedDir(dir: string, files: Record<string, string>): void {
    this.act(`seed-dir ${dir}`);
    for (const f of Object.keys(files)) this.files.add(`${dir}/${f}`);
  }
  removeVmFiles(dir: string, keepDisks: boolean): void {
    this.act(`rm ${dir}${keepDisks ? ' (keep disks)' : ''}`);
    for (const f of [...this.files]) if (f.startsWith(dir + '/') && !(keepDisks && /\.(qcow2|raw)$/.test(f))) this.files.delete(f);
  }
}

/** Qdiscs on taps in memory: every tap exists; `set` logs "tap: impairment". */
export class FakeTrafficControl implements TrafficControl {
  readonly taps = new Map<string, TapQdisc>();
  readonly calls: string[] = [];
  failOn?: (tap: string, imp: Impairment) => Error | undefined;

  async read(taps: readonly string[]): Promise<Map<string, TapQdisc>> {
    return new Map(taps.map((t) => [t, this.taps.get(t) ?? { kind: 'none' }]));
  }
  async set(tap: string, imp: Impairment): Promise<void> {
    this.calls.push(`${tap}: ${formatImpairment(imp)}`);
    const e = this.failOn?.(tap, imp);
    if (e) throw e;
    this.taps.set(tap, hasImpairment(imp) ? { kind: 'vmlab', impairment: imp } : { kind: 'none' });
  }
}

/** Guest ports in memory: `open` holds "address:port" that answer; `calls` logs every try. */
export class FakeTcpProbe implements TcpProbe {
  readonly open = new Set<string>();
  readonly calls: string[] = [];
  async answers(address: string, port: number): Promise<boolean> {
    this.calls.push(`${address}:${port}`);
    return this.open.has(`${address}:${port}`);
  }
}

export interface FakeLab {
  tc: FakeTrafficControl;
  tcp: FakeTcpProbe;
  h: FakeHypervisor;
  rt: LabRuntime;
  disks: FakeDisks;
  guests: FakeGuests;
}

/** A LabRuntime on fakes: libvirt, disks, the image cache and the guest agents. */
export function fakeRuntime(): FakeLab {
  const h = new FakeHypervisor();
  const guests = new FakeGuests();
  const disks = new FakeDisks();
  const tc = new FakeTrafficControl();
  const tcp = new FakeTcpProbe();
  const rt: LabRuntime = {
    hypervisor: h,
    tc,
    tcp,
    paths: { dataDir: mkdtempSync(join(tmpdir(), 'vmlab-fake-')), runDir: '/tmp' },
    images: { resolve: (name: string) => `/fake/images/${name}@0000.qcow2` },
    links: {
      list: async () => [...h.links].map(([name, kind]) => ({ name, kind })),
      remove: async (name: string) => {
        h.calls.push(`link-del ${name}`);
        h.links.delete(name);
      },
    },
    hostKvm: async () => ({ accel: 'kvm', kvm: 'working', reason: 'a fake host with working KVM' }),
    async agentFor(domain: string, vm: string) {
      if (!h.domains.has(domain)) throw new Error(`no domain ${domain}`);
      return new GuestAgent(new FakeGuestTransport(vm, guests), vm);
    },
    async containerShell(domain: string) {
      return h.domains.get(domain)?.xml.includes("type='lxc'") ? ['fake-shell', domain] : undefined;
    },
  };
  return { h, rt, disks, guests, tc, tcp };
}
