import { existsSync, mkdirSync, readdirSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyDiskFile, createDisk, createLinkedClone, deleteInternalSnapshot, internalSnapshots } from '../host/qemu-img.js';
import { writeSeedIso } from '../host/seed-iso.js';
import { mediaProblem } from '../host/iso-check.js';
import { ensureRootfs } from '../host/rootfs.js';
import { pruneEmptyDir } from '../util/fs.js';

/** Disk and seed files of lab VMs. The real one uses qemu-img and xorriso; tests use a fake. */
export interface DiskOps {
  exists(path: string): boolean;
  ensureDir(dir: string): void;
  linkedClone(base: string, path: string): Promise<void>;
  create(path: string, format: 'qcow2' | 'raw', sizeBytes: number): Promise<void>;
  /** A whole copy of another VM's disk (a fork: lab-ops/fork.ts), internal snapshots included. */
  copy(from: string, path: string): Promise<void>;
  /** A small file that says an operation on a VM is under way (fork.ts), and its removal. */
  mark(path: string): void;
  unmark(path: string): void;
  /** The internal snapshots in a qcow2 file no QEMU has open, and the removal of one. */
  snapshotsIn(path: string): Promise<string[]>;
  deleteSnapshotIn(path: string, name: string): Promise<void>;
  writeSeed(path: string, files: Record<string, string>): Promise<void>;
  /** Removes a VM's directory, or only its non-disk files with keepDisks. */
  removeVmFiles(dir: string, keepDisks: boolean): void;
  /** The VM directories under a lab's directory (what down removes), none if it does not exist. */
  vmDirs(labDir: string): string[];
  /** Removes a lab's directory once it is empty. */
  pruneLabDir(labDir: string): void;
  /** What is wrong with install media (missing, not a bootable ISO 9660 image), undefined when fine. */
  mediaProblem(path: string): string | undefined;
  /** A container's lower layer: the image's root file system unpacked into `dir`, once per image version. */
  ensureRootfs(imageFile: string, dir: string, onStep?: (what: string) => void): Promise<void>;
  /** cloud-init's NoCloud seed as files in a folder (a container's). */
  writeSeedDir(dir: string, files: Record<string, string>): void;
}

/** Created under a temp name and renamed, so an interrupted `up` never leaves a half file. */
async function atomically(path: string, make: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.partial-${process.pid}`;
  try {
    await make(tmp);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export const hostDisks: DiskOps = {
  exists: existsSync,
  ensureDir: (dir) => mkdirSync(dir, { recursive: true, mode: 0o755 }),
  linkedClone: (base, path) => atomically(path, (tmp) => createLinkedClone(base, tmp)),
  create: (path, format, size) => atomically(path, (tmp) => createDisk(tmp, format, size)),
  copy: (from, path) => atomically(path, (tmp) => copyDiskFile(from, tmp)),
  snapshotsIn: internalSnapshots,
  mark: (path) => writeFileSync(path, `${process.pid} ${new Date().toISOString()}\n`),
  unmark: (path) => rmSync(path, { force: true }),
  deleteSnapshotIn: deleteInternalSnapshot,
  writeSeed: (path, files) => writeSeedIso(path, files),
  removeVmFiles(dir, keepDisks) {
    if (!existsSync(dir)) return;
    if (!keepDisks) return rmSync(dir, { recursive: true, force: true });
    for (const f of readdirSync(dir)) if (!/\.(qcow2|raw)$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
  },
  vmDirs: (labDir) => (existsSync(labDir) ? readdirSync(labDir).map((vm) => join(labDir, vm)) : []),
  pruneLabDir: pruneEmptyDir,
  mediaProblem,
  ensureRootfs,
  writeSeedDir(dir, files) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  },
};
