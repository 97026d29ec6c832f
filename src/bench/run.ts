import { mkdirSync, rmSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { readDomainXml } from '../libvirt/xml-read.js';
import { createBenchNetns, hostRunner, removeBenchNetns, withIperfServer, BENCH_NETNS, BENCH_NETNS_ADDR } from '../host/bench-netns.js';
import type { LabModel } from '../lab/model.js';
import { downLab } from '../lab-ops/down.js';
import type { DiskOps } from '../lab-ops/disks.js';
import { rebootUntilReady } from '../lab-ops/reboot.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { upLab } from '../lab-ops/up.js';
import { formatIpv4 } from '../util/ipv4.js';
import type { AutoAccel } from '../plan/plan.js';
import { planForHost } from '../lab-ops/host-lab.js';
import { CONTAINER_FIO_FILE, labFor, refusal, type BenchConfig } from './matrix.js';
import { hostLimitErrors } from './limits.js';
import { cpuSeconds, fio, findDiskBySize, iperf, pingMedianMs, type CommandRunner } from './measure.js';
import type { BenchResults, ConfigResult, MetricKey } from './results.js';
import { summarize } from './stats.js';

export interface BenchOptions {
  reps: number;
  quick: boolean;
  auto: AutoAccel;
  vhostNet: boolean;
  disks: DiskOps;
  bridgeExists(name: string): Promise<boolean>;
  onStep?(config: string, step: string): void;
}

/** Sizes of the measurements: full, and --quick (short runs for CI and a first look). */
export function workload(quick: boolean) {
  return quick ? { cpuMiB: 16, fioMiB: 64, diskS: 3, iperfS: 3, pings: 20 } : { cpuMiB: 64, fioMiB: 256, diskS: 10, iperfS: 10, pings: 20 };
}

type Samples = Partial<Record<MetricKey, number[]>>;

function add(s: Samples, k: MetricKey, v: number): void {
  (s[k] ??= []).push(v);
}

function summaries(s: Samples): ConfigResult['metrics'] {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, summarize(v!)])) as ConfigResult['metrics'];
}

/** The same measurements, on a runner (a guest or the host); `peer` runs an iperf3 server. */
async function measureOnce(r: CommandRunner, disk: string, peer: string, w: ReturnType<typeof workload>, s: Samples, step: (x: string) => void): Promise<void> {
  step('cpu');
  add(s, 'cpu', await cpuSeconds(r, w.cpuMiB));
  step('fio sequential write');
  add(s, 'seqWrite', await fio(r, 'seqWrite', disk, { sizeMiB: w.fioMiB, runtimeS: w.diskS }));
  step('fio sequential read');
  add(s, 'seqRead', await fio(r, 'seqRead', disk, { sizeMiB: w.fioMiB, runtimeS: w.diskS }));
  step('fio 4k random read');
  add(s, 'randRead', await fio(r, 'randRead', disk, { sizeMiB: w.fioMiB, runtimeS: w.diskS }));
  step('iperf3');
  add(s, 'tcp', await iperf(r, peer, w.iperfS));
  step('ping');
  add(s, 'ping', await pingMedianMs(r, peer, w.pings));
}

/** Disk and NIC tuning as libvirt runs it: read back from the domain XML of the test disk and NIC. */
export async function tuningFromXml(xml: string): Promise<NonNullable<ConfigResult['tuning']>> {
  const d = await readDomainXml(xml);
  const data = d.disks.find((x) => x.device === 'disk' && x.format === 'raw') ?? d.disks[0]!;
  const nic = d.interfaces[0];
  return {
    diskBus: data.bus,
    diskCache: data.cache ?? 'default',
    diskIo: data.io ?? 'default',
    nicModel: nic?.model ?? '',
    vhost: nic?.driver === 'vhost',
    iothread: data.iothread !== undefined,
  };
}

async function runGuestConfig(rt: LabRuntime, model: LabModel, c: BenchConfig, o: BenchOptions): Promise<ConfigResult> {
  const w = workload(o.quick);
  const step = (x: string) => o.onStep?.(c.name, x);
  const lab = labFor(model, c);
  const plan = planForHost(lab, rt.paths, o.auto, { diskCache: c.diskCache, diskIo: c.diskIo, vhostNet: o.vhostNet && c.vhostNet });
  const [a, b] = plan.vms;
  if (!a || !b) throw new Error('the bench lab needs two VMs');
  const s: Samples = {};
  await downLab(rt, lab.name, { disks: o.disks });
  try {
    step('up (boot 1)');
    const up = await upLab(rt, plan, { disks: o.disks, bridgeExists: o.bridgeExists });
    const failed = up.vms.filter((v) => !v.ready);
    if (failed.length) throw new Error(`${c.name}: ${failed.map((v) => `${v.name}: ${v.error?.message ?? v.action}`).join('; ')}`);
    // Boot times in seconds; both guests of a boot are samples.
    for (const v of up.vms) {
      add(s, 'bootAgent', v.times!.agent! / 1000);
      add(s, 'bootCloudInit', v.times!.cloudInit! / 1000);
    }
    const xml = Object.fromEntries(await Promise.all(plan.vms.map(async (v) => [v.name, await rt.hypervisor.domainXml(v.domainName)] as const)));
    const agentRunner = (vm: typeof a): CommandRunner => ({
      async run(argv, timeoutMs) {
        const agent = await rt.agentFor(vm.domainName, vm.name);
        try {
          // A container's processes are the host's: its fio gets the host row's huge-page buffers (only the isolation differs).
          const env = c.kind === 'container' && argv[0] === 'fio' ? [`GLIBC_TUNABLES=${HUGE_PAGE_BUFFERS}`] : undefined;
          const r = await agent.exec(argv[0]!, argv.slice(1), { timeoutMs, ...(env ? { env } : {}) });
          return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
        } finally {
          agent.close();
        }
      },
    });
    const ra = agentRunner(a);
    const disk =
      c.kind === 'container'
        ? CONTAINER_FIO_FILE
        : findDiskBySize((await ra.run(['lsblk', '--json', '--bytes', '--nodeps', '--output', 'NAME,SIZE,TYPE'], 30_000)).stdout, lab.vms[0]!.disks[0]!.sizeBytes);
    const peer = b.nics[0]!.address.kind === 'static' ? formatIpv4(b.nics[0]!.address.cidr.address) : '';
    for (let i = 0; i < o.reps; i++) {
      await measureOnce(ra, disk, peer, w, s, (x) => step(`run ${i + 1}/${o.reps}: ${x}`));
    }
    for (let i = 1; i < o.reps; i++) {
      step(`boot ${i + 1}/${o.reps}`);
      for (const t of await Promise.all(plan.vms.map((v) => rebootUntilReady(rt, v)))) {
        add(s, 'bootAgent', t.agent! / 1000);
        add(s, 'bootCloudInit', t.cloudInit! / 1000);
      }
    }
    return {
      name: c.name,
      kind: c.kind,
      ...(c.accel ? { accel: c.accel } : {}),
      profile: c.profile!,
      description: c.description,
      ...(c.kind === 'container' ? {} : { tuning: await tuningFromXml(xml[a.name]!) }),
      metrics: summaries(s),
      xml,
    };
  } finally {
    step('down');
    await downLab(rt, lab.name, { disks: o.disks });
  }
}

/**
 * glibc's malloc asks for transparent huge pages (madvise) for what it maps:
 * fio's I/O buffers then sit in 2 MiB pages, as QEMU's guest RAM does.
 */
export const HUGE_PAGE_BUFFERS = 'glibc.malloc.hugetlb=1';

async function runHost(dataDir: string, o: BenchOptions): Promise<ConfigResult> {
  const w = workload(o.quick);
  const step = (x: string) => o.onStep?.('host', x);
  const s: Samples = {};
  const dir = join(dataDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'fio-host.dat');
  await createBenchNetns();
  try {
    const inA = hostRunner(BENCH_NETNS.a);
    // fio's I/O buffers in transparent huge pages, like a guest's RAM (QEMU asks for THP on it):
    // on this host, direct I/O into 4 KiB pages read 1.1-1.3 GB/s where the same reads into
    // buffers wholly in huge pages (and aligned to them: --iomem_align=2m) did about 3 GB/s, so a
    // host row in small pages was no limit (docs/bench.md).
    const local = hostRunner(undefined, { GLIBC_TUNABLES: HUGE_PAGE_BUFFERS });
    // Not for the CPU task: malloc's huge pages cost its start-up (0.09 s against 0.05 s for 16 MiB, seen here), which a guest does not pay.
    const plain = hostRunner(undefined);
    await withIperfServer(async () => {
      for (let i = 0; i < o.reps; i++) {
        // fio (in huge-page buffers) and the CPU task (as any program starts) on the host itself; iperf3 and ping from namespace a to b.
        const split: CommandRunner = { run: (argv, t) => (argv[0] === 'iperf3' || argv[0] === 'ping' ? inA : argv[0] === 'fio' ? local : plain).run(argv, t) };
        await measureOnce(split, file, BENCH_NETNS_ADDR.b, w, s, (x) => step(`run ${i + 1}/${o.reps}: ${x}`));
      }
    });
  } finally {
    rmSync(file, { force: true });
    await removeBenchNetns();
  }
  return {
    name: 'host',
    kind: 'host',
    description:
      "the host itself: fio with direct I/O on a file of the filesystem holding the guest disks, into buffers in transparent huge pages as a guest's RAM is; iperf3 and ping between two network namespaces joined by a Linux bridge",
    metrics: summaries(s),
  };
}

export async function runBench(rt: LabRuntime, model: LabModel, configs: BenchConfig[], o: BenchOptions): Promise<BenchResults> {
  const version = await rt.hypervisor.version().catch(() => undefined);
  const results: BenchResults = {
    version: 1,
    createdAt: new Date().toISOString(),
    quick: o.quick,
    reps: o.reps,
    host: {
      cores: cpus().length,
      kernel: release(),
      ...(version ? { qemu: version.hypervisor, libvirt: version.libvirt } : {}),
      accelNote: o.auto.accel === 'kvm' ? 'KVM works on this host.' : `KVM rows not run: ${o.auto.reason}.`,
    },
    configs: [],
    refused: [],
  };
  for (const c of configs) {
    const why = refusal(c, { auto: o.auto, vhostNet: o.vhostNet });
    if (why) {
      results.refused.push({ name: c.name, reason: why });
      continue;
    }
    try {
      results.configs.push(c.kind === 'host' ? await runHost(rt.paths.dataDir, o) : await runGuestConfig(rt, model, c, o));
    } catch (e) {
      (results.failed ??= []).push({ name: c.name, error: (e as Error).message });
      o.onStep?.(c.name, `FAILED: ${(e as Error).message}`);
    }
  }
  const limitErrors = hostLimitErrors(results);
  if (limitErrors.length) results.limitErrors = limitErrors;
  return results;
}
