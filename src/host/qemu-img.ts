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
