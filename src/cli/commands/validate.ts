import type { Command } from 'commander';
import { loadLab } from '../../lab/load.js';
import { anyProfile } from '../../profiles/index.js';
import { emit, reportErrors } from '../output.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a lab file; exit 0 when valid, 2 when not')
    .argument('<lab>', 'lab file (YAML)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) =>
      reportErrors(opts, async () => {
        const lab = loadLab(file);
        emit(
          opts,
          { ok: true, lab: lab.name, file, vms: lab.vms.map((v) => ({ name: v.name, profile: v.profile, accel: v.accel })), networks: lab.networks.map((n) => ({ name: n.name, mode: n.mode })) },
          () =>
            `${file}: valid lab "${lab.name}": ${lab.vms.length} VM(s), ${lab.networks.length} network(s)\n` +
            lab.vms.map((v) => `  ${v.name.padEnd(16)} ${v.profile.padEnd(12)} ${anyProfile(v.profile)!.summary}`).join('\n'),
        );
      }),
    );
}
