import { copyFileSync, openSync, readSync, closeSync, statSync, existsSync, rmSync } from 'node:fs';
import { isoFileProblem } from './iso-check.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { VmlabError } from '../errors.js';
import { run } from './exec.js';
import { IMAGE_NAME } from '../lab/fields.js';
import type { ImageInfo, ImageStore } from './image-store.js';
import { assertDiskImage, qemuImgInfo } from './qemu-img.js';

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * qemu-img calls any file "raw", so a raw file must also look like a disk:
 * whole sectors and an MBR/GPT boot signature (0x55AA at byte 510).
 */
function looksLikeRawDisk(path: string): boolean {
  const size = statSync(path).size;
  if (size < 1024 || size % 512 !== 0) return false;
  const buf = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  readSync(fd, buf, 0, 2, 510);
  closeSync(fd);
  return buf[0] === 0x55 && buf[1] === 0xaa;
}

export async function checkDiskImage(path: string): Promise<{ format: string; virtualSize: number }> {
  if (!existsSync(path)) throw new VmlabError('ERR_VMLAB_IMAGE_NOT_FOUND', `no such file: ${path}`, { kind: 'user' });
  const info = await qemuImgInfo(path);
  assertDiskImage(info, path);
  if (info.format === 'raw' && !looksLikeRawDisk(path)) {
    throw new VmlabError('ERR_VMLAB_IMAGE_NOT_DISK', `${path} is not a disk image (no partition table, not qcow2)`, {
      kind: 'user',
      hint: 'import a qcow2, or a raw disk with an MBR/GPT partition table',
    });
  }
  if (info.backingFile) {
    throw new VmlabError('ERR_VMLAB_IMAGE_HAS_BACKING', `${path} is an overlay on ${info.backingFile}`, { kind: 'user', hint: 'flatten it first: qemu-img convert -O qcow2 overlay.qcow2 flat.qcow2' });
  }
  return info;
}

export function checkImageName(name: string): void {
  if (!IMAGE_NAME.test(name)) throw new VmlabError('ERR_VMLAB_IMAGE_NAME', `"${name}" is not a valid image name`, { kind: 'user', hint: 'lowercase letters, digits, ".", "_" and "-"' });
}

/** Copies (converting to qcow2) a disk image into the store under `name`; an ISO stays as it is (install media). */
export async function importImage(store: ImageStore, path: string, name: string, origin: 'import' | 'pull' = 'import', extra: Partial<ImageInfo> = {}): Promise<ImageInfo> {
  checkImageName(name);
  if (existsSync(path) && looksLikeIso(path)) return importMedia(store, path, name, origin, extra);
  const info = await checkDiskImage(path);
  return publishConverted(store, path, info.format, name, { source: origin, origin: extra.origin ?? path, ...(extra.sha256 ? { sha256: extra.sha256 } : {}) });
}

/**
 * Converts a disk (through its backing chain: the result stands alone, without
 * the overlay's internal snapshots) into a new version of image `name`.
 */
export async function publishConverted(store: ImageStore, path: string, format: string, name: string, meta: Pick<ImageInfo, 'source' | 'origin'> & { sha256?: string }): Promise<ImageInfo> {
  const unlock = store.lock(name);
  try {
    store.cleanStale(name);
    const tmp = store.tempFile(name) + '.qcow2';
    try {
      await run('qemu-img', ['convert', '-f', format, '-O', 'qcow2', path, tmp], { timeoutMs: 30 * 60_000 });
      const sha = meta.sha256 ?? (await sha256File(tmp));
      const out = await qemuImgInfo(tmp);
      return store.publish(tmp, {
        name,
        version: sha.slice(0, 12),
        source: meta.source,
        sha256: sha,
        format: 'qcow2',
        virtualSize: out.virtualSize,
        actualSize: out.actualSize,
        created: new Date().toISOString(),
        ...(meta.origin ? { origin: meta.origin } : {}),
      });
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  } finally {
    unlock();
  }
}

function looksLikeIso(path: string): boolean {
  const head = Buffer.alloc(0x8001 + 5);
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString('latin1', 0x8001, 0x8006) === 'CD001';
  } finally {
    closeSync(fd);
  }
}

/** Install media: a bootable ISO 9660 image, copied byte for byte (labs attach it read-only: cdrom: NAME). */
async function importMedia(store: ImageStore, path: string, name: string, origin: 'import' | 'pull', extra: Partial<ImageInfo>): Promise<ImageInfo> {
  const bad = isoFileProblem(path);
  if (bad) throw new VmlabError('ERR_VMLAB_MEDIA_NOT_BOOTABLE', `${path} ${bad}`, { kind: 'user', hint: 'install media must be a bootable ISO (El Torito), as distributions ship them' });
  const unlock = store.lock(name);
  try {
    store.cleanStale(name);
    const tmp = store.tempFile(name) + '.iso';
    try {
      copyFileSync(path, tmp);
      const sha = extra.sha256 ?? (await sha256File(tmp));
      const size = statSync(tmp).size;
      return store.publish(tmp, {
        name,
        version: sha.slice(0, 12),
        source: origin,
        sha256: sha,
        format: 'iso',
        virtualSize: size,
        actualSize: size,
        created: new Date().toISOString(),
        origin: extra.origin ?? path,
      });
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  } finally {
    unlock();
  }
}
