import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { takeLockFile } from '../util/lockfile.js';

/** One up/down/snapshot per lab at a time. A lock left by a dead process is taken over. */
export function lockLab(dataDir: string, lab: string): () => void {
  const dir = join(dataDir, 'locks');
  mkdirSync(dir, { recursive: true });
  return takeLockFile(
    join(dir, `${lab}.lock`),
    (pid) => new VmlabError('ERR_VMLAB_LAB_LOCKED', pid ? `lab "${lab}" is busy: process ${pid} is working on it` : `cannot lock lab "${lab}"`, { hint: 'wait for it, or stop that process' }),
  );
}
