import type { Command } from 'commander';
import { createLabSnapshot, deleteLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets, type SnapshotTarget } from '../../lab-ops/snapshots.js';
import { hostPaths, labArg, planForHost, withRuntime, type GlobalOpts } from '../context.js';
import type { LabRuntime } from '../../lab-ops/runtime.js';
import { emit, reportErrors } from '../output.js';

const when = (unix: number) =>
  new Date(unix * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');

interface SnapOpts {
  vm?: string;
  json?: boolean;
}

/** Resolves LAB (file or name) and the VMs a snapshot command acts on, then runs `f` with libvirt open. */
function withTargets(arg: string, opts: SnapOpts, cmd: Command, f: (ctx: { rt: LabRuntime; lab: string; targets: SnapshotTarget[] }) => Promise<void>): Promise<void> {
  return reportErrors(opts, async () => {
    const g = cmd.optsWithGlobals() as GlobalOpts;
    const paths = hostPaths(g);
    const { name, model } = labArg(arg, paths);
    const plan = model ? planForHost(model, paths) : undefined;
    await withRuntime(g, async (rt) => f({ rt, lab: name, targets: await snapshotTargets(rt, name, plan, opts.vm) }));
  });
}

export function registerSnapshot(program: Command): void {
  const snap = program.command('snapshot').description('checkpoints of a whole lab (or one VM): libvirt internal snapshots, memory included when running');
  const common = (c: Command) => c.option('--vm <vm>', 'only this VM of the lab').option('--json', 'machine-readable output');

  common(snap.command('create').description('take snapshot NAME of every VM, in parallel').argument('<lab>', 'lab file or lab name').argument('<name>', 'snapshot name'))
    .option('--description <text>', 'stored with the snapshot')
    .action((arg: string, name: string, opts: SnapOpts & { description?: string }, cmd: Command) =>
      withTargets(arg, opts, cmd, async ({ rt, lab, targets }) => {
        const r = await createLabSnapshot(rt, lab, targets, name, opts.description);
        emit(opts, { ok: true, lab, ...r }, () => `snapshot "${name}" of lab "${lab}" taken in ${(r.ms / 1000).toFixed(1)} s: ${r.vms.map((v) => `${v.vm} ${(v.ms / 1000).toFixed(1)} s`).join(', ')}`);
      }),
    );

  common(snap.command('list').description('snapshots of the lab, with time, state and the VMs that have them').argument('<lab>', 'lab file or lab name')).action(
    (arg: string, opts: SnapOpts, cmd: Command) =>
      withTargets(arg, opts, cmd, async ({ rt, lab, targets }) => {
        const list = await listLabSnapshots(rt, targets);
        emit(opts, { lab, vms: targets.map((t) => t.vm), snapshots: list }, () => {
          if (!list.length) return `lab "${lab}" has no snapshots`;
          return [
            `lab "${lab}" (${targets.length} VM(s))`,
            ...list.map(
              (s) =>
                `  ${s.name.padEnd(28)} ${when(s.createdAt)}  ${s.state.padEnd(8)} ${s.memory ? 'memory+disks' : 'disks only  '}  ${s.complete ? 'complete' : `INCOMPLETE: missing on ${s.missingOn.join(', ')}`}`,
            ),
          ].join('\n');
        });
      }),
  );

  common(
    snap.command('revert').description('return every VM to NAME, in parallel (refused unless every VM has it)').argument('<lab>', 'lab file or lab name').argument('<name>', 'snapshot name'),
  ).action((arg: string, name: string, opts: SnapOpts, cmd: Command) =>
    withTargets(arg, opts, cmd, async ({ rt, lab, targets }) => {
      const r = await revertLabSnapshot(rt, lab, targets, name);
      emit(opts, { ok: true, lab, ...r }, () =>
        [`lab "${lab}" reverted to "${name}" in ${(r.ms / 1000).toFixed(1)} s`, ...r.vms.map((v) => `  ${v.vm.padEnd(14)} ${(v.ms / 1000).toFixed(1)} s  ${v.method}`)].join('\n'),
      );
    }),
  );

  common(snap.command('delete').description('delete NAME from every VM that has it').argument('<lab>', 'lab file or lab name').argument('<name>', 'snapshot name')).action(
    (arg: string, name: string, opts: SnapOpts, cmd: Command) =>
      withTargets(arg, opts, cmd, async ({ rt, lab, targets }) => {
        const r = await deleteLabSnapshot(rt, lab, targets, name);
        emit(opts, { ok: true, lab, ...r }, () => `snapshot "${name}" deleted from ${r.vms.map((v) => v.vm).join(', ')}${r.absentOn.length ? ` (absent on ${r.absentOn.join(', ')})` : ''}`);
      }),
  );
}
