import type { Command } from 'commander';
import { execa } from 'execa';
import { formatReport, VmlabError } from '../../errors.js';
import { bridgeExists } from '../../host/host-net.js';
import { probeAutoAccel } from '../../host/accel-probe.js';
import { hostDisks } from '../../lab-ops/disks.js';
import { downLab } from '../../lab-ops/down.js';
import { suspendLab } from '../../lab-ops/suspend.js';
import { labStatus } from '../../lab-ops/status.js';
import { upLab } from '../../lab-ops/up.js';
import { domainName } from '../../lab/names.js';
import { ptyHolders } from '../../host/serial-console.js';
import { readDomainXml } from '../../libvirt/xml-read.js';
import { emit, reportErrors } from '../output.js';
import { seconds } from '../options.js';
import { Progress } from '../progress.js';
import { hostPaths, labArg, loadLabForHost, withRuntime, planForHost, type GlobalOpts } from '../context.js';

const secs = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)}s`);

export function registerLab(program: Command): void {
  program
    .command('up')
    .description('create and start a lab: bridges, linked-clone disks, seeds, domains; waits until every guest is ready')
    .argument('<lab>', 'lab file')
    .option('--recreate', 're-create VMs whose definition changed')
    .option('--discard-suspended', 're-create VMs suspended before their definition changed (their saved memory is dropped)')
    .option('--timeout <seconds>', 'per-VM readiness timeout (default 600 under tcg, 180 under kvm)', seconds)
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { recreate?: boolean; discardSuspended?: boolean; timeout?: number; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const progress = new Progress(false);
        const paths = hostPaths(g);
        const lab = loadLabForHost(file, paths);
        const auto = probeAutoAccel();
        const plan = planForHost(lab, paths, auto);
        if (plan.vms.some((v) => v.accelRequested === 'auto')) progress.step('accel', `auto → ${auto.accel} (${auto.reason})`);
        await withRuntime(g, async (rt) => {
          const r = await upLab(rt, plan, {
            disks: hostDisks,
            bridgeExists,
            recreate: opts.recreate,
            discardSuspended: opts.discardSuspended,
            ...(opts.timeout ? { timeoutMs: opts.timeout * 1000 } : {}),
            onVm: (vm, phase, detail) => progress.vm(vm, phase, detail),
          });
          emit(opts, { ok: r.vms.every((v) => v.ready || v.action === 'changed'), ...r }, () => {
            const lines = [r.upToDate ? `lab "${r.lab}" is up to date: nothing to do` : `lab "${r.lab}" up in ${r.seconds.toFixed(1)} s`];
            for (const l of r.leftovers ?? []) lines.push(`  ${l}`);
            for (const v of r.vms) {
              const t = v.times
                ? `  running ${secs(v.times.running)}, agent ${secs(v.times.agent)}, cloud-init done ${secs(v.times.cloudInit)}${v.times.services !== undefined ? `, services working ${secs(v.times.services)}` : ''}`
                : '';
              lines.push(
                `  ${v.name.padEnd(14)} ${v.action.padEnd(10)} ${v.profile.padEnd(12)} ${v.accel.padEnd(4)} ${v.ready ? 'ready' : v.action === 'changed' ? 'CHANGED (up --recreate)' : 'NOT READY'}${t}`,
              );
              if (v.links) lines.push(`    links set live to the lab file: ${v.links.join('; ')}`);
              if (v.error) lines.push(`    error [${v.error.code}]: ${formatReport(v.error)}`);
            }
            lines.push(`reach a guest: vmlab exec ${file} <vm> -- <command>`);
            lines.push(`               vmlab console ${file} <vm>   (serial console, logged in as root; Ctrl-] leaves)`);
            return lines.join('\n');
          });
          if (r.vms.some((v) => !v.ready && v.action !== 'changed')) process.exitCode = 1;
        });
      }),
    );

  program
    .command('down')
    .description('destroy and remove everything vmlab created for a lab (domains, networks, disks, seeds)')
    .argument('<lab>', 'lab file or lab name')
    .option('--keep-disks', "keep the VMs' disk overlays")
    .option('--json', 'machine-readable output')
    .action((arg: string, opts: { keepDisks?: boolean; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const paths = hostPaths(g);
        const { name } = labArg(arg, paths);
        await withRuntime(g, async (rt) => {
          const r = await downLab(rt, name, { disks: (await import('../../lab-ops/disks.js')).hostDisks, keepDisks: opts.keepDisks });
          emit(opts, { ok: true, ...r }, () =>
            [
              `lab "${name}" down: ${r.domains.length} domain(s), ${r.networks.length} network(s) removed${opts.keepDisks ? ' (disks kept)' : ''}`,
              ...r.leftovers.map((s) => `  ${s}`),
              ...r.skipped.map((s) => `  left alone: ${s}`),
            ].join('\n'),
          );
        });
      }),
    );

  program
    .command('suspend')
    .description("save every running VM's memory to disk and stop it (its host memory freed); vmlab up resumes the lab where it was, in seconds; containers are stopped and booted again")
    .argument('<lab>', 'lab file or lab name')
    .option('--json', 'machine-readable output')
    .action((arg: string, opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name } = labArg(arg, hostPaths(g));
        await withRuntime(g, async (rt) => {
          const r = await suspendLab(rt, name);
          emit(opts, { ok: true, ...r }, () =>
            [
              `lab "${name}" suspended in ${r.seconds.toFixed(1)} s${r.vms.length ? '' : ': no VM of it exists'}`,
              ...r.vms.map((v) => `  ${v.vm.padEnd(14)} ${v.action}${v.ms ? ` (${(v.ms / 1000).toFixed(1)} s)` : ''}`),
              `resume it: vmlab up ${arg}`,
            ].join('\n'),
          );
        });
      }),
    );

  program
    .command('status')
    .description('state, device model, accel, addresses and readiness of each VM of a lab (with the lab file: runs its readiness probes once)')
    .argument('<lab>', 'lab file or lab name')
    .option('--json', 'machine-readable output')
    .action((arg: string, opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const paths = hostPaths(g);
        const { name, model } = labArg(arg, paths);
        const plan = model ? planForHost(model, paths) : undefined;
        await withRuntime(g, async (rt) => {
          const s = await labStatus(rt, name, plan);
          emit(opts, s, () => {
            if (s.vms.length === 0) return `lab "${name}": not up (no vmlab domains)`;
            const lines = [`lab "${name}"`];
            for (const v of s.vms) {
              const ips = v.agentIps.length ? v.agentIps.join(',') : v.plannedIps.join(',') + (v.plannedIps.length ? ' (planned)' : '');
              lines.push(
                `  ${v.name.padEnd(14)} ${v.state.padEnd(8)} ${v.profile.padEnd(12)} ${v.accel.padEnd(4)} ${(v.ready ? (v.provision === 'none' ? 'running, no agent' : 'ready') : v.failing.length ? 'NOT WORKING' : v.agent ? `cloud-init ${v.cloudInit}` : 'no agent').padEnd(18)} ${ips}${v.changed ? '  CHANGED in lab file' : ''}`,
              );
              for (const f of v.failing) lines.push(`    failing: ${f}`);
              if (v.nics.some((n) => n.tap)) lines.push(`    ${v.nics.map((n) => `${n.nic} tap ${n.tap ?? '-'}${n.link === 'down' ? ' (link DOWN)' : ''}`).join(', ')}`);
            }
            for (const m of s.missing) lines.push(`  ${m.padEnd(14)} missing (vmlab up)`);
            return lines.join('\n');
          });
        });
      }),
    );

  program
    .command('exec')
    .description("run a command in a guest through the QEMU guest agent; exits with the guest command's exit code")
    .argument('<lab>', 'lab file or lab name')
    .argument('<vm>', 'VM name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('--timeout <seconds>', 'give up after this long', seconds, 300)
    .option('--json', 'machine-readable output')
    // Every failure of vmlab itself exits 255 (as ssh does), usage errors included: 1..254 are the guest command's own.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 255))
    .action((arg: string, vm: string, command: string[], opts: { timeout: number; json?: boolean }, cmd: Command) =>
      reportErrors(
        opts,
        async () => {
          const g = cmd.optsWithGlobals() as GlobalOpts;
          const paths = hostPaths(g);
          const { name } = labArg(arg, paths);
          await withRuntime(g, async (rt) => {
            const dn = domainName(name, vm);
            const info = await rt.hypervisor.domain(dn);
            if (!info) throw new VmlabError('ERR_VMLAB_VM_MISSING', `lab "${name}" has no VM "${vm}" in libvirt`, { kind: 'user', hint: `vmlab status ${arg}` });
            if (info.state !== 'running') throw new VmlabError('ERR_VMLAB_VM_NOT_RUNNING', `${vm} is ${info.state}`, { hint: `vmlab up ${arg}` });
            const agent = await rt.agentFor(dn, vm);
            try {
              const [path, ...args] = command;
              const r = await agent.exec(path!, args, { timeoutMs: opts.timeout * 1000 });
              if (opts.json) emit(opts, { vm, command, ...r }, () => '');
              else {
                process.stdout.write(r.stdout);
                process.stderr.write(r.stderr);
              }
              process.exitCode = r.exitCode;
            } finally {
              agent.close();
            }
          });
        },
        () => 255,
      ),
    );

  program
    .command('console')
    .description("attach to the serial console of a guest: vmlab's image logs in as root there (leave with Ctrl-])")
    .argument('<lab>', 'lab file or lab name')
    .argument('<vm>', 'VM name')
    .action((arg: string, vm: string, _o: unknown, cmd: Command) =>
      reportErrors({}, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name } = labArg(arg, hostPaths(g));
        const { defaultUri } = await import('../../libvirt/dbus-hypervisor.js');
        // A container has no serial line: its "console" is a root shell inside it.
        const shell = await withRuntime(g, (rt) => rt.containerShell(domainName(name, vm)));
        if (shell) {
          process.stderr.write(`a root shell in container ${vm} (it has no serial console; leave with exit)\n`);
          const r = await execa(shell[0]!, shell.slice(1), { stdio: 'inherit', reject: false });
          process.exitCode = r.exitCode ?? 1;
          return;
        }
        // One reader of the console at a time: a second one would get every other byte.
        const held = await withRuntime(g, async (rt) => {
          const dn = domainName(name, vm);
          if (!(await rt.hypervisor.domain(dn))) return [];
          const pty = (await readDomainXml(await rt.hypervisor.domainXml(dn))).serials.find((s) => s.type === 'pty')?.sourcePath;
          return pty ? ptyHolders(pty) : [];
        });
        if (held.length) {
          throw new VmlabError('ERR_VMLAB_CONSOLE_HELD', `the console of ${vm} is held by ${held.map((p) => `pid ${p.pid} (${p.command.slice(0, 60)})`).join(', ')}`, {
            hint: 'leave it there first (Ctrl-] in virsh console; close the console in vmlab serve and wait a minute), or use that one',
          });
        }
        const r = await execa('virsh', ['-c', defaultUri(g.connect), 'console', domainName(name, vm)], { stdio: 'inherit', reject: false });
        process.exitCode = r.exitCode ?? 1;
      }),
    );
}
