import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pidAlive, takeLockFile } from '../util/lockfile.js';
import { VmlabError } from '../errors.js';

/**
 * The image cache: one directory, e.g. /var/lib/vmlab/images.
 *
 *   <name>@<version>.qcow2   an immutable image version (linked clones point here)
 *   <name>@<version>.json    what it is: source, recipe hash, sizes, build time
 *   <name>.qcow2             symlink to the current version (what labs use)
 *   <name>@<version>.iso, <name>.iso   the same for install media (imported ISOs, attached read-only)
 *
 * A rebuild adds a version and moves the symlink; it never rewrites a file an
 * existing linked clone uses as its backing file.
 */
export interface ImageInfo {
  name: string;
  version: string;
  file: string;
  /** capture: a lab VM's disk, flattened (vmlab image capture). */
  source: 'recipe' | 'import' | 'pull' | 'capture';
  recipeHash?: string;
  sha256?: string;
  format: string;
  virtualSize: number;
  actualSize: number;
  created: string;
  buildSeconds?: number;
  origin?: string;
}

export type ImageExt = 'qcow2' | 'iso';
const IMAGE_EXTS: ImageExt[] = ['qcow2', 'iso'];
const EXT_RE = /\.(qcow2|iso)$/;

export class ImageStore {
  constructor(readonly dir: string) {}

  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  /** Disk images are qcow2; install media (format iso) keep their bytes and their extension. */
  currentLink(name: string, ext: ImageExt = 'qcow2'): string {
    return join(this.dir, `${name}.${ext}`);
  }

  versionFile(name: string, version: string, ext: ImageExt = 'qcow2'): string {
    return join(this.dir, `${name}@${version}.${ext}`);
  }

  /** The current version of an image (a disk or install media), or undefined. */
  current(name: string): ImageInfo | undefined {
    for (const ext of IMAGE_EXTS) {
      let target: string;
      try {
        target = readlinkSync(this.currentLink(name, ext));
      } catch {
        continue;
      }
      const meta = join(this.dir, basename(target).replace(EXT_RE, '.json'));
      if (!existsSync(join(this.dir, basename(target))) || !existsSync(meta)) continue;
      return JSON.parse(readFileSync(meta, 'utf8')) as ImageInfo;
    }
    return undefined;
  }

  /** The file of imported install media `name` (attached read-only, shared, never copied). */
  resolveMedia(name: string): string {
    const info = this.current(name);
    if (!info || info.format !== 'iso') {
      throw new VmlabError('ERR_VMLAB_MEDIA_MISSING', info ? `image "${name}" is a disk image, not install media` : `no install media "${name}" in ${this.dir}`, {
        kind: 'user',
        hint: info ? 'use it as image:, or import the ISO under another name' : `import it: vmlab image import FILE.iso --name ${name} (or give cdrom: a path)`,
      });
    }
    return info.file;
  }

  /** Absolute path of the current version's file (what a linked clone's backing file must be). */
  resolve(name: string): string {
    const info = this.current(name);
    if (info?.format === 'iso') {
      throw new VmlabError('ERR_VMLAB_IMAGE_IS_MEDIA', `image "${name}" is install media (an ISO), not a disk to clone`, { kind: 'user', hint: `boot it: boot: cdrom and cdrom: ${name}` });
    }
    if (!info) {
      throw new VmlabError('ERR_VMLAB_IMAGE_MISSING', `image "${name}" is not in ${this.dir}`, {
        kind: 'user',
        hint: name === 'debian-12' ? 'build it: vmlab image build debian-12' : 'see vmlab image list; pull or import it first',
      });
    }
    return info.file;
  }

  list(): Array<ImageInfo & { olderVersions: string[] }> {
    if (!existsSync(this.dir)) return [];
    const out: Array<ImageInfo & { olderVersions: string[] }> = [];
    const entries = readdirSync(this.dir);
    for (const f of entries.filter((e) => EXT_RE.test(e) && !e.includes('@')).sort()) {
      if (!lstatSync(join(this.dir, f)).isSymbolicLink()) continue;
      const name = f.replace(EXT_RE, '');
      const cur = this.current(name);
      if (!cur) continue;
      const older = entries.filter((e) => e.startsWith(`${name}@`) && EXT_RE.test(e) && e !== basename(cur.file)).map((e) => e.slice(name.length + 1).replace(EXT_RE, ''));
      out.push({ ...cur, actualSize: safeSize(cur.file), olderVersions: older });
    }
    return out;
  }

  names(): string[] {
    return this.list().map((i) => i.name);
  }

  /** Atomically publish a finished image file (already in this.dir) as the current version. */
  publish(tmpFile: string, info: Omit<ImageInfo, 'file'>): ImageInfo {
    const ext: ImageExt = info.format === 'iso' ? 'iso' : 'qcow2';
    const file = this.versionFile(info.name, info.version, ext);
    const full: ImageInfo = { ...info, file };
    renameSync(tmpFile, file);
    writeFileSync(file.replace(EXT_RE, '.json.tmp'), JSON.stringify(full, null, 2) + '\n');
    renameSync(file.replace(EXT_RE, '.json.tmp'), file.replace(EXT_RE, '.json'));
    // One kind per name: importing an ISO under a disk image's name (or back) replaces the other link.
    for (const other of IMAGE_EXTS) if (other !== ext) rmSync(this.currentLink(info.name, other), { force: true });
    const link = this.currentLink(info.name, ext);
    const tmpLink = `${link}.tmp-${process.pid}`;
    rmSync(tmpLink, { force: true });
    symlinkSync(basename(file), tmpLink);
    renameSync(tmpLink, link);
    return full;
  }

  /** Every version file of an image in the cache. */
  versionFiles(name: string): string[] {
    return existsSync(this.dir)
      ? readdirSync(this.dir)
          .filter((e) => e.startsWith(`${name}@`) && EXT_RE.test(e))
          .map((e) => join(this.dir, e))
      : [];
  }

  /** Remove an image: the current link and every version not used by a linked clone. */
  remove(name: string, inUse: (file: string) => boolean): { removed: string[]; kept: string[] } {
    const removed: string[] = [];
    const kept: string[] = [];
    if (!existsSync(this.dir)) return { removed, kept };
    const versions = readdirSync(this.dir).filter((e) => e.startsWith(`${name}@`) && EXT_RE.test(e));
    if (versions.length === 0 && !IMAGE_EXTS.some((x) => existsSync(this.currentLink(name, x)))) {
      throw new VmlabError('ERR_VMLAB_IMAGE_MISSING', `no image "${name}" in ${this.dir}`, { kind: 'user', hint: 'see vmlab image list' });
    }
    for (const v of versions) {
      const file = join(this.dir, v);
      if (inUse(file)) {
        kept.push(file);
        continue;
      }
      rmSync(file, { force: true });
      rmSync(file.replace(EXT_RE, '.json'), { force: true });
      removed.push(file);
    }
    if (kept.length === 0) for (const x of IMAGE_EXTS) rmSync(this.currentLink(name, x), { force: true });
    return { removed, kept };
  }

  /** A temp name inside the cache, so the final rename is atomic; removed by cleanStale() if we die. */
  tempFile(name: string): string {
    this.ensure();
    return join(this.dir, `.${name}.partial-${process.pid}-${Date.now()}`);
  }

  /** Partial files or build trees left by interrupted builds of dead processes (not resumable downloads). */
  stalePartials(name: string): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((e) => e.startsWith(`.${name}.partial-`) && !pidAlive(Number(e.slice(`.${name}.partial-`.length).split('-')[0])))
      .map((e) => join(this.dir, e));
  }

  /** Removes stale partial files (plain files only; build trees go through removeTree). */
  cleanStale(name: string): void {
    for (const p of this.stalePartials(name)) {
      try {
        if (!statSync(p).isDirectory()) rmSync(p, { force: true });
      } catch {
        /* gone */
      }
    }
  }

  /** An exclusive lock per image name (build/pull/remove), released by the returned function. */
  lock(name: string): () => void {
    this.ensure();
    return takeLockFile(
      join(this.dir, `.${name}.lock`),
      (pid) => new VmlabError('ERR_VMLAB_IMAGE_LOCKED', pid ? `image "${name}" is being built or downloaded by process ${pid}` : `cannot lock image "${name}"`, { hint: 'wait for it to finish' }),
    );
  }
}

function safeSize(file: string): number {
  try {
    return statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}
