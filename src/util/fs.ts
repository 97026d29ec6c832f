import { closeSync, constants, existsSync, fchmodSync, lstatSync, openSync, readdirSync, rmdirSync, writeSync } from 'node:fs';

/** Removes a directory if it is empty; anything else (not empty, gone) is left as it is. */
export function pruneEmptyDir(dir: string): void {
  try {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    /* not empty or gone */
  }
}

/** Is `path` a symbolic link (not followed)? False when nothing is there. */
export function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Writes a file only its owner can read (mode 0600 whether it is new or not), never through a
 * symbolic link (O_NOFOLLOW: a link planted at the path fails with ELOOP instead of redirecting
 * the secret elsewhere).
 */
export function writeSecretFile(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
