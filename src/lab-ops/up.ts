import { errorReport, VmlabError, type ErrorReport } from '../errors.js';
import { formatIpv4 } from '../util/ipv4.js';
import type { Plan, VmPlan } from '../plan/plan.js';
import { rootDiskMissing } from '../profiles/index.js';
import { renderLab } from '../render/index.js';
import type { DiskOps } from './disks.js';
import { applyLabLinks, recordLinks } from './links.js';
import { removeStaleLinks } from './leftovers.js';
import { readyTimeoutMs } from './timeouts.js';
import { lockLab } from './lock.js';
import { forkVm, recoverFork, type ForkSource } from './fork.js';
import { startDomain } from './start.js';
import { parseDomainXml, parseNetworkMeta } from './metadata.js';
import { consoleSize, kvmFailure, kvmRefused, kvmUnusable, waitReady, type ReadyPhase, type ReadyTimes, type WaitReadyOptions } from './readiness.js';
import type { LabRuntime } from './runtime.js';

/** What up did to a VM; `resumed`: it was suspended (vmlab suspend) and goes on from its saved memory, no boot. */
export type VmAction = 'created' | 'forked' | 'started' | 'resumed' | 'unchanged' | 'changed' | 'recreated';

export interface VmUpResult {
  name: string;
  domain: string;
  action: VmAction;
  profile: string;
  accel: string;
  accelReason: string;
  /** ms: disks+seed, define; then running/agent/cloudInit since the start request; startAt/readyAt since `up` began. */
  times?: ReadyTimes & { define?: number; disks?: number; startAt?: number; readyAt?: number; /** A fork: its disks copied, its snapshot loaded (fork.ts). */ copy?: number; load?: number };
  ready: boolean;
  /** The first start hit libvirt's cpuset cgroup race of a fresh host and was retried once (see start.ts); the error it gave. */
  startRetried?: string;
  /** Link changes made to match the lab file (`link:`), e.g. on an up whose file changed only there. */
  links?: string[];
  /** Why this VM is not ready: code, message and hint, as the CLI prints them. */
  error?: ErrorReport;
}

export interface UpResult {
  lab: string;
  upToDate: boolean;
  networks: Array<{ name: string; libvirtName?: string; bridge: string; action: 'created' | 'started' | 'unchanged' | 'host-bridge' }>;
  /** What a crash had left and this up put right first (a bridge no libvirt network owned, a fork killed half-way), one line each. */
  leftovers?: string[];
  vms: VmUpResult[];
  seconds: number;
}

export interface UpOptions {
  disks: DiskOps;
  bridgeExists(name: string): Promise<boolean>;
  recreate?: boolean;
  /** VMs suspended with an older definition: drop their saved memory and re-create them (recreate does too, for every changed VM). */
  discardSuspended?: boolean;
  /** VMs that do not exist yet are forked from this working copy of the lab instead of booted (fork.ts; a class's students). */
  fork?: ForkSource;
  timeoutMs?: number;
  onVm?(vm: string, phase: ReadyPhase | 'disks' | 'defined' | 'unchanged' | 'changed' | 'links', detail?: string): void;
}

/**
 * Brings a lab up, idempotently: what exists and matches the plan is left
 * alone; what is missing is created; what differs is reported (re-created only
 * with `recreate`). Everything is checked before anything is created.
 */
export async function upLab(rt: LabRuntime, plan: Plan, opts: UpOptions): Promise<UpResult> {
  const t0 = Date.now();
  const h = rt.hypervisor;
  const rendered = renderLab(plan);

  // 1. Preflight: nothing is created unless all of this holds. KVM first: its own error code.
  const wantKvm = plan.vms.filter((vm) => vm.accelRequested === 'kvm').map((vm) => vm.name);
  if (wantKvm.length) {
    const host = await rt.hostKvm();
    if (host.kvm !== 'working') throw kvmRefused(host, wantKvm);
  }
  // What a fork killed half-way left (fork.ts): only what vmlab itself marked.
  const recovered = await recoverFork(rt, opts.disks, plan);
  const problems: string[] = [];
  const checked = new Set<string>();
  for (const vm of plan.vms) {
    for (const media of vm.disks.filter((d) => d.role === 'media')) {
      const bad = opts.disks.mediaProblem(media.path);
      if (bad && media.mediaImage) problems.push(`${vm.name}: no install media "${media.mediaImage}" in the image cache (vmlab image import FILE.iso --name ${media.mediaImage})`);
      else if (bad) problems.push(`${vm.name}: install media ${media.path}: ${bad}`);
    }
    if (!vm.image || checked.has(vm.image.name)) continue;
    checked.add(vm.image.name);
    try {
      rt.images.resolve(vm.image.name); // the image is in the cache (clones are made from the version the plan names)
    } catch (e) {
      problems.push(`${vm.name}: ${(e as VmlabError).message} (${(e as VmlabError).hint ?? ''})`);
    }
  }
  for (const n of plan.networks) {
    if (n.mode === 'bridge' && !(await opts.bridgeExists(n.bridge))) {
      problems.push(`network ${n.name}: host bridge "${n.bridge}" does not exist (where libvirtd runs)`);
    }
  }
  const existing = new Map<string, Awaited<ReturnType<typeof parseDomainXml>>>();
  for (const vm of plan.vms) {
    const info = await h.domain(vm.domainName);
    if (!info) continue;
    const parsed = await parseDomainXml(await h.domainXml(vm.domainName, true));
    if (parsed.meta?.lab !== plan.lab.name) problems.push(`${vm.domainName} exists in libvirt but was not created by vmlab for lab ${plan.lab.name}: vmlab will not touch it`);
    else if (ownerText(parsed.meta.owner) !== ownerText(plan.lab.owner))
      problems.push(`${vm.domainName} belongs to ${ownerText(parsed.meta.owner)}, not ${ownerText(plan.lab.owner)}: vmlab will not touch it`);
    existing.set(vm.name, parsed);
  }
  for (const n of plan.networks) {
    if (!n.libvirtName || !(await h.network(n.libvirtName))) continue;
    const meta = await parseNetworkMeta(await h.networkXml(n.libvirtName));
    if (meta?.lab !== plan.lab.name) problems.push(`network ${n.libvirtName} exists but was not created by vmlab for this lab: vmlab will not touch it`);
    else if (ownerText(meta.owner) !== ownerText(plan.lab.owner))
      problems.push(`network ${n.libvirtName} belongs to ${ownerText(meta.owner)}, not ${ownerText(plan.lab.owner)}: vmlab will not touch it`);
  }
  if (problems.length) {
    throw new VmlabError('ERR_VMLAB_PREFLIGHT', `cannot bring up lab "${plan.lab.name}":\n  ${problems.join('\n  ')}`, {
      kind: 'user',
      hint: 'nothing was created',
    });
  }

  const unlock = lockLab(rt.paths.dataDir, plan.lab.name);
  try {
    recordLinks(rt, plan);
    // 2. Networks: Linux bridges as libvirt networks (isolated: no <forward>).
    const networks: UpResult['networks'] = [];
    const infos = new Map(await Promise.all(plan.networks.map(async (n) => [n.name, n.libvirtName ? await h.network(n.libvirtName) : undefined] as const)));
    // Networks to start whose bridge is still there (a crash of libvirtd): libvirt would refuse them ("File exists").
    const toStart = new Map(plan.networks.filter((n) => n.libvirtName && !infos.get(n.name)?.active).map((n) => [n.bridge, n.libvirtName!]));
    const leftovers = await removeStaleLinks(rt, toStart.keys(), (bridge) => `left by a crash: network ${toStart.get(bridge)} was not active`);
    for (const n of plan.networks) {
      if (!n.libvirtName) {
        networks.push({ name: n.name, bridge: n.bridge, action: 'host-bridge' });
        continue;
      }
      const xml = rendered.networks.find((r) => r.name === n.name)!.xml;
      const info = infos.get(n.name);
      if (!info) {
        await h.defineNetwork(xml);
        await h.startNetwork(n.libvirtName);
        networks.push({ name: n.name, libvirtName: n.libvirtName, bridge: n.bridge, action: 'created' });
      } else if (!info.active) {
        await h.startNetwork(n.libvirtName);
        networks.push({ name: n.name, libvirtName: n.libvirtName, bridge: n.bridge, action: 'started' });
      } else {
        networks.push({ name: n.name, libvirtName: n.libvirtName, bridge: n.bridge, action: 'unchanged' });
      }
    }

    // 3. VMs in parallel: disks, seed, define, start, wait for readiness.
    const results = await Promise.all(
      plan.vms.map(async (vm): Promise<VmUpResult> => {
        const base: VmUpResult = { name: vm.name, domain: vm.domainName, action: 'unchanged', profile: vm.profile.name, accel: vm.accel.name, accelReason: vm.accelReason, ready: false };
        let action: VmAction = 'unchanged';
        let startRetried: string | undefined;
        try {
          const prev = existing.get(vm.name);
          const { files, probes } = rendered.vms.find((r) => r.name === vm.name)!;
          const times: NonNullable<VmUpResult['times']> = {};
          if (prev && prev.meta?.vmHash !== vm.hash) {
            // A suspended VM's saved memory belongs to its old definition: resumed into a new one it would not fit.
            const suspended = await h.hasManagedSave(vm.domainName).catch(() => false);
            if (!opts.recreate && !(suspended && opts.discardSuspended)) {
              const why = suspended
                ? 'suspended (vmlab suspend) with an older definition: the lab file changed since, and its saved memory would not fit the new one; up --discard-suspended drops the saved state and boots it anew'
                : 'definition changed; run up --recreate to re-create it';
              opts.onVm?.(vm.name, 'changed', why);
              return {
                ...base,
                action: 'changed',
                ready: false,
                error: { code: 'ERR_VMLAB_VM_CHANGED', message: `${vm.name}: ${why}`, hint: suspended ? 'vmlab up LAB --discard-suspended' : 'vmlab up LAB --recreate' },
              };
            }
            await removeVm(rt, vm, opts.disks, false);
            await createVm(rt, vm, files, opts, times);
            action = 'recreated';
          } else if (prev) {
            action = 'unchanged';
          } else if (opts.fork) {
            const f = await forkVm(rt, opts.disks, opts.fork, vm, files['domain.xml']!, (what) => opts.onVm?.(vm.name, 'disks', what));
            Object.assign(times, { copy: f.copyMs, load: f.loadMs });
            action = 'forked';
          } else {
            await createVm(rt, vm, files, opts, times);
            action = 'created';
          }
          const info = await h.domain(vm.domainName);
          const startedAt = Date.now();
          // A guest already running printed its console pattern back then: search its whole log.
          const consoleFrom = info?.active ? 0 : consoleSize(vm.consoleLog);
          // Not when active: a domain still starting up (a killed `up` asked libvirt to start it) is waited for, not started twice.
          if (!info?.active) {
            const suspended = info ? await h.hasManagedSave(vm.domainName) : false;
            try {
              const started = await startDomain(h, vm.domainName);
              if (started.retried) {
                startRetried = started.retried;
                opts.onVm?.(vm.name, 'starting', 'retried once: libvirt lost the race for the new cpuset cgroup (a fresh host)');
              }
            } catch (e) {
              const kvm = vm.accel.name === 'kvm' ? kvmFailure(vm.domainName, (e as Error).message) : undefined;
              throw kvm ? kvmUnusable(vm.name, kvm) : e;
            }
            if (action === 'unchanged') action = suspended ? 'resumed' : 'started';
          } else if (action === 'unchanged') {
            opts.onVm?.(vm.name, 'unchanged');
          }
          // The lab file's links, on the taps that exist now (a change only there is applied here, live).
          const links = (await applyLabLinks(rt, plan.lab.name, [vm.name], { definitions: true })).map((c) => `${c.nic}: ${c.change}`);
          if (links.length) opts.onVm?.(vm.name, 'links', links.join('; '));
          const ready = await waitReady({
            hypervisor: h,
            domain: vm.domainName,
            vmName: vm.name,
            accel: vm.accel.name,
            agent: () => rt.agentFor(vm.domainName, vm.name),
            consoleLog: vm.consoleLog,
            timeoutMs: opts.timeoutMs ?? readyTimeoutMs(vm.accel.name),
            startedAt,
            probes,
            consoleFrom,
            ...(vm.agent.transport === 'none' ? { agentless: agentlessReady(rt, vm) } : vm.profile.family === 'container' ? {} : { rootMissing: rootDiskMissing(vm.profile) }),
            onPhase: (p, d) => opts.onVm?.(vm.name, p, d),
          });
          const readyAt = Date.now() - t0;
          return {
            ...base,
            action,
            ready: true,
            ...(startRetried ? { startRetried } : {}),
            ...(links.length ? { links } : {}),
            ...(action === 'unchanged' ? {} : { times: { ...times, ...ready, startAt: startedAt - t0, readyAt } }),
          };
        } catch (e) {
          opts.onVm?.(vm.name, 'failed', (e as Error).message);
          return { ...base, action, ready: false, error: errorReport(e) };
        }
      }),
    );
    const upToDate = results.every((r) => r.action === 'unchanged' && r.ready && !r.links) && networks.every((n) => n.action === 'unchanged' || n.action === 'host-bridge');
    const cleaned = [...recovered, ...leftovers];
    return { lab: plan.lab.name, upToDate: upToDate && !cleaned.length, networks, ...(cleaned.length ? { leftovers: cleaned } : {}), vms: results, seconds: (Date.now() - t0) / 1000 };
  } finally {
    unlock();
  }
}

/** Whose a lab is: a class's student's copy, or nobody's (a lab of its own). */
function ownerText(o: { class: string; student: string } | undefined): string {
  return o ? `student "${o.student}" of class "${o.class}"` : 'no class';
}

/** What says a guest vmlab does not provision is ready: its console pattern, its TCP port (both, when both are given). */
function agentlessReady(rt: LabRuntime, vm: VmPlan): NonNullable<WaitReadyOptions['agentless']> {
  const t = vm.tcpReady;
  const address = t ? formatIpv4(t.address) : '';
  return {
    ...(vm.consoleReady !== undefined ? { console: new RegExp(vm.consoleReady) } : {}),
    ...(t ? { tcp: { address, port: t.port, answers: (ms: number) => rt.tcp.answers(address, t.port, ms) } } : {}),
  };
}

async function createVm(rt: LabRuntime, vm: VmPlan, files: Record<string, string>, opts: UpOptions, times: { define?: number; disks?: number }): Promise<void> {
  const d = opts.disks;
  const t = Date.now();
  opts.onVm?.(vm.name, 'disks');
  d.ensureDir(vm.dir);
  for (const disk of vm.disks) {
    if (disk.role === 'root' && !d.exists(disk.path)) await d.linkedClone(disk.backingFile!, disk.path);
    if (disk.role === 'data' && !d.exists(disk.path)) await d.create(disk.path, disk.format, disk.sizeBytes!);
  }
  const seedFiles = () => ({ 'user-data': files['user-data']!, 'meta-data': files['meta-data']!, 'network-config': files['network-config']! });
  const seed = vm.disks.find((x) => x.role === 'seed');
  if (seed) await d.writeSeed(seed.path, seedFiles());
  if (vm.container) {
    await d.ensureRootfs(vm.container.imageFile, vm.container.lower, (what) => opts.onVm?.(vm.name, 'disks', what));
    d.writeSeedDir(vm.container.seedDir, seedFiles());
  }
  times.disks = Date.now() - t;
  const t1 = Date.now();
  await rt.hypervisor.defineDomain(files['domain.xml']!);
  times.define = Date.now() - t1;
  opts.onVm?.(vm.name, 'defined');
}

async function removeVm(rt: LabRuntime, vm: VmPlan, disks: DiskOps, keepDisks: boolean): Promise<void> {
  const info = await rt.hypervisor.domain(vm.domainName);
  if (info?.active) await rt.hypervisor.destroyDomain(vm.domainName);
  if (info) await rt.hypervisor.undefineDomain(vm.domainName);
  disks.removeVmFiles(vm.dir, keepDisks);
}
