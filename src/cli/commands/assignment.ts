import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAssignment, type Assignment } from '../../assignment/load.js';
import { resetAssignment, runChecks, startAssignment } from '../../assignment/ops.js';
import { scoreTable, toHtml, toJunit, toMarkdown, type CheckRun } from '../../assignment/results.js';
import { VmlabError } from '../../errors.js';
import { bridgeExists } from '../../host/host-net.js';
import { hostDisks } from '../../lab-ops/disks.js';
import type { HostPaths } from '../../paths.js';
import { hostPaths, knownImages, withRuntime, planForHost, type GlobalOpts } from '../context.js';
import { emit, reportErrors } from '../output.js';
import { Progress } from '../progress.js';

/** `check` exits 3 when checks failed (0 all passed; 1 and 2 keep their usual meaning). */
export const EXIT_CHECKS_FAILED = 3;

interface Opts {
  json?: boolean;
  out?: string;
}

function setup(file: string, cmd: Command) {
  const g = cmd.optsWithGlobals() as GlobalOpts;
  const paths = hostPaths(g);
  const a = loadAssignment(file, { knownImages: knownImages(paths) });
  return { g, paths, a, plan: planForHost(a.lab, paths) };
}

function resultsDir(paths: HostPaths, a: Assignment, out?: string): string {
  return out ?? join(paths.dataDir, 'assignments', a.name);
}

export function registerAssignment(program: Command): void {
  const asg = program.command('assignment').description('lab assignments: start from a checkpoint, check the work, reset, report');

  asg
    .command('start')
    .description("bring the assignment's lab up and take its checkpoint (kept if it exists)")
    .argument('<file>', 'assignment file (labs/assignments/NAME.yaml)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const { g, a, plan } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const cp = await startAssignment(rt, a, plan, {
            disks: hostDisks,
            bridgeExists,
            onVm: (vm, phase, detail) => progress.step(vm, phase + (detail && phase !== 'failed' ? ` (${detail})` : '')),
          });
          emit(opts, { ok: true, assignment: a.name, lab: plan.lab.name, checkpoint: a.checkpoint, created: cp.created, upSeconds: cp.up.seconds, snapshot: cp.snapshot ?? null }, () =>
            [
              `assignment "${a.name}" started on lab "${plan.lab.name}"`,
              cp.created ? `  checkpoint "${a.checkpoint}" taken in ${((cp.snapshot?.ms ?? 0) / 1000).toFixed(1)} s` : `  checkpoint "${a.checkpoint}" already exists: kept`,
              a.tasks ? `\n${a.tasks.trim()}\n` : '',
              `check your work: vmlab assignment check ${file}`,
            ].join('\n'),
          );
        });
      }),
    );

  asg
    .command('check')
    .description(`run the checks in the guests; score table, check.json and junit.xml; exit ${EXIT_CHECKS_FAILED} if a check failed`)
    .argument('<file>', 'assignment file')
    .option('-o, --out <dir>', 'where check.json and junit.xml go (default <data-dir>/assignments/<name>)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const { g, paths, a } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const run = await runChecks(rt, a);
          const dir = resultsDir(paths, a, opts.out);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'check.json'), JSON.stringify(run, null, 2) + '\n');
          writeFileSync(join(dir, 'junit.xml'), toJunit(run));
          emit(opts, { ...run, files: [join(dir, 'check.json'), join(dir, 'junit.xml')] }, () => `${scoreTable(run)}\nwrote ${join(dir, 'check.json')} and junit.xml`);
          if (run.failed > 0) process.exitCode = EXIT_CHECKS_FAILED;
        });
      }),
    );

  asg
    .command('reset')
    .description('back to the checkpoint (all VMs in parallel); the current state is saved first as autosave-<time>')
    .argument('<file>', 'assignment file')
    .option('--discard', 'do not save the current state first')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts & { discard?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const { g, a, plan } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const r = await resetAssignment(rt, a, plan, { discard: opts.discard });
          emit(opts, { ok: true, assignment: a.name, checkpoint: a.checkpoint, ...r }, () =>
            [
              ...(r.autosave ? [`current state saved as "${r.autosave.snapshot}" (${(r.autosave.ms / 1000).toFixed(1)} s)`] : []),
              `reset to "${a.checkpoint}" in ${(r.revert.ms / 1000).toFixed(1)} s`,
              ...r.revert.vms.map((v) => `  ${v.vm.padEnd(14)} ${(v.ms / 1000).toFixed(1)} s  ${v.method}`),
              `every service works again (readiness probes passed ${(r.workingMs / 1000).toFixed(1)} s after the revert)`,
            ].join('\n'),
          );
        });
      }),
    );

  asg
    .command('report')
    .description('the last check as Markdown (default) or HTML')
    .argument('<file>', 'assignment file')
    .option('--format <md|html>', 'output format', 'md')
    .option('-o, --out <dir>', 'where the last check.json is (default <data-dir>/assignments/<name>); the report is written next to it')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts & { format: string }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const paths = hostPaths(g);
        const a = loadAssignment(file, { knownImages: knownImages(paths) });
        if (opts.format !== 'md' && opts.format !== 'html') throw new VmlabError('ERR_VMLAB_USAGE', `--format must be md or html, not "${opts.format}"`, { kind: 'user' });
        const dir = resultsDir(paths, a, opts.out);
        const path = join(dir, 'check.json');
        if (!existsSync(path)) throw new VmlabError('ERR_VMLAB_NO_CHECK', `no check of "${a.name}" yet (${path})`, { kind: 'user', hint: `vmlab assignment check ${file}` });
        const run = JSON.parse(readFileSync(path, 'utf8')) as CheckRun;
        const text = opts.format === 'html' ? toHtml(run, a.tasks) : toMarkdown(run, a.tasks);
        const out = join(dir, `report.${opts.format}`);
        writeFileSync(out, text);
        emit(opts, { ok: true, file: out, score: run.score, maxScore: run.maxScore }, () => `${text}\n(written to ${out})`);
      }),
    );
}
