import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';

/** One `up`/`down` per lab at a time. A lock left by a dead process is taken over. */
export function lockLab(dataDir: string, lab: string): () => void {
  const dir = join(dataDir, 'locks');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${lab}.lock`);
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
      if (alive && pid !== process.pid) {
        throw new VmlabError('ERR_VMLAB_LAB_LOCKED', `lab "${lab}" is busy: process ${pid} is running up/down on it`, { hint: 'wait for it, or stop that process' });
      }
      rmSync(path, { force: true });
    }
  }
  throw new VmlabError('ERR_VMLAB_LAB_LOCKED', `cannot lock lab "${lab}"`);
}
