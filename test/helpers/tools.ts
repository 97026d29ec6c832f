import { execFileSync } from 'node:child_process';
import { execa } from 'execa';

/** A tool the tests need. Missing tools fail loudly: `.ci/run` installs them. */
export function requireTool(cmd: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} is not installed (Debian package ${pkg}); run .ci/run or: apt-get install ${pkg}`);
  }
}

export async function run(cmd: string, args: string[], opts: { input?: string; cwd?: string } = {}) {
  return execa(cmd, args, { reject: false, all: true, ...opts });
}
