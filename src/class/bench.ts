/**
 * `npm run bench:class`: a class on this host.
 * 1. Bring-up of N students' copies of a 1-VM lab (512 MiB), forked (one boot, the others forked
 *    from it: VMLAB_BENCH_SIZES, default 1,4,8,16) and booted cold (VMLAB_BENCH_COLD_SIZES, default
 *    1,4: cold boots of 2 cores' worth at a time only grow linearly from there), VMLAB_BENCH_REPS
 *    runs each (default 3): wall time, the median student, vmlab's own CPU share.
 * 2. Memory per idle guest as the host pays for it (QEMU's resident set) on the largest forked
 *    class after it idled: as forked; after the guests drop their caches; ballooned to half; and
 *    with KSM merging (forked copies share almost all their memory), where the kernel has it.
 * 3. From those, how many idle students of the quickstart lab (2 such guests) this host admits
 *    (computed from the measured figures and MemAvailable less vmlab's reserve: not booted).
 * 4. Suspend and resume of one copy (managed save, then up), VMLAB_BENCH_REPS times.
 * Writes bench-results/class.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { probeAutoAccel } from '../host/accel-probe.js';
import { bridgeExists } from '../host/host-net.js';
import { memAvailableBytes, qemuRssBytes } from '../host/host-room.js';
import type { ClassModel } from '../lab/class-file.js';
import { hostDisks } from '../lab-ops/disks.js';
import { loadLabForHost, openRuntime, planForHost } from '../lab-ops/host-lab.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { classCopies, reserveOf } from '../plan/class-plan.js';
import { defaultHostPaths } from '../paths.js';
import { summarize, type Summary } from '../bench/stats.js';
import type { ClassContext } from './context.js';
import { downLab } from '../lab-ops/down.js';
import { suspendLab } from '../lab-ops/suspend.js';
import { upLab, type UpOptions } from '../lab-ops/up.js';
import type { HostPaths } from '../paths.js';
import type { AutoAccel } from '../plan/plan.js';
import { classDown } from './ops.js';
import { classUp, measuredGuestFile } from './up.js';
import type { MeasuredGuest } from '../plan/class-plan.js';

const REPS = Number(process.env.VMLAB_BENCH_REPS ?? 3);
const sizes = (text: string) => text.split(',').filter(Boolean).map(Number);
const SIZES = sizes(process.env.VMLAB_BENCH_SIZES ?? '1,4,8,16');
const COLD_SIZES = sizes(process.env.VMLAB_BENCH_COLD_SIZES ?? '1,4');
const IDLE_S = Number(process.env.VMLAB_BENCH_IDLE ?? 60);
const FILE = 'labs/bench-1vm.yaml';
const MiB = 2 ** 20;
const sec = (x: Summary) => `${(x.median / 1000).toFixed(1)} s (${(x.min / 1000).toFixed(1)}–${(x.max / 1000).toFixed(1)})`;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function benchClass(n: number): ClassModel {
  return {
    name: 'bench',
    title: 'bench',
    file: 'bench',
    source: { kind: 'lab', file: FILE },
    students: Array.from({ length: n }, (_, i) => ({ id: `s${i + 1}` })),
    rosterFile: 'bench',
    // vmlab's default: as many boots (or forks) at a time as the host's cores allow.
    limits: {},
    hostKeys: 'shared',
  };
}

const rss = (domains: string[]): number[] => domains.map((d) => qemuRssBytes(d) ?? NaN);

interface BringUp {
  made: 'fork' | 'boot';
  students: number;
  wallMs: Summary;
  studentMs: Summary;
  /** Forked copies only: each one's time from the start of its fork to ready. */
  forkMs?: Summary;
  vmlabCpuShare: Summary;
}

async function guestRun(rt: LabRuntime, domain: string, argv: string[]): Promise<void> {
  const agent = await rt.agentFor(domain, domain);
  try {
    const r = await agent.exec(argv[0]!, argv.slice(1), { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new Error(`${domain}: ${argv.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  } finally {
    agent.close();
  }
}

const KSM = '/sys/kernel/mm/ksm';
const ksmRead = (f: string) => Number(readFileSync(join(KSM, f), 'utf8').trim());
const ksmWrite = (f: string, v: string) => writeFileSync(join(KSM, f), v);
const ksmText = (f: string) => readFileSync(join(KSM, f), 'utf8').trim();

/**
 * What KSM merges of `guests` idle guests: turned on with a fast scan until what it merges levels
 * off, then everything unmerged and the host's settings put back.
 */
async function measureKsm(guests: number): Promise<{ available: boolean; savedPerGuestBytes?: number; fullScans?: number; mergingSeconds?: number; why?: string }> {
  if (!existsSync(join(KSM, 'run'))) return { available: false, why: 'no /sys/kernel/mm/ksm in this kernel' };
  const before = { run: ksmText('run'), pages: ksmText('pages_to_scan'), sleep: ksmText('sleep_millisecs') };
  try {
    ksmWrite('pages_to_scan', '20000');
    ksmWrite('sleep_millisecs', '10');
    ksmWrite('run', '1');
    // Until what it merges levels off (under 1 % more in 20 s), at least 60 s, at most 5 min: a
    // count of full scans says little where the kernel skips pages that did not merge before (smart_scan).
    const scans0 = ksmRead('full_scans');
    const t0 = Date.now();
    const seen: number[] = [];
    for (;;) {
      await sleep(10_000);
      seen.push(ksmRead('pages_sharing'));
      const now = seen[seen.length - 1]!;
      const before = seen[seen.length - 3];
      if (Date.now() - t0 >= 300_000) break;
      if (Date.now() - t0 >= 60_000 && before !== undefined && now - before <= now / 100) break;
    }
    return { available: true, savedPerGuestBytes: (ksmRead('pages_sharing') * 4096) / guests, fullScans: ksmRead('full_scans') - scans0, mergingSeconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    process.stdout.write(`  KSM not usable here: ${(e as Error).message}\n`);
    return { available: false, why: (e as Error).message };
  } finally {
    try {
      ksmWrite('run', '2');
      ksmWrite('run', before.run);
      ksmWrite('pages_to_scan', before.pages);
      ksmWrite('sleep_millisecs', before.sleep);
    } catch {
      /* reported above */
    }
  }
}

/** One copy of the 1-VM lab suspended (managed save) and brought up again, REPS times. */
async function suspendResume(rt: LabRuntime, paths: HostPaths, auto: AutoAccel, up: UpOptions): Promise<{ suspendMs: Summary; resumeMs: Summary }> {
  const plan = planForHost(loadLabForHost(FILE, paths), paths, auto);
  const s: number[] = [];
  const r: number[] = [];
  try {
    const first = await upLab(rt, plan, up);
    if (!first.vms.every((v) => v.ready)) throw new Error(`${FILE} not ready`);
    for (let i = 0; i < REPS; i++) {
      const t0 = Date.now();
      await suspendLab(rt, plan.lab.name);
      s.push(Date.now() - t0);
      const t1 = Date.now();
      const again = await upLab(rt, plan, up);
      if (!again.vms.every((v) => v.ready && v.action === 'resumed')) throw new Error(`up after suspend: ${JSON.stringify(again.vms.map((v) => v.action))}`);
      r.push(Date.now() - t1);
    }
  } finally {
    await downLab(rt, plan.lab.name, { disks: up.disks });
  }
  return { suspendMs: summarize(s), resumeMs: summarize(r) };
}

async function main(): Promise<void> {
  const paths = defaultHostPaths();
  const auto = probeAutoAccel();
  const lab = loadLabForHost(FILE, paths);
  const rt = await openRuntime(paths);
  const up = { disks: hostDisks, bridgeExists };
  process.stdout.write(`bench:class on ${FILE} (1 VM of ${lab.vms[0]!.memoryBytes / MiB} MiB per student, accel ${auto.accel}: ${auto.reason}); sizes ${SIZES.join(', ')}, ${REPS} runs each\n`);
  const ctxOf = (n: number): ClassContext => {
    const cls = benchClass(n);
    return { cls, lab, copies: classCopies(cls, lab), plan: (l) => planForHost(l, paths, auto) };
  };
  try {
    await classDown(rt, 'bench', up);
    const memFree = memAvailableBytes();
    const bringUp: BringUp[] = [];
    const runs: Array<{ made: 'fork' | 'boot'; sizes: number[] }> = [
      { made: 'boot', sizes: COLD_SIZES },
      // The largest forked class last: it stays up for the memory figures.
      { made: 'fork', sizes: SIZES },
    ];
    for (const { made, sizes } of runs) {
      for (const n of sizes) {
        const wall: number[] = [];
        const student: number[] = [];
        const share: number[] = [];
        const forkSeconds: number[] = [];
        for (let i = 0; i < REPS; i++) {
          await classDown(rt, 'bench', up);
          const cpu0 = process.cpuUsage();
          const t0 = Date.now();
          const r = await classUp(rt, ctxOf(n), { ...up, noFork: made === 'boot' });
          const ms = Date.now() - t0;
          const cpu = process.cpuUsage(cpu0);
          if (!r.students.every((s) => s.ok)) throw new Error(`class of ${n} not ready: ${JSON.stringify(r.students.map((s) => s.error?.message))}`);
          wall.push(ms);
          student.push(...r.students.map((s) => s.seconds * 1000));
          forkSeconds.push(...r.students.filter((s) => s.made === 'fork').map((s) => s.seconds * 1000));
          share.push((cpu.user + cpu.system) / 1000 / ms);
          process.stdout.write(
            `  ${made} ${n} student(s), run ${i + 1}: ${(ms / 1000).toFixed(1)} s (students ${r.students.map((s) => `${s.seconds.toFixed(1)}${s.made === 'fork' ? 'f' : 'b'}`).join(', ')} s), vmlab CPU ${(((cpu.user + cpu.system) / 1000 / ms) * 100).toFixed(1)} %\n`,
          );
        }
        bringUp.push({ made, students: n, wallMs: summarize(wall), studentMs: summarize(student), ...(forkSeconds.length ? { forkMs: summarize(forkSeconds) } : {}), vmlabCpuShare: summarize(share) });
      }
    }

    // Memory of idle guests, on the last (largest) class, left up: forked, so KSM has the most to merge.
    const n = SIZES[SIZES.length - 1]!;
    const domains = ctxOf(n).copies.map((c) => planForHost(c.lab, paths, auto).vms[0]!.domainName);
    process.stdout.write(`  ${n} forked guests idle for ${IDLE_S} s\n`);
    await sleep(IDLE_S * 1000);
    const idle = rss(domains);
    const ksm = await measureKsm(domains.length);
    for (const d of domains) await guestRun(rt, d, ['sh', '-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
    await sleep(15_000); // free page reporting works in 2 MiB blocks after a short delay
    const dropped = rss(domains);
    const guestMiB = lab.vms[0]!.memoryBytes / MiB;
    for (const d of domains) await execa('virsh', ['-c', 'qemu:///system', 'setmem', d, `${Math.round(guestMiB / 2)}M`, '--live']);
    await sleep(15_000);
    const ballooned = rss(domains);
    await classDown(rt, 'bench', up);
    const suspend = await suspendResume(rt, paths, auto, up);
    const med = (xs: number[]) => summarize(xs.filter((x) => Number.isFinite(x))).median;
    const perGuest = {
      idle: med(idle),
      ...(ksm.savedPerGuestBytes !== undefined ? { ksm: med(idle) - ksm.savedPerGuestBytes } : {}),
      cachesDropped: med(dropped),
      ballooned: med(ballooned),
    };
    const room = memFree - reserveOf(memFree);
    const fits = Object.fromEntries(Object.entries(perGuest).map(([k, v]) => [k, Math.floor(room / v)]));
    const results = {
      lab: FILE,
      guestMiB,
      accel: auto,
      bringUp,
      memory: { perGuestBytes: perGuest, samples: { idle, dropped, ballooned }, ksm, memAvailableBytes: memFree, roomBytes: room },
      /** Idle guests of this size the host holds, by each figure; a quickstart student has two. */
      largestClass: fits,
      suspend,
    };
    const row = (b: BringUp) =>
      `${b.made.padEnd(5)} ${String(b.students).padEnd(9)} ${sec(b.wallMs).padEnd(24)} ${sec(b.studentMs).padEnd(18)} ${(b.forkMs ? sec(b.forkMs) : '-').padEnd(18)} ${(b.vmlabCpuShare.median * 100).toFixed(1)} %`;
    process.stdout.write(
      [
        '',
        `made  students  class up, wall           median student     one fork           vmlab CPU share`,
        ...bringUp.map(row),
        '',
        `memory of an idle ${guestMiB} MiB guest, forked (QEMU resident, median of ${domains.length}): ${mib(perGuest.idle)}${perGuest.ksm !== undefined ? `; with KSM ${mib(perGuest.ksm)} (merged for ${ksm.mergingSeconds?.toFixed(0)} s)` : '; KSM not available'}; caches dropped ${mib(perGuest.cachesDropped)}; ballooned to ${guestMiB / 2} MiB ${mib(perGuest.ballooned)}`,
        `idle guests of this size on this host (${mib(room)} after the reserve; computed, not booted): ${Object.entries(fits)
          .map(([k, v]) => `${k} ${v} (${Math.floor(v / 2)} quickstart students)`)
          .join(', ')}`,
        `suspend of one copy ${sec(suspend.suspendMs)}, up from it ${sec(suspend.resumeMs)}`,
      ].join('\n') + '\n',
    );
    // What admission counts for a guest on this host from now on (class/up.ts measuredGuest).
    const measured: MeasuredGuest = {
      accel: auto.accel === 'kvm' ? 'kvm' : 'tcg',
      guestBytes: lab.vms[0]!.memoryBytes,
      residentBytes: perGuest.idle,
      samples: domains.length,
      at: new Date().toISOString(),
      source: 'npm run bench:class, idle forked guests, before KSM',
    };
    mkdirSync(dirname(measuredGuestFile(paths.dataDir)), { recursive: true });
    writeFileSync(measuredGuestFile(paths.dataDir), JSON.stringify(measured, null, 2) + '\n');
    process.stdout.write(`admission on this host now counts a guest as measured: wrote ${measuredGuestFile(paths.dataDir)}\n`);
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(join('bench-results', 'class.json'), JSON.stringify(results, null, 2) + '\n');
    process.stdout.write('wrote bench-results/class.json\n');
  } finally {
    rt.hypervisor.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:class failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
