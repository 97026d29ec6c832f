/**
 * `npm run bench:snapshot`: how fast a whole running lab (3 × 512 MiB guests)
 * is checkpointed and reset. Internal snapshots with memory are created and
 * reverted for all VMs in parallel (median/min/max of N, default 5), and the
 * alternative — resetting by rebooting every guest until it is ready again —
 * is measured for comparison (default 3 runs). A reset, as `assignment reset`
 * does it, is the autosave (create), the revert and the wait until every
 * readiness probe passes again. VMLAB_BENCH_LAB picks the lab (the network
 * lab: labs/linux-network.yaml), VMLAB_BENCH_REVERT=restart uses libvirt's
 * revert (a new QEMU) instead of loadvm in the running one.
 * Writes bench-results/snapshot[-<lab>][-restart].json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabForHost, openRuntime, planForHost } from '../lab-ops/host-lab.js';
import { probeAutoAccel } from '../host/accel-probe.js';
import { bridgeExists } from '../host/host-net.js';
import { hostDisks } from '../lab-ops/disks.js';
import { downLab } from '../lab-ops/down.js';
import { rebootUntilReady } from '../lab-ops/reboot.js';
import { createLabSnapshot, deleteLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets } from '../lab-ops/snapshots.js';
import { upLab } from '../lab-ops/up.js';
import { waitLabWorking } from '../lab-ops/working.js';
import { defaultHostPaths } from '../paths.js';
import { summarize, type Summary } from './stats.js';

const REPS = Number(process.env.VMLAB_BENCH_REPS ?? 5);
const REBOOTS = Number(process.env.VMLAB_BENCH_REBOOTS ?? 3);
const FILE = process.env.VMLAB_BENCH_LAB ?? 'labs/bench-3vm.yaml';
const METHOD = process.env.VMLAB_BENCH_REVERT === 'restart' ? 'restart' : 'live';
/** VMLAB_BENCH_REUSE=1: a lab that is up already (from an earlier run) is used as it is, and left up. */
const REUSE = process.env.VMLAB_BENCH_REUSE === '1';
/** Seconds the guests idle before each autosave, as a student's lab does between resets (0: straight after the last revert). */
const IDLE_S = Number(process.env.VMLAB_BENCH_IDLE ?? 0);
/**
 * VMLAB_BENCH_KEEP=1: every autosave is kept until the end, as `assignment reset` keeps them
 * (without it each is deleted after its run: the disk never holds more than two).
 */
const KEEP = process.env.VMLAB_BENCH_KEEP === '1';
const s = (x: Summary) => `${(x.median / 1000).toFixed(2)} s (${(x.min / 1000).toFixed(2)}–${(x.max / 1000).toFixed(2)})`;

async function main(): Promise<void> {
  const paths = defaultHostPaths();
  const auto = probeAutoAccel();
  const lab = loadLabForHost(FILE, paths);
  // VMLAB_BENCH_CACHE=writeback: the same with the host page cache on the guest disks (where vmstate lives).
  const cache = process.env.VMLAB_BENCH_CACHE as 'none' | 'writeback' | undefined;
  const plan = planForHost(lab, paths, auto, cache ? { diskCache: cache, diskIo: cache === 'none' ? 'native' : 'threads' } : {});
  const rt = await openRuntime(paths);
  process.stdout.write(`bench:snapshot on ${FILE} (${plan.vms.length} VMs, accel ${auto.accel}: ${auto.reason}); ${REPS} snapshot runs, ${REBOOTS} reboots\n`);
  try {
    if (!REUSE) await downLab(rt, lab.name, { disks: hostDisks });
    const up = await upLab(rt, plan, { disks: hostDisks, bridgeExists });
    if (!up.vms.every((v) => v.ready)) throw new Error(`lab not ready: ${JSON.stringify(up.vms.map((v) => v.error?.message))}`);
    const targets = await snapshotTargets(rt, lab.name, plan);
    for (const old of await listLabSnapshots(rt, targets)) if (old.name === 'start' || old.name.startsWith('bench-')) await deleteLabSnapshot(rt, lab.name, targets, old.name);
    const create: number[] = [];
    const revert: number[] = [];
    const del: number[] = [];
    const working: number[] = [];
    const reset: number[] = [];
    const agents: number[] = [];
    // The lab has just passed its probes (up), as an assignment's checkpoint has.
    await createLabSnapshot(rt, lab.name, targets, 'start', '', { working: true });
    for (let i = 0; i < REPS; i++) {
      if (IDLE_S > 0) await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const t0 = performance.now();
      const c = await createLabSnapshot(rt, lab.name, targets, `bench-${i}`);
      create.push(c.ms);
      const r = await revertLabSnapshot(rt, lab.name, targets, 'start', { method: METHOD });
      revert.push(r.ms);
      const w = await waitLabWorking(rt, plan, { after: r });
      working.push(w.ms);
      // The reset's wall time, lock and listing included, as a student waits for it.
      reset.push(Math.round(performance.now() - t0));
      // Not part of it: until every guest agent answers again (a first check waits for that).
      const a0 = performance.now();
      await Promise.all(
        targets.map(async (t) => {
          const agent = await rt.agentFor(t.domain, t.vm);
          try {
            await agent.ping(5000);
          } finally {
            agent.close();
          }
        }),
      );
      agents.push(Math.round(performance.now() - a0));
      const d = KEEP ? undefined : await deleteLabSnapshot(rt, lab.name, targets, `bench-${i}`);
      if (d) del.push(d.ms);
      process.stdout.write(
        `  run ${i + 1}: create ${(c.ms / 1000).toFixed(2)} s, revert ${(r.ms / 1000).toFixed(2)} s (${r.vms.map((v) => `${v.vm} ${(v.ms / 1000).toFixed(2)}`).join(', ')}), working ${(w.ms / 1000).toFixed(2)} s later (probed: ${w.probed}), agents ${(agents[i]! / 1000).toFixed(2)} s after that${d ? `, delete ${(d.ms / 1000).toFixed(2)} s` : ''}\n`,
      );
    }
    if (KEEP) for (let i = 0; i < REPS; i++) del.push((await deleteLabSnapshot(rt, lab.name, targets, `bench-${i}`)).ms);
    // The alternative reset: every guest reboots (what discarding a disk overlay costs too).
    const reboot: number[] = [];
    for (let i = 0; i < REBOOTS; i++) {
      const t0 = Date.now();
      await Promise.all(plan.vms.map((vm) => rebootUntilReady(rt, vm)));
      reboot.push(Date.now() - t0);
      process.stdout.write(`  reboot ${i + 1}: all ${plan.vms.length} ready again in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    if (REUSE) await deleteLabSnapshot(rt, lab.name, targets, 'start');
    else await downLab(rt, lab.name, { disks: hostDisks });
    const results = {
      lab: lab.name,
      vms: plan.vms.length,
      memoryMiB: plan.vms[0]!.memoryMiB,
      accel: auto,
      method: `libvirt internal snapshots (qcow2), memory included, all VMs in parallel; revert ${METHOD === 'live' ? 'by loadvm in the running QEMU' : 'by libvirt (a new QEMU)'}`,
      createMs: summarize(create),
      revertMs: summarize(revert),
      deleteMs: summarize(del),
      workingMs: summarize(working),
      resetMs: summarize(reset),
      agentsAnswerAfterResetMs: summarize(agents),
      diskCache: cache ?? 'none',
      idleBeforeAutosaveS: IDLE_S,
      autosavesKept: KEEP,
      ...(reboot.length ? { rebootResetMs: summarize(reboot) } : {}),
      target: 'reset (autosave + revert + working) <= 3 s',
    };
    const rows = [
      ['snapshot create (lab)', s(results.createMs)],
      ['snapshot revert (lab)', s(results.revertMs)],
      ['snapshot delete (lab)', s(results.deleteMs)],
      ['every probe passes after revert', s(results.workingMs)],
      ['reset = autosave + revert + working', s(results.resetMs)],
      ['then every agent answers', s(results.agentsAnswerAfterResetMs)],
      ...(results.rebootResetMs ? [['reset by reboot until ready', s(results.rebootResetMs)]] : []),
    ];
    process.stdout.write('\n' + rows.map(([a, b]) => `${a!.padEnd(32)} ${b}`).join('\n') + '\n');
    process.stdout.write(
      `reset target <= 3 s: ${results.resetMs.median <= 3000 ? 'met' : 'NOT met'}; ${results.rebootResetMs ? `revert is ${(results.rebootResetMs.median / results.revertMs.median).toFixed(0)}x faster than rebooting` : ''}\n`,
    );
    mkdirSync('bench-results', { recursive: true });
    const out = join(
      'bench-results',
      `snapshot${FILE === 'labs/bench-3vm.yaml' ? '' : `-${lab.name}`}${cache ? `-${cache}` : ''}${METHOD === 'restart' ? '-restart' : ''}${IDLE_S ? `-idle${IDLE_S}` : ''}${KEEP ? '-keep' : ''}.json`,
    );
    writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    rt.hypervisor.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:snapshot failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
