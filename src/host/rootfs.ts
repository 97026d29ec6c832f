import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VmlabError } from '../errors.js';
import { run } from './exec.js';
import { removeTree } from './mounts.js';

const SECTOR = 512;
/** Written last: a folder without it is an unpacking that did not finish. */
const COMPLETE = '.vmlab-rootfs-complete';

const CONTAINER_FSTAB = "# vmlab: a container's root is an overlay vmlab mounts before it starts; nothing to mount here\n";

interface SfdiskJson {
  partitiontable?: { partitions?: Array<{ start: number; size: number; type: string }> };
}

/**
 * The image's root file system as a folder, for containers: unpacked once per
 * image version (the qcow2 converted to a raw disk, its Linux partition — or
 * the whole disk when it has no partition table — mounted read-only through a
 * loop device and copied with owners, modes, capabilities and ACLs), then
 * shared read-only by every container of that version as overlayfs's lower
 * layer. Its fstab is emptied (the root it names is the VM's disk). Under a
 * temporary name until complete, so an interrupted unpacking is never used.
 */
export function ensureRootfs(imageFile: string, dir: string, onStep?: (what: string) => void): Promise<void> {
  if (existsSync(join(dir, COMPLETE))) return Promise.resolve();
  // The containers of one lab come up together: one unpacking per folder, the others wait for it.
  let pending = unpacking.get(dir);
  if (!pending) {
    pending = unpack(imageFile, dir, onStep).finally(() => unpacking.delete(dir));
    unpacking.set(dir, pending);
  } else onStep?.(`waiting for the image's root file system to be unpacked into ${dir}`);
  return pending;
}

const unpacking = new Map<string, Promise<void>>();

async function unpack(imageFile: string, dir: string, onStep?: (what: string) => void): Promise<void> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  const tmp = `${dir}.partial-${process.pid}`;
  const raw = `${tmp}.raw`;
  const mnt = `${tmp}.mnt`;
  try {
    onStep?.(`unpacking the image's root file system (once per image version) into ${dir}`);
    await run('qemu-img', ['convert', '-O', 'raw', imageFile, raw], { timeoutMs: 10 * 60_000 });
    const offset = await rootPartitionOffset(raw);
    mkdirSync(mnt, { recursive: true });
    mkdirSync(tmp, { recursive: true, mode: 0o755 });
    await run('mount', ['-o', `ro,loop,offset=${offset}`, raw, mnt]).catch((e: unknown) => {
      throw new VmlabError('ERR_VMLAB_ROOTFS', `cannot mount the root file system of ${imageFile} to unpack it for a container`, {
        hint: 'containers need loop devices (losetup -f) and root; vmlab doctor checks',
        cause: e,
      });
    });
    try {
      await run('cp', ['-a', '--preserve=all', `${mnt}/.`, `${tmp}/`], { timeoutMs: 10 * 60_000 });
    } finally {
      await run('umount', [mnt]);
    }
    // The VM's fstab names a disk a container does not have (systemd-remount-fs then fails at every boot): its root is the overlay vmlab mounts.
    writeFileSync(join(tmp, 'etc/fstab'), CONTAINER_FSTAB);
    writeFileSync(join(tmp, COMPLETE), `${imageFile}\n`);
    // Another vmlab may have finished the same unpacking meanwhile, and its containers may use it already: keep that one.
    if (!existsSync(join(dir, COMPLETE))) {
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    }
  } finally {
    rmSync(raw, { force: true });
    rmSync(mnt, { recursive: true, force: true });
    await removeTree(tmp);
  }
}

/** Where the image's Linux root partition starts (bytes): the last Linux partition, or 0 for a bare file system. */
async function rootPartitionOffset(raw: string): Promise<number> {
  const r = await run('sfdisk', ['-J', raw]).catch(() => undefined);
  if (!r) return 0; // no partition table: the disk is the file system
  const parts = (JSON.parse(r.stdout) as SfdiskJson).partitiontable?.partitions ?? [];
  const linux = parts.filter((p) => p.type === '83' || p.type.toLowerCase() === '0fc63daf-8483-4772-8e79-3d69d8477de4');
  const root = linux.at(-1);
  if (!root)
    throw new VmlabError('ERR_VMLAB_ROOTFS', 'the image has no Linux partition to use as a container root', {
      kind: 'user',
      hint: 'a container needs an image with a Linux root file system (ext4) on its disk',
    });
  return root.start * SECTOR;
}
