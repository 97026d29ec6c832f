import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAssignment, type Assignment } from '../../assignment/load.js';
import { checkAssignment, startAssignment } from '../../assignment/ops.js';
import { rescueAssignment, type RescueResult } from '../../assignment/rescue.js';
import { scoreTable, toHtml, toJunit, toMarkdown, type CheckRun } from '../../assignment/results.js';
import { verifyAssignment } from '../../assignment/verify.js';
import { VmlabError } from '../../errors.js';
import { bridgeExists } from '../../host/host-net.js';
import { hostDisks } from '../../lab-ops/disks.js';
import type { HostPaths } from '../../paths.js';
import { hostPaths, knownImages, withRuntime, planForHost, type GlobalOpts } from '../context.js';
import { positiveInt } from '../options.js';
import { emit, reportErrors } from '../output.js';
import { Progress } from '../progress.js';

/** `check` exits 3 when checks failed (0 all passed; 1 and 2 keep their usual meaning); `verify` when the assignment does not prove itself. */
export const EXIT_CHECKS_FAILED = 3;

interface Opts {
  json?: boolean;
  out?: string;
}

/** --lab: the same assignment on another lab with the same guests (e.g. labs/linux-network-mixed.yaml, routers as containers). */
const LAB_OPTION = ['--lab <file>', 'run it on this lab file instead of the one the assignment names (the same guests, built another way)'] as const;

function setup(file: string, cmd: Command) {
  const g = cmd.optsWithGlobals() as GlobalOpts & { lab?: string };
  const paths = hostPaths(g);
  const a = loadAssignment(file, { knownImages: knownImages(paths), ...(g.lab ? { onLab: g.lab } : {}) });
  return { g, paths, a, plan: planForHost(a.lab, paths) };
}

function resultsDir(paths: HostPaths, a: Assignment, out?: string): string {
  return out ?? join(paths.dataDir, 'assignments', a.name);
}

const upOpts = (progress: Progress) => ({
  disks: hostDisks,
  bridgeExists,
  onVm: (vm: string, phase: string, detail?: string) => progress.vm(vm, phase, detail),
});

export function rescueLines(a: Assignment, r: RescueResult): string[] {
  const stage = a.stages[r.stage - 1]!;
  return [
    ...(r.autosave ? [`current state saved as "${r.autosave.snapshot}" (${(r.autosave.ms / 1000).toFixed(1)} s; vmlab snapshot revert LAB ${r.autosave.snapshot} brings it back)`] : []),
    `back to "${r.checkpoint}" in ${(r.revert.ms / 1000).toFixed(1)} s`,
    ...r.revert.vms.map((v) => `  ${v.vm.padEnd(14)} ${(v.ms / 1000).toFixed(1)} s  ${v.method}`),
    r.probed.startsWith('no:')
      ? `every service works: the lab is back as it was when its services were checked (${r.probed.slice(4)})`
      : `every service works again (readiness probes passed ${(r.workingMs / 1000).toFixed(1)} s after the revert${r.probed.startsWith('yes: ') ? `; they ran because ${r.probed.slice(5)}` : ''})`,
    ...(stage.setup.length ? [`stage ${stage.index} setup applied (${(r.setupMs / 1000).toFixed(1)} s)`] : []),
    ...(a.stages.length > 1 ? [`now at stage ${stage.index}/${a.stages.length}: ${stage.title}`] : []),
  ];
}

export function registerAssignment(program: Command): void {
  const asg = program.command('assignment').description('lab assignments: start from a checkpoint, check the work, reset or rescue, verify, report');

  asg
    .command('start')
    .option(...LAB_OPTION)
    .description("bring the assignment's lab up and take every stage's checkpoint (kept if they exist)")
    .argument('<file>', 'assignment file (labs/assignments/NAME.yaml)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const { g, a, plan } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const cp = await startAssignment(rt, a, plan, upOpts(progress), (s) => progress.step('assignment', s));
          emit(
            opts,
            { ok: true, assignment: a.name, lab: plan.lab.name, checkpoint: a.checkpoint, stages: a.stages.length, created: cp.created, upSeconds: cp.up.seconds, snapshots: cp.snapshots },
            () =>
              [
                `assignment "${a.name}" started on lab "${plan.lab.name}"`,
                cp.created ? cp.snapshots.map((s) => `  checkpoint "${s.snapshot}" taken in ${(s.ms / 1000).toFixed(1)} s`).join('\n') : `  checkpoints already exist: kept`,
                a.tasks ? `\n${a.tasks.trim()}\n` : '',
                a.stages.length > 1 ? `stage 1/${a.stages.length}: ${a.stages[0]!.title}\n${a.stages[0]!.tasks.trim()}\n` : '',
                `check your work: vmlab assignment check ${file}`,
              ].join('\n'),
          );
        });
      }),
    );

  asg
    .command('check')
    .option(...LAB_OPTION)
    .description(`run the checks in the guests (a stage that passes opens the next); score table, check.json and junit.xml; exit ${EXIT_CHECKS_FAILED} if a check failed`)
    .argument('<file>', 'assignment file')
    .option('-o, --out <dir>', 'where check.json and junit.xml go (default <data-dir>/assignments/<name>)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(Boolean(opts.json));
        const { g, paths, a, plan } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const run = await checkAssignment(rt, a, plan, undefined, (s) => progress.step('assignment', s));
          const dir = resultsDir(paths, a, opts.out);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'check.json'), JSON.stringify(run, null, 2) + '\n');
          writeFileSync(join(dir, 'junit.xml'), toJunit(run));
          const stage = (k: number) => (k > a.stages.length ? 'every stage passed' : `now at stage ${k}/${a.stages.length}: ${a.stages[k - 1]!.title}\n${a.stages[k - 1]!.tasks.trim()}`);
          emit(opts, { ...run, files: [join(dir, 'check.json'), join(dir, 'junit.xml')] }, () =>
            [scoreTable(run), ...(a.stages.length > 1 ? [stage(run.stage!)] : []), `wrote ${join(dir, 'check.json')} and junit.xml`].join('\n'),
          );
          if (run.failed > 0) process.exitCode = EXIT_CHECKS_FAILED;
        });
      }),
    );

  const rescueAction = (file: string, opts: Opts & { discard?: boolean; stage?: number }, cmd: Command) =>
    reportErrors(opts, async () => {
      const progress = new Progress(Boolean(opts.json));
      const { g, a, plan } = setup(file, cmd);
      await withRuntime(g, async (rt) => {
        const r = await rescueAssignment(rt, a, plan, { stage: opts.stage ?? 1, discard: opts.discard }, (s) => progress.step('assignment', s));
        emit(opts, { ok: true, assignment: a.name, ...r }, () => rescueLines(a, r).join('\n'));
      });
    });

  asg
    .command('reset')
    .option(...LAB_OPTION)
    .description('back to the start of the assignment (all VMs in parallel); the current state is saved first as autosave-<time>')
    .argument('<file>', 'assignment file')
    .option('--discard', 'do not save the current state first')
    .option('--json', 'machine-readable output')
    .action(rescueAction);

  asg
    .command('rescue')
    .option(...LAB_OPTION)
    .description('back to the start of a stage (the earlier stages solved); the current state is saved first as autosave-<time>')
    .argument('<file>', 'assignment file')
    .requiredOption('--stage <n>', 'the stage to start from (1 = reset)', positiveInt(20))
    .option('--discard', 'do not save the current state first')
    .option('--json', 'machine-readable output')
    .action(rescueAction);

  asg
    .command('verify')
    .option(...LAB_OPTION)
    .description(`test the assignment itself: every stage's checks fail at its start and pass after its solution; exit ${EXIT_CHECKS_FAILED} if not`)
    .argument('<file>', 'assignment file')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(Boolean(opts.json));
        const { g, a, plan } = setup(file, cmd);
        await withRuntime(g, async (rt) => {
          const v = await verifyAssignment(rt, a, plan, upOpts(progress), (s) => progress.step('verify', s));
          emit(opts, v, () =>
            [
              ...v.stages.map((s) =>
                [
                  `stage ${s.stage} (${s.name}): ${s.problems.length ? 'PROBLEMS' : 'ok'} — before the solution ${s.before.filter((r) => !r.passed).length}/${s.before.length} checks fail, after it ${s.after.filter((r) => r.passed).length}/${s.after.length} pass`,
                  ...s.problems.map((p) => `  ${p}`),
                ].join('\n'),
              ),
              v.ok
                ? `assignment "${a.name}" proves itself (${v.seconds.toFixed(0)} s); the lab is at the start of stage 1`
                : `assignment "${a.name}" does not prove itself: fix the checks or solutions above`,
            ].join('\n'),
          );
          if (!v.ok) process.exitCode = EXIT_CHECKS_FAILED;
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
