import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { DEFAULT_MATRIX, KNOWN_CONFIGS, benchConfigs } from '../../bench/matrix.js';
import { renderChart, renderMarkdown, renderTable } from '../../bench/report.js';
import type { BenchResults } from '../../bench/results.js';
import { runBench } from '../../bench/run.js';
import { VmlabError } from '../../errors.js';
import { describeLimitError } from '../../bench/limits.js';
import { probeAutoAccel } from '../../host/accel-probe.js';
import { bridgeExists } from '../../host/host-net.js';
import { svgToPng } from '../../host/svg-png.js';
import { hostDisks } from '../../lab-ops/disks.js';
import { labsDir } from '../../paths.js';
import { loadLabForHost, hostPaths, withRuntime, type GlobalOpts } from '../context.js';
import { emit, reportErrors } from '../output.js';
import { Progress } from '../progress.js';

/** results.json → results.md, chart.svg, chart.png (and each run's domain XML) in `dir`. */
async function writeReport(r: BenchResults, dir: string, withJson: boolean): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    writeFileSync(join(dir, name), data);
    files.push(join(dir, name));
  };
  if (withJson) put('results.json', JSON.stringify(r, null, 2) + '\n');
  put('results.md', renderMarkdown(r));
  const svg = renderChart(r);
  put('chart.svg', svg);
  put('chart.png', await svgToPng(svg));
  for (const c of r.configs) {
    for (const [vm, xml] of Object.entries(c.xml ?? {})) {
      mkdirSync(join(dir, 'xml', c.name), { recursive: true });
      put(join('xml', c.name, `${vm}.xml`), xml);
    }
  }
  return files;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure hardware emulation vs paravirtualization vs the host (boot, CPU, disk, network)');

  bench
    .command('run', { isDefault: true })
    .description('run the measurement matrix: results.json, results.md, chart.svg, chart.png')
    .option('--matrix <list>', `comma-separated configurations (known: ${KNOWN_CONFIGS.join(', ')})`)
    .option('--reps <n>', 'repetitions of each measurement (median, min, max)', '3')
    .option('--quick', 'one repetition, short measurements (default matrix: tcg-emulated,tcg-virtio,host)')
    .option('-o, --out <dir>', 'output directory', 'bench-results/bench')
    .option('--lab <file>', 'the two-guest bench lab', join(labsDir, 'bench-pair.yaml'))
    .option('--json', 'print results.json')
    .action((opts: { matrix?: string; reps: string; quick?: boolean; out: string; lab: string; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const names = opts.matrix
          ? opts.matrix
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : opts.quick
            ? ['tcg-emulated', 'tcg-virtio', 'host']
            : DEFAULT_MATRIX;
        const unknown = names.filter((n) => !KNOWN_CONFIGS.includes(n));
        if (unknown.length) throw new VmlabError('ERR_VMLAB_USAGE', `unknown bench configuration(s): ${unknown.join(', ')}`, { kind: 'user', hint: `known: ${KNOWN_CONFIGS.join(', ')}` });
        const reps = opts.quick ? 1 : Number(opts.reps);
        if (!Number.isInteger(reps) || reps < 1 || reps > 50) throw new VmlabError('ERR_VMLAB_USAGE', `--reps must be 1..50, not ${opts.reps}`, { kind: 'user' });
        const paths = hostPaths(g);
        const model = loadLabForHost(opts.lab, paths);
        const auto = probeAutoAccel();
        progress.step('bench', `${names.join(', ')}; ${reps} rep(s)${opts.quick ? ', quick' : ''}; auto accel here: ${auto.accel} (${auto.reason})`);
        await withRuntime(g, async (rt) => {
          const results = await runBench(rt, model, benchConfigs(names), {
            reps,
            quick: Boolean(opts.quick),
            auto,
            vhostNet: existsSync('/dev/vhost-net'),
            disks: hostDisks,
            bridgeExists,
            onStep: (c, s) => progress.step(c, s),
          });
          for (const r of results.refused) progress.step(r.name, `not run: ${r.reason}`);
          const files = await writeReport(results, opts.out, true);
          // A guest beyond the host's limit means the measurement is wrong: results are kept, the run fails.
          if (results.failed?.length || results.limitErrors?.length) process.exitCode = 1;
          for (const e of results.limitErrors ?? []) progress.step('measurement error', describeLimitError(e));
          emit(
            opts,
            results,
            () =>
              `${renderTable(results)}${results.failed?.length ? `\nFAILED: ${results.failed.map((f) => `${f.name}: ${f.error}`).join('; ')}` : ''}\nwrote ${files.filter((f) => !f.includes('/xml/')).join(', ')} (+ the domain XML of every run in ${join(opts.out, 'xml')})`,
          );
        });
      }),
    );

  bench
    .command('report')
    .description('re-render the table and charts of a results.json')
    .argument('<results>', 'results.json of vmlab bench')
    .option('-o, --out <dir>', 'output directory (default: next to results.json)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { out?: string; json?: boolean }) =>
      reportErrors(opts, async () => {
        let r: BenchResults;
        try {
          r = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
        } catch (e) {
          throw new VmlabError('ERR_VMLAB_BENCH_RESULTS', `cannot read ${file}: ${(e as Error).message}`, { kind: 'user', hint: 'give the results.json written by vmlab bench' });
        }
        if (r.version !== 1 || !Array.isArray(r.configs)) throw new VmlabError('ERR_VMLAB_BENCH_RESULTS', `${file} is not a vmlab bench results file (version 1)`, { kind: 'user' });
        const files = await writeReport(r, opts.out ?? dirname(file), false);
        emit(opts, { ok: true, files }, () => `${renderTable(r)}\nwrote ${files.filter((f) => !f.includes('/xml/')).join(', ')}`);
      }),
    );
}
