/**
 * `npm run bench:up`: time from `vmlab up` to every guest ready, for a 1-VM,
 * the quickstart (2-VM) and a 4-VM lab; median/min/max of N runs (default 3),
 * the split (disks+define, boot to agent, cloud-init), vmlab's own share and
 * the cost of a linked clone. Prints a table, writes bench-results/up.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { probeAutoAccel } from '../host/accel-probe.js';
import { bridgeExists } from '../host/host-net.js';
import { createLinkedClone } from '../host/qemu-img.js';
import { hostDisks } from '../lab-ops/disks.js';
import { downLab } from '../lab-ops/down.js';
import { upLab } from '../lab-ops/up.js';
import { loadLabForHost, openRuntime, planForHost } from '../lab-ops/host-lab.js';
import { defaultHostPaths } from '../paths.js';
import { summarize, type Summary } from './stats.js';

const REPS = Number(process.env.VMLAB_BENCH_REPS ?? 3);
const LABS = (process.env.VMLAB_BENCH_LABS ?? 'labs/bench-1vm.yaml,labs/quickstart.yaml,labs/bench-4vm.yaml').split(',');

interface Run {
  wall: number;
  own: number;
  perVm: Array<{ disks: number; define: number; agent: number; cloudInit: number }>;
}

const fmt = (s: Summary, unit = 's', div = 1000) => `${(s.median / div).toFixed(1)}${unit} (${(s.min / div).toFixed(1)}–${(s.max / div).toFixed(1)})`;

async function main(): Promise<void> {
  const paths = defaultHostPaths();
  const auto = probeAutoAccel();
  const rt = await openRuntime(paths);
  const results: Record<string, unknown> = {};
  process.stdout.write(`bench:up, ${REPS} runs per lab, accel auto = ${auto.accel} (${auto.reason})\n`);
  try {
    // Linked clone cost, alone.
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-clone-'));
    const base = rt.images.resolve('debian-12');
    const clones: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await createLinkedClone(base, join(dir, `c${i}.qcow2`));
      clones.push(performance.now() - t);
    }
    rmSync(dir, { recursive: true, force: true });
    const clone = summarize(clones);
    results.linkedCloneMs = clone;
    process.stdout.write(`linked clone (qemu-img create -b): median ${clone.median.toFixed(1)} ms over 20 (target <= 100 ms)\n`);

    for (const file of LABS) {
      const lab = loadLabForHost(file, paths);
      const plan = planForHost(lab, paths, auto);
      const runs: Run[] = [];
      for (let r = 0; r < REPS; r++) {
        await downLab(rt, lab.name, { disks: hostDisks });
        const t0 = Date.now();
        const res = await upLab(rt, plan, { disks: hostDisks, bridgeExists });
        const wall = Date.now() - t0;
        if (!res.vms.every((v) => v.ready)) throw new Error(`${file}: not every VM became ready: ${JSON.stringify(res.vms.map((v) => v.error?.message))}`);
        const starts = res.vms.map((v) => v.times!.startAt!);
        const readies = res.vms.map((v) => v.times!.readyAt!);
        const own = Math.min(...starts) + (wall - Math.max(...readies));
        runs.push({ wall, own, perVm: res.vms.map((v) => ({ disks: v.times!.disks!, define: v.times!.define!, agent: v.times!.agent!, cloudInit: v.times!.cloudInit! })) });
        process.stdout.write(`  ${lab.name} run ${r + 1}: ${(wall / 1000).toFixed(1)} s (vmlab's own ${(own / 1000).toFixed(2)} s)\n`);
      }
      await downLab(rt, lab.name, { disks: hostDisks });
      const all = runs.flatMap((x) => x.perVm);
      results[lab.name] = {
        vms: plan.vms.length,
        wallMs: summarize(runs.map((x) => x.wall)),
        ownMs: summarize(runs.map((x) => x.own)),
        ownShare: summarize(runs.map((x) => x.own / x.wall)),
        disksMs: summarize(all.map((x) => x.disks)),
        defineMs: summarize(all.map((x) => x.define)),
        bootToAgentMs: summarize(all.map((x) => x.agent)),
        agentToCloudInitMs: summarize(all.map((x) => x.cloudInit - x.agent)),
      };
    }
  } finally {
    rt.hypervisor.close();
  }
  const names = Object.keys(results).filter((k) => k !== 'linkedCloneMs');
  const row = (k: string) => results[k] as Record<string, Summary> & { vms: number };
  const lines = [
    '',
    '| lab | VMs | up → all ready | disks+seed | define | start → agent | agent → cloud-init done | vmlab own share |',
    '|-----|-----|----------------|------------|--------|---------------|-------------------------|-----------------|',
    ...names.map((k) => {
      const r = row(k);
      return `| ${k} | ${r.vms} | ${fmt(r.wallMs!)} | ${fmt(r.disksMs!, ' ms', 1)} | ${fmt(r.defineMs!, ' ms', 1)} | ${fmt(r.bootToAgentMs!)} | ${fmt(r.agentToCloudInitMs!)} | ${(r.ownShare!.median * 100).toFixed(1)}% |`;
    }),
  ];
  const one = names.find((k) => row(k).vms === 1);
  const four = names.find((k) => row(k).vms === 4);
  if (one && four) {
    const ratio = row(four).wallMs!.median / row(one).wallMs!.median;
    results.ratio4to1 = ratio;
    lines.push('', `4-VM lab / 1-VM lab: ${ratio.toFixed(2)}x (under TCG on 2 cores this is CPU-bound; the KVM target is <= 1.5x)`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  const out = process.env.VMLAB_BENCH_OUT ?? 'bench-results';
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'up.json'), JSON.stringify({ benchmark: 'up', reps: REPS, accel: auto, date: new Date().toISOString(), results }, null, 2) + '\n');
  process.stdout.write(`written ${join(out, 'up.json')}\n`);
}

main().catch((e: Error & { hint?: string }) => {
  process.stderr.write(`bench:up failed: ${e.message}\n${e.hint ?? ''}\n`);
  process.exitCode = 1;
});
