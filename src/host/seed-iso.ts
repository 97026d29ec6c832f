import { chmodSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';

/**
 * A cloud-init NoCloud seed: an ISO 9660 volume labelled "cidata" holding
 * user-data, meta-data and network-config. Mode 0600 (user-data can hold
 * password hashes); libvirt's dynamic ownership gives QEMU access while it runs.
 */
export async function writeSeedIso(path: string, files: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-seed-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
    const tmp = `${path}.tmp-${process.pid}`;
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-volid', 'cidata', '-joliet', '-rock', '-output', tmp, ...Object.keys(files).map((f) => join(dir, f))]);
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
