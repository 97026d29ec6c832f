import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureRootfs } from '../../src/host/rootfs.js';
import { rootfsDir } from '../../src/plan/container-plan.js';

/**
 * A bootable ISO built from Debian packages for the tests: the kernel of
 * vmlab's debian-12 image (from its FAT boot partition), a tiny initramfs with
 * a static busybox whose /init prints a banner and a `login:` prompt on the
 * serial console, and isolinux. An OS vmlab knows nothing about: no
 * cloud-init, no guest agent, no virtio driver needed.
 */
export const TEST_OS_PROMPT = 'vmlab-test login:';

/**
 * A web server the test OS starts `afterS` seconds after its prompt, on its
 * first NIC (an Intel e1000: the kernel's own module, loaded by busybox), so
 * that a readiness test can tell "the console printed" from "the port answers".
 */
export interface TestIsoNet {
  /** e1000.ko of the image's kernel. */
  e1000: string;
  /** CIDR the guest sets on eth0 itself (vmlab does not provision it). */
  address: string;
  port: number;
  afterS: number;
}

export const TEST_OS_PAGE = 'vmlab test OS: served by busybox httpd';

function init(net?: TestIsoNet): string {
  const [ip, prefix] = net ? net.address.split('/') : [];
  const web = net
    ? `/bin/busybox insmod /e1000.ko
/bin/busybox ip link set eth0 up
/bin/busybox ip addr add ${ip}/${prefix} dev eth0
( /bin/busybox sleep ${net.afterS}; /bin/busybox httpd -p ${net.port} -h /www && echo "vmlab test OS: httpd listens on ${ip}:${net.port}" ) &
`
    : '';
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
exec </dev/ttyS0 >/dev/ttyS0 2>&1
echo
echo "vmlab test OS: an unmodified guest (no cloud-init, no agent), kernel $(/bin/busybox uname -r)"
${web}while true; do
  printf '${TEST_OS_PROMPT} '
  read -r who || /bin/busybox sleep 1
  [ -n "$who" ] && echo "Login incorrect"
done
`;
}

const ISOLINUX_CFG = 'DEFAULT vmlabtest\nPROMPT 0\nTIMEOUT 0\nLABEL vmlabtest\n  KERNEL /vmlinuz\n  INITRD /initrd.gz\n  APPEND console=ttyS0 quiet panic=5\n';

/** The debian-12 image's kernel, copied out of its FAT boot partition (MBR partition 1) without mounting anything. */
async function imageKernel(image: string, work: string): Promise<string> {
  const mbr = join(work, 'mbr.bin');
  await execa('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', 'count=1', `if=${image}`, `of=${mbr}`]);
  const table = readFileSync(mbr);
  const start = table.readUInt32LE(446 + 8);
  const sectors = table.readUInt32LE(446 + 12);
  const boot = join(work, 'boot.fat');
  await execa('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=512', `skip=${start}`, `count=${start + sectors}`, `if=${image}`, `of=${boot}`]);
  const kernel = join(work, 'vmlinuz');
  await execa('mcopy', ['-n', '-i', boot, '::/vmlinuz', kernel], { env: { MTOOLS_SKIP_CHECK: '1' } });
  return kernel;
}

/** The e1000 module of the image's kernel, from its root file system (unpacked once per image version, as for containers). */
export async function imageE1000(image: string, dataDir: string): Promise<string> {
  const root = rootfsDir(dataDir, image);
  await ensureRootfs(image, root);
  const kernels = readdirSync(join(root, 'lib', 'modules'));
  if (kernels.length !== 1) throw new Error(`expected one kernel in ${root}/lib/modules, found ${kernels.join(', ') || 'none'}`);
  const ko = join(root, 'lib', 'modules', kernels[0]!, 'kernel', 'drivers', 'net', 'ethernet', 'intel', 'e1000', 'e1000.ko');
  if (!existsSync(ko)) throw new Error(`${ko} is missing`);
  return ko;
}

export async function buildTestIso(image: string, work: string, net?: TestIsoNet): Promise<string> {
  const tree = join(work, 'iso');
  const initramfs = join(work, 'initramfs');
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  mkdirSync(join(initramfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(initramfs, 'bin', 'busybox'));
  writeFileSync(join(initramfs, 'init'), init(net));
  if (net) {
    copyFileSync(net.e1000, join(initramfs, 'e1000.ko'));
    mkdirSync(join(initramfs, 'www'));
    writeFileSync(join(initramfs, 'www', 'index.html'), `${TEST_OS_PAGE}\n`);
  }
  chmodSync(join(initramfs, 'init'), 0o755);
  const files = (await execa('find', ['.', '-mindepth', '1'], { cwd: initramfs })).stdout;
  const cpio = await execa('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: initramfs, input: files + '\n', encoding: 'buffer' });
  const gz = await execa('gzip', ['-9'], { input: cpio.stdout as unknown as Buffer, encoding: 'buffer' });
  writeFileSync(join(tree, 'initrd.gz'), gz.stdout as unknown as Uint8Array);
  copyFileSync(await imageKernel(image, work), join(tree, 'vmlinuz'));
  copyFileSync('/usr/lib/ISOLINUX/isolinux.bin', join(tree, 'isolinux', 'isolinux.bin'));
  copyFileSync('/usr/lib/syslinux/modules/bios/ldlinux.c32', join(tree, 'isolinux', 'ldlinux.c32'));
  writeFileSync(join(tree, 'isolinux', 'isolinux.cfg'), ISOLINUX_CFG);
  const iso = join(work, 'test-os.iso');
  await execa('xorriso', [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    iso,
    '-V',
    'VMLABTEST',
    '-b',
    'isolinux/isolinux.bin',
    '-c',
    'isolinux/boot.cat',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-boot-info-table',
    tree,
  ]);
  return iso;
}
