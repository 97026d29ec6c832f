import { VmlabError } from '../errors.js';
import { run } from './exec.js';

export interface DiskInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string;
}

/** `qemu-img info --output=json`; refuses files that are not disk images. */
export async function qemuImgInfo(path: string): Promise<DiskInfo> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-U', path]);
  const j = JSON.parse(stdout) as { format: string; 'virtual-size': number; 'actual-size': number; 'full-backing-filename'?: string; 'backing-filename'?: string };
  return {
    format: j.format,
    virtualSize: j['virtual-size'],
    actualSize: j['actual-size'],
    ...((j['full-backing-filename'] ?? j['backing-filename']) ? { backingFile: j['full-backing-filename'] ?? j['backing-filename'] } : {}),
  };
}

/** A qcow2 linked clone: a new, empty overlay whose backing file is `base`. Never a copy. */
export async function createLinkedClone(base: string, overlay: string, sizeBytes?: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay, ...(sizeBytes ? [String(sizeBytes)] : [])]);
}

export async function createDisk(path: string, format: 'qcow2' | 'raw', sizeBytes: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', format, path, String(sizeBytes)]);
}

export function assertDiskImage(info: DiskInfo, path: string): void {
  if (!['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx', 'vpc'].includes(info.format)) {
    throw new VmlabError('ERR_VMLAB_IMAGE_NOT_DISK', `${path} is not a disk image (qemu-img says: ${info.format})`, { kind: 'user' });
  }
}

/** The internal snapshots in a qcow2 file (`qemu-img snapshot -l`, of a file no QEMU has open), by name. */
export async function internalSnapshots(path: string): Promise<string[]> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', path]);
  const j = JSON.parse(stdout) as { snapshots?: Array<{ name: string }> };
  return (j.snapshots ?? []).map((s) => s.name);
}

/** Deletes one internal snapshot from a qcow2 file no QEMU has open. */
export async function deleteInternalSnapshot(path: string, name: string): Promise<void> {
  await run('qemu-img', ['snapshot', '-d', name, path]);
}

/**
 * A whole copy of a disk file: shared blocks where the file system can (XFS, btrfs: `cp --reflink`),
 * a plain sparse copy elsewhere (ext4, overlayfs). Its backing file, if any, is named as before.
 */
export async function copyDiskFile(from: string, to: string): Promise<void> {
  await run('cp', ['--reflink=auto', '--sparse=always', '--', from, to]);
}
