import { existsSync, readdirSync, rmdirSync } from 'node:fs';

/** Removes a directory if it is empty; anything else (not empty, gone) is left as it is. */
export function pruneEmptyDir(dir: string): void {
  try {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    /* not empty or gone */
  }
}
