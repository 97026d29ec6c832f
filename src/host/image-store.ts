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

export class ImageStore {
  constructor(readonly dir: string) {}

  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  currentLink(name: string): string {
    return join(this.dir, `${name}.qcow2`);
  }

  versionFile(name: string, version: string): string {
    return join(this.dir, `${name}@${version}.qcow2`);
  }

  /** The current version of an image, or undefined. */
  current(name: string): ImageInfo | undefined {
    const link = this.currentLink(name);
    let target: string;
    try {
      target = readlinkSync(link);
    } catch {
      return undefined;
    }
    const meta = join(this.dir, basename(target).replace(/\.qcow2$/, '.json'));
    if (!existsSync(join(this.dir, basename(target))) || !existsSync(meta)) return undefined;
    return JSON.parse(readFileSync(meta, 'utf8')) as ImageInfo;
  }

  /** Absolute path of the current version's file (what a linked clone's backing file must be). */
  resolve(name: string): string {
    const info = this.current(name);
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
    for (const f of entries.filter((e) => e.endsWith('.qcow2') && !e.includes('@')).sort()) {
      if (!lstatSync(join(this.dir, f)).isSymbolicLink()) continue;
      const name = f.replace(/\.qcow2$/, '');
      const cur = this.current(name);
      if (!cur) continue;
      const older = entries.filter((e) => e.startsWith(`${name}@`) && e.endsWith('.qcow2') && e !== basename(cur.file)).map((e) => e.slice(name.length + 1, -6));
      out.push({ ...cur, actualSize: safeSize(cur.file), olderVersions: older });
    }
    return out;
  }

  names(): string[] {
    return this.list().map((i) => i.name);
  }

  /** Atomically publish a finished image file (already in this.dir) as the current version. */
  publish(tmpFile: string, info: Omit<ImageInfo, 'file'>): ImageInfo {
    const file = this.versionFile(info.name, info.version);
    const full: ImageInfo = { ...info, file };
    renameSync(tmpFile, file);
    writeFileSync(file.replace(/\.qcow2$/, '.json.tmp'), JSON.stringify(full, null, 2) + '\n');
    renameSync(file.replace(/\.qcow2$/, '.json.tmp'), file.replace(/\.qcow2$/, '.json'));
    const link = this.currentLink(info.name);
    const tmpLink = `${link}.tmp-${process.pid}`;
    rmSync(tmpLink, { force: true });
    symlinkSync(basename(file), tmpLink);
    renameSync(tmpLink, link);
    return full;
  }

  /** Remove an image: the current link and every version not used by a linked clone. */
  remove(name: string, inUse: (file: string) => boolean): { removed: string[]; kept: string[] } {
    const removed: string[] = [];
    const kept: string[] = [];
    if (!existsSync(this.dir)) return { removed, kept };
    const versions = readdirSync(this.dir).filter((e) => e.startsWith(`${name}@`) && e.endsWith('.qcow2'));
    if (versions.length === 0 && !existsSync(this.currentLink(name))) {
      throw new VmlabError('ERR_VMLAB_IMAGE_MISSING', `no image "${name}" in ${this.dir}`, { kind: 'user', hint: 'see vmlab image list' });
    }
    for (const v of versions) {
      const file = join(this.dir, v);
      if (inUse(file)) {
        kept.push(file);
        continue;
      }
      rmSync(file, { force: true });
      rmSync(file.replace(/\.qcow2$/, '.json'), { force: true });
      removed.push(file);
    }
    if (kept.length === 0) rmSync(this.currentLink(name), { force: true });
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
