import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Is a process with this pid running? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * An exclusive lock file holding our pid, released by the returned function.
 * A lock left by a dead process is taken over; one held by a live process
 * calls `busy(pid)`, which throws the caller's error.
 */
export function takeLockFile(path: string, busy: (pid: number) => Error): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8'));
      if (pid !== process.pid && pidAlive(pid)) throw busy(pid);
      rmSync(path, { force: true });
    }
  }
  throw busy(0);
}
