import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { VmlabError } from '../../errors.js';
import { layoutDot } from '../../host/graphviz.js';
import { loadLab } from '../../lab/load.js';
import { defaultHostPaths } from '../../paths.js';
import { planLab } from '../../plan/plan.js';
import { renderGraphDot } from '../../render/graph-dot.js';
import { emit, reportErrors } from '../output.js';
import { parseAutoAccel } from './render.js';

interface GraphOpts {
  out: string[];
  json?: boolean;
  autoAccel?: string;
}

const FORMATS = ['.svg', '.png', '.dot'];

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('draw the lab: VMs, bridges, interfaces with addresses, services (Graphviz DOT, SVG, PNG)')
    .argument('<lab>', 'lab file (YAML)')
    .option('-o, --out <file>', 'write FILE.svg, FILE.png or FILE.dot (repeatable); without it, DOT goes to stdout', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--auto-accel <kvm|tcg>', 'what accel: auto becomes (default: decided from this host)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: GraphOpts) =>
      reportErrors(opts, async () => {
        for (const o of opts.out) {
          if (!FORMATS.includes(extname(o))) throw new VmlabError('ERR_VMLAB_USAGE', `cannot tell the format of ${o}`, { kind: 'user', hint: `end the file name with ${FORMATS.join(', ')}` });
        }
        const plan = planLab(loadLab(file), { paths: defaultHostPaths(), autoAccel: parseAutoAccel(opts.autoAccel) });
        const dot = renderGraphDot(plan);
        if (opts.out.length === 0 && !opts.json) {
          process.stdout.write(dot);
          return;
        }
        for (const o of opts.out) {
          const ext = extname(o);
          writeFileSync(o, ext === '.dot' ? dot : await layoutDot(dot, ext === '.svg' ? 'svg' : 'png'));
        }
        emit(opts, { ok: true, lab: plan.lab.name, files: opts.out, ...(opts.out.length ? {} : { dot }) }, () => opts.out.map((o) => `wrote ${o}`).join('\n'));
      }),
    );
}
