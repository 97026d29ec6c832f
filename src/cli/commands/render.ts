import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../../errors.js';
import { probeAutoAccel } from '../../host/accel-probe.js';
import { loadLab } from '../../lab/load.js';
import { hostDiskCache } from '../../lab-ops/host-lab.js';
import { defaultHostPaths } from '../../paths.js';
import { planLab, type AutoAccel } from '../../plan/plan.js';
import { renderLab } from '../../render/index.js';
import { renderKubevirt } from '../../render/kubevirt/manifests.js';
import { imageTags, kubevirtPlans, writeManifests } from './render-kubevirt.js';
import { emit, reportErrors } from '../output.js';

interface RenderOpts {
  out: string;
  target?: string;
  registry?: string;
  json?: boolean;
  autoAccel?: string;
  dataDir?: string;
}

export function parseAutoAccel(value: string | undefined): AutoAccel {
  if (value === undefined) return probeAutoAccel();
  if (value === 'kvm' || value === 'tcg') return { accel: value, reason: 'chosen with --auto-accel' };
  throw new VmlabError('ERR_VMLAB_USAGE', `--auto-accel must be kvm or tcg, not "${value}"`, { kind: 'user' });
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('write the libvirt XML and cloud-init seed files of a lab (or, --target kubevirt, the Kubernetes objects of a lab or a class), without touching libvirt')
    .argument('<lab>', 'lab file (YAML); with --target kubevirt also a class file')
    .requiredOption('-o, --out <dir>', 'output directory: <dir>/<vm>/{domain.xml,user-data,meta-data,network-config}, <dir>/networks/<net>.xml')
    .option('--auto-accel <kvm|tcg>', 'what accel: auto becomes (default: decided from this host)')
    .option('--target <libvirt|kubevirt>', 'libvirt (default): domain and network XML; kubevirt: Namespace, NetworkAttachmentDefinition and VirtualMachine objects per lab copy', 'libvirt')
    .option('--registry <name>', 'kubevirt: where the cluster pulls the images from (<registry>/<image>:<version>)', 'registry.example.invalid/vmlab')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: RenderOpts, cmd: Command) =>
      reportErrors(opts, async () => {
        opts = { ...opts, ...(cmd.optsWithGlobals() as { dataDir?: string }) };
        const auto = parseAutoAccel(opts.autoAccel);
        const paths = { ...defaultHostPaths(), ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) };
        if (opts.target === 'kubevirt') {
          const plans = kubevirtPlans(file, paths, auto);
          const registry = opts.registry!;
          const r = renderKubevirt(plans, { registry, imageTags: imageTags(plans, paths) });
          const files = writeManifests(opts.out, r, registry);
          emit(
            opts,
            {
              ok: true,
              target: 'kubevirt',
              out: opts.out,
              copies: plans.map((p) => p.lab.name),
              objects: r.files.map((f) => ({ file: f.file, kind: f.object.kind, name: f.object.metadata.name, namespace: f.object.metadata.namespace ?? null })),
              notes: r.notes,
              files,
            },
            () =>
              [
                `rendered ${plans.length} lab cop${plans.length === 1 ? 'y' : 'ies'} for KubeVirt into ${opts.out} (${r.files.length} objects): kubectl apply -f ${opts.out}`,
                ...r.notes.map((n) => `  note: ${n}`),
              ].join('\n'),
          );
          return;
        }
        if (opts.target !== 'libvirt') throw new VmlabError('ERR_VMLAB_USAGE', `--target must be libvirt or kubevirt, not "${opts.target}"`, { kind: 'user' });
        const lab = loadLab(file);
        // The disk cache up would use on this host (VMLAB_DISK_CACHE), so the XML shown is the XML defined.
        const diskCache = hostDiskCache();
        const plan = planLab(lab, { paths, autoAccel: auto, ...(diskCache ? { diskCache } : {}) });
        const rendered = renderLab(plan);
        const written: string[] = [];
        const write = (path: string, content: string, mode = 0o644) => {
          writeFileSync(path, content, { mode });
          written.push(path);
        };
        for (const vm of rendered.vms) {
          const dir = join(opts.out, vm.name);
          mkdirSync(dir, { recursive: true });
          // user-data may hold password hashes: readable by the owner only.
          for (const [name, content] of Object.entries(vm.files)) write(join(dir, name), content, name === 'user-data' ? 0o600 : 0o644);
        }
        if (rendered.networks.length) mkdirSync(join(opts.out, 'networks'), { recursive: true });
        for (const n of rendered.networks) write(join(opts.out, 'networks', `${n.name}.xml`), n.xml);
        emit(
          opts,
          {
            ok: true,
            lab: plan.lab.name,
            out: opts.out,
            autoAccel: auto,
            vms: plan.vms.map((v) => ({ name: v.name, domain: v.domainName, profile: v.profile.name, accel: v.accel.name, accelReason: v.accelReason, hash: v.hash })),
            networks: plan.networks.map((n) => ({ name: n.name, libvirtName: n.libvirtName ?? null, bridge: n.bridge, mode: n.mode })),
            files: written,
          },
          () =>
            `rendered lab "${plan.lab.name}" into ${opts.out} (${written.length} files)\n` +
            plan.vms.map((v) => `  ${v.name.padEnd(16)} ${v.profile.name.padEnd(12)} ${v.accel.name} (${v.accelReason})`).join('\n'),
        );
      }),
    );
}
