import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Install media must be an ISO 9660 image that a BIOS can boot (El Torito):
 * the primary volume descriptor ("CD001" at sector 16) and the boot record
 * ("EL TORITO SPECIFICATION" at sector 17). Read-only: the file is never changed.
 */
export function isoBytesProblem(head: Uint8Array): string | undefined {
  const text = (at: number, n: number) => Buffer.from(head.subarray(at, at + n)).toString('latin1');
  if (head.length < 0x8800 + 32 || text(0x8001, 5) !== 'CD001') return 'is not an ISO 9660 image (no CD001 volume descriptor at sector 16)';
  if (head[0x8800] !== 0 || text(0x8801, 5) !== 'CD001' || !text(0x8807, 23).startsWith('EL TORITO SPECIFICATION')) return 'is an ISO 9660 image but not bootable (no El Torito boot record)';
  return undefined;
}

/** Media a lab attaches: a bootable ISO that QEMU can reach. */
export function mediaProblem(path: string): string | undefined {
  const bad = isoFileProblem(path);
  if (bad) return bad;
  // QEMU runs as its own user (libvirt-qemu on Debian): libvirt gives it the file, not the folders on the way.
  for (let d = dirname(path); d !== dirname(d); d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return `cannot be reached by QEMU, which runs as its own user: folder ${d} is not searchable by others (chmod o+x ${d}, or put the media elsewhere)`;
  }
  return undefined;
}

/** A file that is a bootable ISO 9660 image. */
export function isoFileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a file';
  } catch {
    return 'does not exist (the path is relative to the lab file)';
  }
  const head = Buffer.alloc(0x8800 + 64);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    return isoBytesProblem(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}
