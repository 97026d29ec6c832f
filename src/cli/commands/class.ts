import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccountStore, classLogins, loginsCsv } from '../../class/accounts.js';
import { classCheck, classRescue, mergeClassResults, writeClassResults } from '../../class/check.js';
import { loadClassForHost } from '../../class/context.js';
import { classDown, classSuspend, classStatus } from '../../class/ops.js';
import { classUp } from '../../class/up.js';
import { hostKsm } from '../../host/ksm.js';
import { classTable, type ClassResults } from '../../class/report.js';
import { formatReport, VmlabError } from '../../errors.js';
import { bridgeExists } from '../../host/host-net.js';
import { loadClass } from '../../lab/class-file.js';
import { hostDisks } from '../../lab-ops/disks.js';
import type { HostPaths } from '../../paths.js';
import { hostPaths, withRuntime, type GlobalOpts } from '../context.js';
import { positiveInt } from '../options.js';
import { isSymlink, writeSecretFile } from '../../util/fs.js';
import { emit, reportErrors } from '../output.js';
import { Progress } from '../progress.js';
import { EXIT_CHECKS_FAILED } from './assignment.js';

interface Opts {
  json?: boolean;
  student?: string;
  out?: string;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

function context(file: string, opts: Opts, cmd: Command) {
  const g = cmd.optsWithGlobals() as GlobalOpts;
  const paths = hostPaths(g);
  return { g, paths, ctx: loadClassForHost(file, paths, opts.student) };
}

const outDir = (paths: HostPaths, className: string, out?: string) => out ?? join(paths.dataDir, 'classes', className);

export function registerClass(program: Command): void {
  const cls = program.command('class').description('a lab (or an assignment) for every student of a class: up, status, check, reset, rescue, report, down');
  const student = ['--student <id>', 'only this student'] as const;

  cls
    .command('up')
    .description(
      "admit the class (memory, disk), boot one copy and fork every other student's from it once it works (or boot each, parallel-boots at a time, where a lab cannot be forked); idempotent",
    )
    .argument('<class>', 'class file (classes/NAME.yaml)')
    .option(...student)
    .option('--no-fork', 'boot every new copy instead of forking it from a working one')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts & { fork: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const { g, ctx } = context(file, opts, cmd);
        await withRuntime(g, async (rt) => {
          const r = await classUp(rt, ctx, {
            disks: hostDisks,
            bridgeExists,
            onStudent: (s, what) => progress.step(s, what),
            onVm: (vm, phase, detail) => progress.vm(vm, phase, detail),
            noFork: !opts.fork,
            ksm: hostKsm(),
          });
          const a = r.admission;
          const made = (s: (typeof r.students)[number]) => (s.made === 'fork' ? `forked from ${s.forkedFrom} in ${s.seconds.toFixed(1)} s` : `booted, ready in ${s.seconds.toFixed(1)} s`);
          emit(opts, { ok: r.students.every((s) => s.ok), ...r }, () =>
            [
              `class "${r.class}": ${r.students.filter((s) => s.ok).length}/${r.students.length} students ready in ${r.seconds.toFixed(1)} s (${a.parallelBoots} at a time)`,
              `  admission: ${gib(a.perStudent.memoryBytes)} memory and ${gib(a.perStudent.diskBytes)} disk per student; ${a.fitStudents} fit (memory room ${gib(a.memory.room)}, disk room ${gib(a.disk.room)})`,
              `  memory counted: ${a.perStudent.counted}`,
              `  ${r.fork.used ? `new copies forked from ${r.fork.template}'s "${r.fork.snapshot}"${r.fork.ksm ? `; KSM (merges their identical memory): ${r.fork.ksm}` : ''}` : `new copies boot${r.fork.why ? ` (no fork: ${r.fork.why})` : ''}`}`,
              ...r.students.map(
                (s) =>
                  `  ${s.student.padEnd(14)} ${s.lab.padEnd(28)} ${s.ok ? (s.upToDate ? 'up to date' : s.made ? made(s) : `ready in ${s.seconds.toFixed(1)} s`) : 'FAILED'}${s.error ? `\n    error [${s.error.code}]: ${formatReport(s.error)}` : ''}`,
              ),
              ...r.notInRoster.map((s) => `  ${s.student.padEnd(14)} ${s.lab.padEnd(28)} no longer in the roster: left alone (vmlab class down ${file} --student ${s.student} removes it)`),
            ].join('\n'),
          );
          if (r.students.some((s) => !s.ok)) process.exitCode = 1;
        });
      }),
    );

  cls
    .command('status')
    .description('per student: VMs ready (probes run once), stage, last score, memory in use')
    .argument('<class>', 'class file')
    .option(...student)
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const { g, ctx } = context(file, opts, cmd);
        await withRuntime(g, async (rt) => {
          const s = await classStatus(rt, ctx);
          emit(opts, s, () =>
            [
              `class "${s.class}"`,
              `  ${'student'.padEnd(14)} ${'ready'.padEnd(7)} ${'stage'.padEnd(7)} ${'score'.padEnd(8)} memory`,
              ...s.students.map(
                (x) =>
                  `  ${x.student.padEnd(14)} ${(x.up ? `${x.ready}/${x.vms}` : 'down').padEnd(7)} ${(x.stage === undefined ? '-' : `${x.stage}/${x.stages}`).padEnd(7)} ${(x.lastCheck ? `${x.lastCheck.score}/${x.lastCheck.maxScore}` : '-').padEnd(8)} ${x.memoryBytes === undefined ? '-' : gib(x.memoryBytes)}`,
              ),
            ].join('\n'),
          );
        });
      }),
    );

  cls
    .command('check')
    .description(`every student's checks (parallel-checks at a time): one table, class.json, class.csv, report.html, junit/<student>.xml; exit ${EXIT_CHECKS_FAILED} if a check failed`)
    .argument('<class>', 'class file')
    .option(...student)
    .option('-o, --out <dir>', 'where the results go (default <data-dir>/classes/<class>)')
    .option('--parallel <n>', 'students checked at once', positiveInt(64))
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts & { parallel?: number }, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(Boolean(opts.json));
        const { g, paths, ctx } = context(file, opts, cmd);
        await withRuntime(g, async (rt) => {
          const r = await classCheck(rt, ctx, { ...(opts.parallel ? { parallel: opts.parallel } : {}), onStudent: (s, what) => progress.step(s, what) });
          // One student's check keeps the others' last results in the class files.
          const { files } = mergeClassResults(
            outDir(paths, ctx.cls.name, opts.out),
            r,
            ctx.cls.students.map((s) => s.id),
          );
          emit(opts, { ...r, files }, () => `${classTable(r)}\nwrote ${files.slice(0, 3).join(', ')} and ${files.length - 3} JUnit file(s)`);
          if (r.students.some((s) => !s.run || s.run.failed > 0)) process.exitCode = EXIT_CHECKS_FAILED;
        });
      }),
    );

  const rescue = (file: string, opts: Opts & { stage?: number; discard?: boolean; parallel?: number }, cmd: Command) =>
    reportErrors(opts, async () => {
      const progress = new Progress(Boolean(opts.json));
      const { g, ctx } = context(file, opts, cmd);
      await withRuntime(g, async (rt) => {
        const r = await classRescue(rt, ctx, { stage: opts.stage ?? 1, discard: opts.discard, ...(opts.parallel ? { parallel: opts.parallel } : {}), onStudent: (s, what) => progress.step(s, what) });
        emit(opts, { ok: r.every((x) => x.ok), students: r }, () =>
          r
            .map(
              (x) =>
                `  ${x.student.padEnd(14)} ${x.ok ? `stage ${x.result!.stage}${x.result!.autosave ? `, saved as ${x.result!.autosave.snapshot}` : ''}` : `FAILED [${x.error!.code}]: ${formatReport(x.error!)}`}`,
            )
            .join('\n'),
        );
        if (r.some((x) => !x.ok)) process.exitCode = 1;
      });
    });

  cls
    .command('reset')
    .description("back to the start of the assignment for one student (--student) or all; each student's state is autosaved unless --discard")
    .argument('<class>', 'class file')
    .option(...student)
    .option('--discard', 'do not save the current state first')
    .option('--parallel <n>', 'students reset at once (default 2)', positiveInt(64))
    .option('--json', 'machine-readable output')
    .action(rescue);

  cls
    .command('rescue')
    .description('back to the start of a stage (earlier stages solved) for one student or all; autosaved unless --discard')
    .argument('<class>', 'class file')
    .requiredOption('--stage <n>', 'the stage to start from', positiveInt(20))
    .option(...student)
    .option('--discard', 'do not save the current state first')
    .option('--parallel <n>', 'students rescued at once (default 2)', positiveInt(64))
    .option('--json', 'machine-readable output')
    .action(rescue);

  cls
    .command('report')
    .description('the last class check again: the table, and class.csv and report.html rebuilt from class.json')
    .argument('<class>', 'class file')
    .option('-o, --out <dir>', 'where the last class.json is (default <data-dir>/classes/<class>)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, () => {
        const paths = hostPaths(cmd.optsWithGlobals() as GlobalOpts);
        const c = loadClass(file);
        const dir = outDir(paths, c.name, opts.out);
        const path = join(dir, 'class.json');
        if (!existsSync(path)) throw new VmlabError('ERR_VMLAB_NO_CHECK', `class "${c.name}" has not been checked yet (${path})`, { kind: 'user', hint: `vmlab class check ${file}` });
        const r = JSON.parse(readFileSync(path, 'utf8')) as ClassResults;
        const files = writeClassResults(dir, r);
        emit(opts, { ...r, files }, () => `${classTable(r)}\nwrote ${files.slice(1, 3).join(' and ')}`);
      }),
    );

  cls
    .command('credentials')
    .description('a login for every student of the roster (and --teacher ids), for vmlab serve: printed once (or written as CSV for an LMS), kept only as scrypt hashes')
    .argument('<class>', 'class file')
    .option(...student)
    .option('--teacher <id...>', 'teacher logins to make as well')
    .option('--reissue', 'new passwords for those who have one (their old ones stop working)')
    .option('--revoke <id>', 'revoke this login instead')
    .option('--csv <file>', 'write id,name,role,password to this file (mode 0600) instead of printing the passwords')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts & { teacher?: string[]; reissue?: boolean; revoke?: string; csv?: string }, cmd: Command) =>
      reportErrors(opts, async () => {
        const paths = hostPaths(cmd.optsWithGlobals() as GlobalOpts);
        const c = loadClass(file);
        const store = new AccountStore(paths.dataDir, c.name);
        if (opts.revoke) {
          store.revoke(opts.revoke);
          emit(opts, { ok: true, class: c.name, revoked: opts.revoke }, () => `login "${opts.revoke}" of class "${c.name}" revoked`);
          return;
        }
        // Before any password is made: a CSV that cannot be written safely would lose them.
        if (opts.csv && isSymlink(opts.csv))
          throw new VmlabError('ERR_VMLAB_USAGE', `--csv ${opts.csv} is a symbolic link: passwords are not written through one`, { kind: 'user', hint: 'give the path of a plain file' });
        const made = await store.issue(classLogins(c, opts.teacher ?? [], opts.student), { reissue: opts.reissue });
        if (opts.csv) writeSecretFile(opts.csv, loginsCsv(made));
        const kept = store.list().filter((a) => !a.revokedAt).length;
        emit(opts, { ok: true, class: c.name, made: opts.csv ? made.map(({ password: _, ...rest }) => rest) : made, ...(opts.csv ? { csv: opts.csv } : {}), accounts: kept }, () =>
          made.length === 0
            ? `every login of class "${c.name}" exists already (${kept}); --reissue makes new passwords`
            : [
                `${made.length} login(s) for class "${c.name}"${opts.csv ? `, written to ${opts.csv}` : ' — shown this once: hand them out now'}:`,
                ...(opts.csv ? [] : made.map((l) => `  ${l.id.padEnd(14)} ${l.role.padEnd(8)} ${l.password}  ${l.name ?? ''}`)),
                `stored as scrypt hashes only, in ${store.file}`,
              ].join('\n'),
        );
      }),
    );

  cls
    .command('down')
    .description("remove every copy of the class (or one student's): domains, networks, disks, snapshots; results are kept")
    .argument('<class>', 'class file')
    .option(...student)
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const c = loadClass(file);
        await withRuntime(g, async (rt) => {
          const r = await classDown(rt, c.name, { disks: hostDisks, ...(opts.student ? { student: opts.student } : {}) });
          emit(opts, { ok: true, class: c.name, students: r }, () =>
            [
              `class "${c.name}" down: ${r.length} student lab(s), ${r.reduce((s, x) => s + x.domains.length, 0)} domain(s), ${r.reduce((s, x) => s + x.networks.length, 0)} network(s) removed`,
              ...r.flatMap((x) => x.skipped.map((s) => `  left alone: ${s}`)),
            ].join('\n'),
          );
        });
      }),
    );

  cls
    .command('suspend')
    .description("save the memory of every running VM of the class (or one student's copy) and stop it, freeing the host's memory; class up resumes them where they were")
    .argument('<class>', 'class file')
    .option(...student)
    .option('--json', 'machine-readable output')
    .action((file: string, opts: Opts, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const c = loadClass(file);
        await withRuntime(g, async (rt) => {
          const r = await classSuspend(rt, c.name, opts.student ? { student: opts.student } : {});
          emit(opts, { ok: true, class: c.name, students: r }, () =>
            [
              `class "${c.name}": ${r.length} student lab(s) suspended, ${r.reduce((s, x) => s + x.vms.filter((v) => v.action === 'saved').length, 0)} VM(s) saved`,
              `resume: vmlab class up ${file}`,
            ].join('\n'),
          );
        });
      }),
    );
}
