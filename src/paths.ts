import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (holds package.json, templates/, images/, labs/), from src/ or dist/src/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'templates'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('vmlab: cannot find package root (templates/ next to package.json)');
}

export const packageRoot = findRoot();
export const templatesDir = join(packageRoot, 'templates');
export const imagesDir = join(packageRoot, 'images');
export const labsDir = join(packageRoot, 'labs');

/** Where vmlab keeps images, overlays, seeds and sockets on the host. */
export interface HostPaths {
  dataDir: string;
  runDir: string;
}

export function defaultHostPaths(env: NodeJS.ProcessEnv = process.env): HostPaths {
  return {
    dataDir: env.VMLAB_DATA_DIR ?? '/var/lib/vmlab',
    runDir: env.VMLAB_RUN_DIR ?? '/run/vmlab',
  };
}
