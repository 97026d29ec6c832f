import { readFileSync, readdirSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { VmlabError } from '../errors.js';

/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string): string[] {
  const base = resolve(dir);
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === base || mp.startsWith(base + '/')) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Processes whose root directory (chroot) lies below `dir`. */
function chrootedUnder(dir: string): number[] {
  const base = resolve(dir);
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const r = readlinkSync(`/proc/${p}/root`);
      if (r === base || r.startsWith(base + '/')) pids.push(Number(p));
    } catch {
      /* gone, or not ours to see */
    }
  }
  return pids;
}

/**
 * Deletes a build tree safely: processes chrooted into it are killed, every
 * mount below it (an interrupted mmdebstrap leaves proc, sys, devpts, shm) is
 * lazily unmounted, and the delete never crosses a mount point.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const pid of chrootedUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const mp of mountsUnder(dir)) await execa('umount', ['--lazy', mp], { reject: false });
  const left = mountsUnder(dir);
  if (left.length) {
    throw new VmlabError('ERR_VMLAB_BUSY_TREE', `will not delete ${dir}: still mounted below it: ${left.join(', ')}`, { hint: `umount them, then rm -rf ${dir}` });
  }
  rmSync(dir, { recursive: true, force: true });
}
