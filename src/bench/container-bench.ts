/**
 * `npm run bench:containers`: what a container costs, next to a VM.
 * 1. Unpacking the image's root file system (once per image version), timed on a scratch folder.
 * 2. Start → ready of one container, VMLAB_BENCH_REPS times (default 5): from the start request
 *    to its init running, its way in (nsenter) answering, and cloud-init done.
 * 3. Memory of idle containers: the 8 of labs/bench-containers.yaml up, idle VMLAB_BENCH_IDLE s
 *    (default 30): the proportional set size of each one's processes (shared pages split between
 *    their users: the image's libraries are one page cache for all) and the host's MemAvailable
 *    drop per container (everything it costs, kernel objects included).
 * 4. From those, how many such idle containers this host holds (MemAvailable less vmlab's
 *    reserve; computed, not started). Writes bench-results/containers.json.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeExists } from '../host/host-net.js';
import { memAvailableBytes } from '../host/host-room.js';
import { ensureRootfs } from '../host/rootfs.js';
import type { LabModel } from '../lab/model.js';
import { downLab } from '../lab-ops/down.js';
import { hostDisks } from '../lab-ops/disks.js';
import { loadLabForHost, openRuntime, planForHost } from '../lab-ops/host-lab.js';
import { upLab } from '../lab-ops/up.js';
import { reserveOf } from '../plan/class-plan.js';
import { defaultHostPaths } from '../paths.js';
import { summarize, type Summary } from './stats.js';

const REPS = Number(process.env.VMLAB_BENCH_REPS ?? 5);
const IDLE_S = Number(process.env.VMLAB_BENCH_IDLE ?? 30);
const FILE = 'labs/bench-containers.yaml';
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (x: Summary) => `${(x.median / 1000).toFixed(2)} s (${(x.min / 1000).toFixed(2)}–${(x.max / 1000).toFixed(2)})`;

/** Sum of Pss over every process of the container (read inside it: its /proc is its pid namespace). */
export function pssBytes(smapsRollups: string): number {
  return [...smapsRollups.matchAll(/^Pss:\s+(\d+) kB/gm)].reduce((sum, m) => sum + Number(m[1]) * 1024, 0);
}

async function main(): Promise<void> {
  const paths = defaultHostPaths();
  const lab = loadLabForHost(FILE, paths);
  const one: LabModel = { ...lab, name: 'bench-container-one', vms: lab.vms.slice(0, 1).map((v) => ({ ...v, name: 'ct' })) };
  const rt = await openRuntime(paths);
  const up = { disks: hostDisks, bridgeExists };
  try {
    // 1. Unpacking, on a scratch folder (the cache's own copy stays).
    const image = rt.images.resolve('debian-12');
    const scratch = join(paths.dataDir, 'bench', 'rootfs-unpack');
    rmSync(scratch, { recursive: true, force: true });
    const tu = Date.now();
    await ensureRootfs(image, scratch);
    const unpackMs = Date.now() - tu;
    rmSync(scratch, { recursive: true, force: true });
    process.stdout.write(`unpacking ${image}'s root file system: ${(unpackMs / 1000).toFixed(1)} s (once per image version)\n`);

    // 2. Start → ready, one container.
    const plan = planForHost(one, paths);
    const times = { running: [] as number[], agent: [] as number[], cloudInit: [] as number[] };
    await downLab(rt, one.name, up);
    for (let i = 0; i < REPS; i++) {
      const r = await upLab(rt, plan, up);
      const t = r.vms[0]!;
      if (!t.ready || !t.times) throw new Error(`the container did not come up: ${t.error?.message ?? t.action}`);
      times.running.push(t.times.running!);
      times.agent.push(t.times.agent!);
      times.cloudInit.push(t.times.cloudInit!);
      process.stdout.write(`  start ${i + 1}/${REPS}: running ${t.times.running} ms, nsenter answers ${t.times.agent} ms, cloud-init done ${t.times.cloudInit} ms\n`);
      await downLab(rt, one.name, up);
    }
    const start = { running: summarize(times.running), agent: summarize(times.agent), cloudInit: summarize(times.cloudInit) };

    // 3. Idle memory.
    await downLab(rt, lab.name, up);
    await sleep(5000);
    const before = memAvailableBytes();
    const many = planForHost(lab, paths);
    const r = await upLab(rt, many, up);
    if (!r.vms.every((v) => v.ready)) throw new Error(`not every container came up: ${r.vms.filter((v) => !v.ready).map((v) => v.name)}`);
    process.stdout.write(`  ${many.vms.length} containers idle for ${IDLE_S} s\n`);
    await sleep(IDLE_S * 1000);
    const after = memAvailableBytes();
    const pss: number[] = [];
    for (const v of many.vms) {
      const g = await rt.agentFor(v.domainName, v.name);
      const x = await g.exec('/bin/sh', ['-c', 'cat /proc/[0-9]*/smaps_rollup 2>/dev/null']);
      pss.push(pssBytes(x.stdout));
    }
    await downLab(rt, lab.name, up);
    const perContainer = { pss: summarize(pss).median, memAvailableDrop: (before - after) / many.vms.length };
    const room = before - reserveOf(before);
    const fits = { byPss: Math.floor(room / perContainer.pss), byMemAvailable: Math.floor(room / perContainer.memAvailableDrop) };
    const results = {
      lab: FILE,
      reps: REPS,
      unpackMs,
      startMs: start,
      memory: { perContainerBytes: perContainer, pssSamples: pss, memAvailableBefore: before, memAvailableAfter: after, roomBytes: room },
      largestIdle: fits,
    };
    process.stdout.write(
      [
        '',
        `start → ready of one container, median of ${REPS}: running ${s(start.running)}, nsenter answers ${s(start.agent)}, cloud-init done ${s(start.cloudInit)}`,
        `memory of an idle container (median of ${pss.length}): PSS ${(perContainer.pss / MiB).toFixed(1)} MiB; MemAvailable drop ${(perContainer.memAvailableDrop / MiB).toFixed(1)} MiB per container`,
        `idle containers this host holds (${(room / MiB).toFixed(0)} MiB after the reserve; computed, not started): ${fits.byMemAvailable} by MemAvailable, ${fits.byPss} by PSS`,
      ].join('\n') + '\n',
    );
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(join('bench-results', 'containers.json'), JSON.stringify(results, null, 2) + '\n');
    process.stdout.write('wrote bench-results/containers.json\n');
  } finally {
    rt.hypervisor.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:containers failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
