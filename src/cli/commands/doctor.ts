import { netemAvailable } from '../../host/traffic-control.js';
import type { Command } from 'commander';
import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { hostKvm } from '../../host/accel-probe.js';
import type { KvmHost } from '../../plan/plan.js';
import { ImageStore } from '../../host/image-store.js';
import { loadRecipe } from '../../images/recipe.js';
import { DbusHypervisor, defaultUri } from '../../libvirt/dbus-hypervisor.js';
import { findLeftovers, type Leftover } from '../../lab-ops/leftovers.js';
import { hostKsm } from '../../host/ksm.js';
import { emit, reportErrors } from '../output.js';
import { hostPaths, withRuntime, type GlobalOpts } from '../context.js';

interface Check {
  name: string;
  ok: boolean;
  /** Not fatal: vmlab works, with a limitation. */
  warn?: boolean;
  detail: string;
  fix?: string;
}

async function which(cmd: string): Promise<boolean> {
  return (await execa('sh', ['-c', 'command -v "$1"', 'sh', cmd], { reject: false })).exitCode === 0;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check this host: KVM (can it run a stock guest?), libvirtd, libvirt-dbus, versions, image cache, disk space')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const checks: Check[] = [];
        const paths = hostPaths(g);

        // KVM: which of the three kinds of host this is (host/accel-probe.ts), and what accel auto picks here
        const auto = await hostKvm();
        const kvmFix: Record<KvmHost, string | undefined> = {
          none: 'enable virtualization in the firmware, or nested virtualization on the outer hypervisor; modprobe kvm_intel or kvm_amd; give this user /dev/kvm (group kvm)',
          unusable: 'nothing to fix for vmlab: accel auto runs guests under tcg here; accel: kvm in a lab file is refused (ERR_VMLAB_KVM_UNUSABLE)',
          working: undefined,
        };
        const kind = auto.kvm ?? 'none';
        checks.push({
          name: 'kvm',
          ok: true,
          ...(kind === 'working' ? {} : { warn: true }),
          detail: `host kind "${kind}": ${auto.reason}; accel auto = ${auto.accel}${kind === 'none' ? ' (every guest instruction translated, slow); accel: kvm is refused (ERR_VMLAB_KVM_MISSING)' : ''}`,
          ...(kvmFix[kind] ? { fix: kvmFix[kind] } : {}),
        });
        if (existsSync('/dev/kvm')) {
          const st = statSync('/dev/kvm');
          if ((st.mode & 0o060) !== 0o060)
            checks.push({
              name: 'kvm-perms',
              ok: false,
              detail: '/dev/kvm is not group-accessible: libvirt re-probes QEMU on every call (slow)',
              fix: 'chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (what udev does on a host with systemd)',
            });
        }
        checks.push(
          existsSync('/dev/vhost-net')
            ? { name: 'vhost-net', ok: true, detail: '/dev/vhost-net present: virtio-net can use the in-kernel vhost backend under KVM' }
            : { name: 'vhost-net', ok: true, warn: true, detail: "no /dev/vhost-net: virtio-net uses QEMU's own backend", fix: 'modprobe vhost_net' },
        );

        // libvirt
        const uri = defaultUri(g.connect);
        try {
          const h = await DbusHypervisor.open(uri);
          const v = await h.version();
          h.close();
          checks.push({ name: 'libvirt', ok: true, detail: `libvirtd and libvirt-dbus answer on ${uri}: libvirt ${v.libvirt}, QEMU ${v.hypervisor}` });
        } catch (e) {
          const err = e as Error & { hint?: string };
          checks.push({ name: 'libvirt', ok: false, detail: err.message, fix: err.hint ?? 'systemctl start libvirtd (without systemd: libvirtd -d)' });
        }

        // what a crash left: vmlab's bridges and taps that no libvirt network or domain owns
        let leftovers: Leftover[] = [];
        if (checks.find((c) => c.name === 'libvirt')?.ok) {
          await withRuntime(g, async (rt) => {
            leftovers = await findLeftovers(rt);
          });
          checks.push(
            leftovers.length
              ? {
                  name: 'leftovers',
                  ok: true,
                  warn: true,
                  detail: `${leftovers.length} link(s) left by a crash, owned by no libvirt network or domain: ${leftovers.map((l) => `${l.kind} ${l.name}${l.lab ? ` (lab ${l.lab})` : ''}`).join(', ')}`,
                  fix: [...new Set(leftovers.map((l) => l.fix))].join('; '),
                }
              : { name: 'leftovers', ok: true, detail: 'no bridge or tap of vmlab is left without its libvirt network or domain' },
          );
        }

        // tools
        for (const [tool, pkg] of [
          ['qemu-img', 'qemu-utils'],
          ['xorriso', 'xorriso'],
          ['mmdebstrap', 'mmdebstrap'],
          ['virsh', 'libvirt-clients'],
          ['syslinux', 'syslinux'],
          ['tc', 'iproute2'],
          ['tcpdump', 'tcpdump'],
        ] as const) {
          if (!(await which(tool))) checks.push({ name: `tool:${tool}`, ok: false, detail: `${tool} is missing`, fix: `apt-get install ${pkg}` });
        }

        // link impairment: netem is a kernel feature
        const netem = netemAvailable();
        checks.push(
          netem
            ? { name: 'netem', ok: true, detail: 'the kernel has netem: vmlab link can delay, jitter and drop packets (and limit rate with tbf)' }
            : {
                name: 'netem',
                ok: true,
                warn: true,
                detail: `${netem === false ? 'this kernel has no netem (sch_netem)' : 'cannot tell whether this kernel has netem'}: vmlab link --delay/--jitter/--loss will be refused; --rate, --up and --down work`,
                fix: 'modprobe sch_netem (Debian kernels ship it as a module)',
              },
        );

        // containers (kind: container): systemd-nspawn, overlayfs for their layers, a loop device to unpack an image once
        const overlay = readFileSync('/proc/filesystems', 'utf8').includes('\toverlay');
        const nspawn = await which('systemd-nspawn');
        checks.push(
          nspawn && overlay
            ? { name: 'containers', ok: true, detail: "systemd-nspawn and overlayfs: labs can have containers (kind: container) on the host's kernel" }
            : {
                name: 'containers',
                ok: true,
                warn: true,
                detail: `${nspawn ? '' : 'systemd-nspawn is missing'}${nspawn || overlay ? '' : '; '}${overlay ? '' : 'the kernel has no overlayfs'}: labs with containers will not start; VMs are not affected`,
                fix: nspawn ? 'a kernel with overlayfs (modprobe overlay)' : 'apt-get install systemd-container',
              },
        );

        // KSM: forked copies of a class share most of their memory once ksmd merges it
        const ksm = hostKsm().state();
        checks.push(
          !ksm.available
            ? { name: 'ksm', ok: true, warn: true, detail: 'this kernel has no KSM: forked copies of a class do not share their identical memory', fix: 'a kernel with CONFIG_KSM' }
            : ksm.running
              ? { name: 'ksm', ok: true, detail: `ksmd is merging identical guest pages (${((ksm.pagesSharing * 4096) / 2 ** 20).toFixed(0)} MiB saved now)` }
              : ksm.writable
                ? { name: 'ksm', ok: true, detail: 'ksmd is off; vmlab turns it on when it forks a class (class up)' }
                : {
                    name: 'ksm',
                    ok: true,
                    warn: true,
                    detail: 'ksmd is off and vmlab may not turn it on: forked copies of a class do not share memory',
                    fix: 'echo 1 > /sys/kernel/mm/ksm/run (as root, on the host)',
                  },
        );

        // images
        const store = new ImageStore(join(paths.dataDir, 'images'));
        const cur = store.current('debian-12');
        const recipe = loadRecipe('debian-12');
        if (!cur) checks.push({ name: 'image', ok: false, detail: `default image debian-12 not built (cache ${store.dir})`, fix: 'vmlab image build debian-12' });
        else if (cur.recipeHash !== recipe.hash) checks.push({ name: 'image', ok: true, warn: true, detail: 'debian-12 is built but its recipe changed', fix: 'vmlab image build debian-12' });
        else checks.push({ name: 'image', ok: true, detail: `debian-12 up to date (${(cur.actualSize / 2 ** 20).toFixed(0)} MiB, ${cur.file})` });

        // disk
        const dir = existsSync(paths.dataDir) ? paths.dataDir : '/';
        const fs = statfsSync(dir);
        const free = fs.bavail * fs.bsize;
        checks.push(
          free > 5 * 2 ** 30
            ? { name: 'disk', ok: true, detail: `${(free / 2 ** 30).toFixed(0)} GiB free in ${dir}` }
            : { name: 'disk', ok: false, detail: `only ${(free / 2 ** 30).toFixed(1)} GiB free in ${dir}`, fix: 'free space, or set VMLAB_DATA_DIR to a larger disk' },
        );

        const ok = checks.every((c) => c.ok);
        emit(opts, { ok, accel: auto, checks, leftovers }, () =>
          checks.map((c) => `${c.ok ? (c.warn ? 'WARN' : ' ok ') : 'FAIL'}  ${c.name.padEnd(10)} ${c.detail}${c.fix && (!c.ok || c.warn) ? `\n            fix: ${c.fix}` : ''}`).join('\n'),
        );
        if (!ok) process.exitCode = 1;
      }),
    );
}
