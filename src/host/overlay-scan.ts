import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { qemuImgInfo } from './qemu-img.js';

/** Which base image files are backing files of lab disks under `labsDir` (file → overlays). */
export async function findBackingUsers(labsDir: string): Promise<Map<string, Set<string>>> {
  const users = new Map<string, Set<string>>();
  if (!existsSync(labsDir)) return users;
  for (const lab of readdirSync(labsDir)) {
    const labDir = join(labsDir, lab);
    for (const vm of safeList(labDir)) {
      for (const f of safeList(join(labDir, vm))) {
        if (!f.endsWith('.qcow2')) continue;
        const overlay = join(labDir, vm, f);
        try {
          const info = await qemuImgInfo(overlay);
          if (info.backingFile) {
            const set = users.get(info.backingFile) ?? new Set<string>();
            set.add(overlay);
            users.set(info.backingFile, set);
          }
        } catch {
          /* not a disk we can read: ignore */
        }
      }
    }
  }
  return users;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
