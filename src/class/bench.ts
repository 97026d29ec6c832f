/**
 * `npm run bench:class`: a class on this host.
 * 1. Bring-up of N = 1, 2, 4 students' copies of a 1-VM lab (all N at once),
 *    VMLAB_BENCH_REPS times each (default 3): wall time, the median student,
 *    and vmlab's own share (CPU time of this process over the wall time).
 * 2. Memory per idle guest as the host pays for it (QEMU's resident set), on
 *    the 4 copies after they idled: as booted; after the guests drop their
 *    caches (free page reporting hands freed pages back); after ballooning
 *    each guest to half its RAM; and what KSM merges, where the kernel has it.
 * 3. From those, the largest class of such guests this host holds (computed
 *    from the measured figures and MemAvailable less vmlab's reserve: not booted).
 * Writes bench-results/class.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { classDown } from './ops.js';
import { classUp } from './up.js';

const REPS = Number(process.env.VMLAB_BENCH_REPS ?? 3);
const SIZES = (process.env.VMLAB_BENCH_SIZES ?? '1,2,4').split(',').map(Number);
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
    limits: { parallelBoots: n },
  };
}

const rss = (domains: string[]): number[] => domains.map((d) => qemuRssBytes(d) ?? NaN);

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
    const bringUp: Array<{ students: number; wallMs: Summary; studentMs: Summary; vmlabCpuShare: Summary }> = [];
    for (const n of SIZES) {
      const wall: number[] = [];
      const student: number[] = [];
      const share: number[] = [];
      for (let i = 0; i < REPS; i++) {
        await classDown(rt, 'bench', up);
        const cpu0 = process.cpuUsage();
        const t0 = Date.now();
        const r = await classUp(rt, ctxOf(n), up);
        const ms = Date.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        if (!r.students.every((s) => s.ok)) throw new Error(`class of ${n} not ready: ${JSON.stringify(r.students.map((s) => s.error?.message))}`);
        wall.push(ms);
        student.push(...r.students.map((s) => s.seconds * 1000));
        share.push((cpu.user + cpu.system) / 1000 / ms);
        process.stdout.write(
          `  ${n} student(s), run ${i + 1}: ${(ms / 1000).toFixed(1)} s (students ${r.students.map((s) => s.seconds.toFixed(1)).join(', ')} s), vmlab CPU ${(((cpu.user + cpu.system) / 1000 / ms) * 100).toFixed(1)} %\n`,
        );
      }
      bringUp.push({ students: n, wallMs: summarize(wall), studentMs: summarize(student), vmlabCpuShare: summarize(share) });
    }

    // Memory of idle guests, on the last (largest) class, left up.
    const n = SIZES[SIZES.length - 1]!;
    const domains = ctxOf(n).copies.map((c) => planForHost(c.lab, paths, auto).vms[0]!.domainName);
    process.stdout.write(`  ${n} guests idle for ${IDLE_S} s\n`);
    await sleep(IDLE_S * 1000);
    const booted = rss(domains);
    for (const d of domains) await guestRun(rt, d, ['sh', '-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
    await sleep(15_000); // free page reporting works in 2 MiB blocks after a short delay
    const dropped = rss(domains);
    const guestMiB = lab.vms[0]!.memoryBytes / MiB;
    for (const d of domains) await execa('virsh', ['-c', 'qemu:///system', 'setmem', d, `${Math.round(guestMiB / 2)}M`, '--live']);
    await sleep(15_000);
    const ballooned = rss(domains);
    let ksm: { available: boolean; savedPerGuestBytes?: number; fullScans?: number } = { available: existsSync(join(KSM, 'run')) };
    if (ksm.available) {
      const before = {
        run: readFileSync(join(KSM, 'run'), 'utf8').trim(),
        pages: readFileSync(join(KSM, 'pages_to_scan'), 'utf8').trim(),
        sleep: readFileSync(join(KSM, 'sleep_millisecs'), 'utf8').trim(),
      };
      try {
        ksmWrite('pages_to_scan', '20000');
        ksmWrite('sleep_millisecs', '10');
        ksmWrite('run', '1');
        const scans0 = ksmRead('full_scans');
        const deadline = Date.now() + 120_000;
        while (ksmRead('full_scans') < scans0 + 2 && Date.now() < deadline) await sleep(1000);
        const sharing = ksmRead('pages_sharing');
        ksm = { available: true, savedPerGuestBytes: (sharing * 4096) / domains.length, fullScans: ksmRead('full_scans') - scans0 };
      } catch (e) {
        ksm = { available: false };
        process.stdout.write(`  KSM not usable here: ${(e as Error).message}\n`);
      } finally {
        // Unmerge everything and put the host's settings back.
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
    await classDown(rt, 'bench', up);
    const med = (xs: number[]) => summarize(xs.filter((x) => Number.isFinite(x))).median;
    const perGuest = {
      booted: med(booted),
      cachesDropped: med(dropped),
      ballooned: med(ballooned),
      ...(ksm.savedPerGuestBytes !== undefined ? { ksm: med(ballooned) - ksm.savedPerGuestBytes } : {}),
    };
    const room = memFree - reserveOf(memFree);
    const fits = Object.fromEntries(Object.entries(perGuest).map(([k, v]) => [k, Math.floor(room / v)]));
    const results = {
      lab: FILE,
      guestMiB,
      accel: auto,
      bringUp,
      memory: { perGuestBytes: perGuest, samples: { booted, dropped, ballooned }, ksm, memAvailableBytes: memFree, roomBytes: room },
      largestClass: fits,
    };
    process.stdout.write(
      [
        '',
        'students  bring-up (all at once)   median student   vmlab CPU share',
        ...bringUp.map((b) => `${String(b.students).padEnd(9)} ${sec(b.wallMs).padEnd(24)} ${sec(b.studentMs).padEnd(16)} ${(b.vmlabCpuShare.median * 100).toFixed(1)} %`),
        '',
        `memory of an idle ${guestMiB} MiB guest (QEMU resident, median of ${domains.length}): booted ${mib(perGuest.booted)}, caches dropped ${mib(perGuest.cachesDropped)}, ballooned to ${guestMiB / 2} MiB ${mib(perGuest.ballooned)}${perGuest.ksm !== undefined ? `, with KSM ${mib(perGuest.ksm)}` : ', KSM not available'}`,
        `largest class of such guests on this host (${mib(room)} after the reserve; computed, not booted): ${Object.entries(fits)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      ].join('\n') + '\n',
    );
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
