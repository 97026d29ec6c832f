import { escapeRegExp } from '../util/regex.js';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import type { ImageRecipe } from '../images/recipe.js';
import { run } from './exec.js';
import type { ImageInfo, ImageStore } from './image-store.js';
import { qemuImgInfo } from './qemu-img.js';
import { removeTree } from './mounts.js';

export type BuildStep = 'bootstrap' | 'customize' | 'disk' | 'bootloader' | 'rootfs' | 'convert' | 'publish';

export interface BuildEvents {
  step?(step: BuildStep, detail: string): void;
  line?(line: string): void;
}

export interface BuildResult {
  status: 'built' | 'cached';
  image: ImageInfo;
  seconds: number;
  steps: Partial<Record<BuildStep, number>>;
}

const SECTOR = 512;
const MIB = 1024 * 1024;
const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin';

/**
 * Builds an image from its recipe into the store, unless the current version
 * was built from the same recipe hash. Works in a temp directory and a temp file
 * inside the store; only a finished, checked image is renamed into place.
 * No loop devices, no mounts: the disk is assembled in a plain file.
 */
export async function buildImage(recipe: ImageRecipe, store: ImageStore, opts: { force?: boolean; events?: BuildEvents; mirror?: string } = {}): Promise<BuildResult> {
  const t0 = Date.now();
  const current = store.current(recipe.name);
  if (!opts.force && current?.recipeHash === recipe.hash && existsSync(current.file)) {
    return { status: 'cached', image: current, seconds: (Date.now() - t0) / 1000, steps: {} };
  }
  const unlock = store.lock(recipe.name);
  for (const stale of store.stalePartials(recipe.name)) await removeTree(stale);
  const work = store.tempFile(recipe.name);
  mkdirSync(work, { recursive: true });
  const steps: Partial<Record<BuildStep, number>> = {};
  let stepStart = Date.now();
  let stepName: BuildStep | undefined;
  const step = (s: BuildStep, detail: string) => {
    if (stepName) steps[stepName] = (Date.now() - stepStart) / 1000;
    stepName = s;
    stepStart = Date.now();
    opts.events?.step?.(s, detail);
  };
  // Interrupted (Ctrl-C, kill): stop the running tool, then the finally block
  // below removes everything half-built before the process exits.
  const abort = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    if (process.env.VMLAB_DEBUG) process.stderr.write(`[debug] ${sig} received, aborting\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal); // not once: execa's signal-exit re-raises if no other listener remains
  process.on('SIGTERM', onSignal);
  try {
    const root = join(work, 'root');
    const stage = join(work, 'stage');

    step('bootstrap', `mmdebstrap ${recipe.suite} (${recipe.packages.length} packages)`);
    for (const files of recipe.filesDirs) cpSync(files, stage, { recursive: true, verbatimSymlinks: true });
    mkdirSync(stage, { recursive: true });
    writeInitramfsHook(stage, recipe);
    const mirror = opts.mirror ?? process.env.VMLAB_DEBIAN_MIRROR;
    await run(
      'mmdebstrap',
      [
        `--variant=${recipe.variant}`,
        `--architectures=${recipe.architecture}`,
        `--include=${recipe.packages.join(',')}`,
        '--aptopt=Acquire::Retries "3"',
        `--essential-hook=sync-in ${stage} /`,
        recipe.suite,
        root,
        ...(mirror ? [mirror] : []),
      ],
      { timeoutMs: 20 * 60_000, onLine: opts.events?.line, signal: abort.signal },
    );

    step('customize', 'systemd units, machine-id, host keys');
    await removeModules(root, recipe.removeModules);
    await customize(root, recipe);

    const boot = findBootFiles(root);
    step('disk', `partition table (${recipe.disk.sizeBytes / MIB} MiB disk)`);
    const raw = join(work, 'disk.raw');
    const bootStart = 1 * MIB;
    const rootStart = bootStart + recipe.disk.bootBytes;
    closeSync(openSync(raw, 'w'));
    truncateSync(raw, recipe.disk.sizeBytes);
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', '--quiet', raw], {
      input: 'label: dos\nunit: sectors\n' + `start=${bootStart / SECTOR}, size=${recipe.disk.bootBytes / SECTOR}, type=c, bootable\n` + `start=${rootStart / SECTOR}, type=83\n`,
    });
    // syslinux's MBR boot code: BIOS → MBR → active partition's boot sector → syslinux.
    const mbr = readFileSync(SYSLINUX_MBR);
    const fd = openSync(raw, 'r+');
    writeSync(fd, mbr, 0, Math.min(mbr.length, 440), 0);
    closeSync(fd);

    step('bootloader', 'FAT boot partition with syslinux, kernel and initrd');
    // One sector per cluster: mkfs.fat would size clusters from the whole disk file and
    // produce too few clusters for a valid FAT32 in a small partition.
    await run('mkfs.fat', ['-F', '32', '-s', '1', '-n', 'VMLABBOOT', `--offset=${bootStart / SECTOR}`, raw, String(recipe.disk.bootBytes / 1024)]);
    const fat = `${raw}@@${bootStart}`;
    const mtoolsEnv = { ...process.env, MTOOLS_SKIP_CHECK: '1' } as Record<string, string>;
    const cfg = join(work, 'syslinux.cfg');
    writeFileSync(
      cfg,
      `# vmlab ${recipe.name}: BIOS boot from the disk itself\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /vmlinuz\n  INITRD /initrd.img\n  APPEND ${recipe.kernelCmdline}\n`,
    );
    await run('mcopy', ['-i', fat, boot.kernel, '::/vmlinuz'], { env: mtoolsEnv });
    await run('mcopy', ['-i', fat, boot.initrd, '::/initrd.img'], { env: mtoolsEnv });
    await run('mcopy', ['-i', fat, cfg, '::/syslinux.cfg'], { env: mtoolsEnv });
    await run('syslinux', ['--install', `--offset=${bootStart}`, raw]);

    step('rootfs', `ext4 root partition from the directory (label ${recipe.disk.rootLabel})`);
    const rootKiB = (recipe.disk.sizeBytes - rootStart) / 1024;
    await run('mkfs.ext4', ['-q', '-F', '-L', recipe.disk.rootLabel, '-E', `offset=${rootStart}`, '-d', root, raw, `${rootKiB}k`], { timeoutMs: 10 * 60_000, signal: abort.signal });

    step('convert', 'compressed qcow2');
    const tmpImage = store.tempFile(recipe.name) + '.qcow2';
    await run('qemu-img', ['convert', '-c', '-W', '-m', '4', '-f', 'raw', '-O', 'qcow2', '-o', 'compression_type=zstd', raw, tmpImage], { timeoutMs: 15 * 60_000, signal: abort.signal });
    const info = await qemuImgInfo(tmpImage);
    if (info.format !== 'qcow2' || info.virtualSize !== recipe.disk.sizeBytes) {
      rmSync(tmpImage, { force: true });
      throw new VmlabError('ERR_VMLAB_IMAGE_BUILD', `converted image is not what was built (${info.format}, ${info.virtualSize} bytes)`);
    }

    step('publish', 'rename into the image cache');
    const seconds = (Date.now() - t0) / 1000;
    const image = store.publish(tmpImage, {
      name: recipe.name,
      version: recipe.hash.slice(0, 12),
      source: 'recipe',
      recipeHash: recipe.hash,
      format: 'qcow2',
      virtualSize: info.virtualSize,
      actualSize: statSync(`${store.versionFile(recipe.name, recipe.hash.slice(0, 12))}`, { throwIfNoEntry: false })?.size ?? info.actualSize,
      created: new Date().toISOString(),
      buildSeconds: Math.round(seconds),
      origin: recipe.recipeFile,
    });
    if (stepName) steps[stepName] = (Date.now() - stepStart) / 1000;
    return { status: 'built', image, seconds, steps };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await removeTree(work);
    for (const f of readdirSync(store.dir)) if (f.startsWith(`.${recipe.name}.partial-${process.pid}-`)) await removeTree(join(store.dir, f));
    unlock();
    if (interrupted) {
      process.stderr.write(`\ninterrupted (${interrupted}): nothing half-built was left behind\n`);
      process.exit(130);
    }
  }
}

/**
 * The recipe's initramfs modules go into the initramfs through a hook (manual_add_modules):
 * they are there for whichever device model boots, and udev loads the ones whose hardware
 * is present. (Listing them in initramfs-tools' modules files would also force-load every
 * one of them, one modprobe each, at every boot: ~2 s under TCG for drivers of absent hardware.)
 */
function writeInitramfsHook(stage: string, recipe: ImageRecipe): void {
  const dir = join(stage, 'etc/initramfs-tools/hooks');
  mkdirSync(dir, { recursive: true });
  const script = [
    '#!/bin/sh',
    `# vmlab: from ${recipe.recipeFile} (initramfs-modules); loaded by udev when their hardware is present`,
    'case "$1" in prereqs) exit 0 ;; esac',
    '. /usr/share/initramfs-tools/hook-functions',
    `manual_add_modules ${recipe.initramfsModules.join(' ')}`,
    // remove-modules: not in the initramfs either, whatever pulled them in.
    ...recipe.removeModules.map((p) => `find "\${DESTDIR}/lib/modules" -name '${p}.ko*' -delete`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'vmlab-modules'), script, { mode: 0o755 });
}

/** Deletes the kernel modules whose names match (remove-modules), then rebuilds the module index (depmod -b). */
async function removeModules(root: string, patterns: string[]): Promise<void> {
  if (!patterns.length) return;
  // Globs on module names: * and ? are wildcards, everything else literal.
  const glob = (p: string) => escapeRegExp(p).replace(/\\\*/g, '.*').replace(/\\\?/g, '.');
  const re = new RegExp(`^(${patterns.map(glob).join('|')})\\.ko(\\.(xz|zst|gz))?$`);
  const modules = join(root, 'lib/modules');
  for (const version of readdirSync(modules)) {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          walk(p);
          if (readdirSync(p).length === 0) rmSync(p, { recursive: true }); // drivers/virtio/ itself goes too
        } else if (re.test(e.name)) rmSync(p);
      }
    };
    walk(join(modules, version));
    await run('depmod', ['-b', root, version]);
  }
}

async function customize(root: string, recipe: ImageRecipe): Promise<void> {
  const sd = recipe.systemd;
  // systemctl understands an offline root directory; nothing is started.
  if (sd.enable.length) await run('systemctl', ['--root', root, 'enable', ...sd.enable]);
  if (sd.disable.length) await run('systemctl', ['--root', root, 'disable', ...sd.disable]);
  if (sd.mask.length) await run('systemctl', ['--root', root, 'mask', ...sd.mask]);
  for (const [target, units] of Object.entries(sd.addWants)) await run('systemctl', ['--root', root, 'add-wants', target, ...units]);
  // A generator is masked like a unit: a link to /dev/null of its name in /etc (systemd.generator(7)).
  if (sd.maskGenerators.length) mkdirSync(join(root, 'etc/systemd/system-generators'), { recursive: true });
  for (const g of sd.maskGenerators) {
    if (!existsSync(join(root, 'usr/lib/systemd/system-generators', g)))
      throw new VmlabError('ERR_VMLAB_IMAGE_RECIPE', `${recipe.recipeFile}: systemd.mask-generators: no generator "${g}" in the image`, {
        kind: 'user',
        hint: 'ls /usr/lib/systemd/system-generators in a guest',
      });
    symlinkSync('/dev/null', join(root, 'etc/systemd/system-generators', g));
  }
  // Every VM makes its own identity on first boot.
  writeFileSync(join(root, 'etc/machine-id'), '');
  rmSync(join(root, 'var/lib/dbus/machine-id'), { force: true });
  for (const f of readdirSync(join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) rmSync(join(root, 'etc/ssh', f));
  writeFileSync(join(root, 'etc/hostname'), 'debian\n', { mode: 0o644 });
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n', { mode: 0o644 });
  // No resolver running by default: vmlab writes /etc/resolv.conf from the lab's `dns:`.
  rmSync(join(root, 'etc/resolv.conf'), { force: true });
  writeFileSync(join(root, 'etc/resolv.conf'), '# written by vmlab from the lab file (nics[].dns)\n', { mode: 0o644 });
  for (const d of ['var/lib/apt/lists', 'var/cache/apt']) {
    const p = join(root, d);
    if (!existsSync(p)) continue;
    for (const e of readdirSync(p)) if (e !== 'partial' && e !== 'archives') rmSync(join(p, e), { recursive: true, force: true });
  }
  // Build logs go, but not the directories packages made for their logs (nginx will not start without /var/log/nginx).
  removeFilesKeepDirs(join(root, 'var/log'));
  markUpdated(root);
}

/**
 * What systemd-update-done.service would write on the first boot: /etc and /var are up to
 * date with /usr. Without it every new VM runs the ConditionNeedsUpdate= units once more
 * (systemd-sysusers: users the packages already made). Same format as systemd's own.
 */
function markUpdated(root: string): void {
  const usr = statSync(join(root, 'usr'), { bigint: true });
  for (const dir of ['etc', 'var']) {
    const file = join(root, dir, '.updated');
    writeFileSync(file, `# Written by the vmlab image builder, as systemd-update-done would.\n# See man:systemd-update-done.service(8).\nTIMESTAMP_NSEC=${usr.mtimeNs}\n`, { mode: 0o644 });
    utimesSync(file, usr.atime, usr.mtime);
  }
}

function removeFilesKeepDirs(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) removeFilesKeepDirs(join(dir, e.name));
    else rmSync(join(dir, e.name), { force: true });
  }
}

function findBootFiles(root: string): { kernel: string; initrd: string } {
  const files = readdirSync(join(root, 'boot'));
  const kernel = files
    .filter((f) => f.startsWith('vmlinuz-'))
    .sort()
    .pop();
  const initrd = files
    .filter((f) => f.startsWith('initrd.img-'))
    .sort()
    .pop();
  if (!kernel || !initrd) throw new VmlabError('ERR_VMLAB_IMAGE_BUILD', `no kernel or initrd in ${join(root, 'boot')} (is linux-image-amd64 in the recipe?)`);
  return { kernel: join(root, 'boot', kernel), initrd: join(root, 'boot', initrd) };
}
