import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { run } from '../host/exec.js';
import { readDomainXml } from '../libvirt/xml-read.js';
import type { SnapshotInfo } from '../libvirt/types.js';

/** What snapshots need of the runtime that owns the containers. */
export interface SnapshotHost {
  domain(name: string): Promise<{ active: boolean } | undefined>;
  domainXml(name: string, inactive?: boolean): Promise<string>;
  destroyDomain(name: string): Promise<void>;
  startDomain(name: string): Promise<void>;
  guest(name: string, vm: string): { exec(path: string, args?: string[], opts?: { timeoutMs?: number }): Promise<{ exitCode: number; stdout: string }> };
}

/**
 * A container's snapshots, where systemd-nspawn can: its file system only.
 * A snapshot is a copy of the container's own layer (the image below it never
 * changes); a revert stops the container, puts the copy back and, for a
 * snapshot of a running container, starts it again and waits for its systemd
 * to finish booting. There is no memory state: nspawn cannot checkpoint
 * processes, so services restart from the saved files (a VM's revert resumes
 * its memory).
 */
export class ContainerSnapshots {
  constructor(
    private readonly dir: string,
    private readonly host: SnapshotHost,
  ) {}

  list(name: string): SnapshotInfo[] {
    const d = this.base(name);
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter((s) => existsSync(join(d, s, 'info.json')))
      .map((s) => JSON.parse(readFileSync(join(d, s, 'info.json'), 'utf8')) as SnapshotInfo)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async create(name: string, snap: string, description: string): Promise<void> {
    const target = join(this.base(name), snap);
    if (existsSync(target)) throw new VmlabError('ERR_VMLAB_SNAPSHOT_EXISTS', `${name} already has a snapshot "${snap}"`);
    const upper = await this.upper(name);
    const active = (await this.host.domain(name))?.active ?? false;
    mkdirSync(target, { recursive: true, mode: 0o700 });
    // Written out first, so the copy holds what the container's programs wrote (the copy of a live layer is like a power cut's disk).
    if (active) await this.host.guest(name, name).exec('/bin/sync', [], { timeoutMs: 30_000 });
    await run('cp', ['-a', '--reflink=auto', upper, join(target, 'upper')], { timeoutMs: 10 * 60_000 });
    const info: SnapshotInfo = {
      name: snap,
      createdAt: Math.floor(Date.now() / 1000),
      state: active ? 'running' : 'shutoff',
      memory: false,
      containerFiles: true,
      ...(description ? { description } : {}),
    };
    writeFileSync(join(target, 'info.json'), JSON.stringify(info));
  }

  async revert(name: string, snap: string): Promise<void> {
    const src = join(this.base(name), snap);
    if (!existsSync(join(src, 'info.json'))) throw new VmlabError('ERR_VMLAB_NO_SNAPSHOT', `${name} has no snapshot "${snap}"`);
    const info = JSON.parse(readFileSync(join(src, 'info.json'), 'utf8')) as SnapshotInfo;
    const d = await readDomainXml(await this.host.domainXml(name, true));
    if ((await this.host.domain(name))?.active) await this.host.destroyDomain(name);
    const upper = d.container!.upper!;
    rmSync(upper, { recursive: true, force: true });
    rmSync(d.container!.work!, { recursive: true, force: true });
    await run('cp', ['-a', '--reflink=auto', join(src, 'upper'), upper], { timeoutMs: 10 * 60_000 });
    if (info.state === 'running') {
      await this.host.startDomain(name);
      await this.booted(name);
    }
  }

  delete(name: string, snap: string): void {
    const target = join(this.base(name), snap);
    if (!existsSync(target)) throw new VmlabError('ERR_VMLAB_NO_SNAPSHOT', `${name} has no snapshot "${snap}"`);
    rmSync(target, { recursive: true, force: true });
  }

  removeAll(name: string): void {
    rmSync(this.base(name), { recursive: true, force: true });
  }

  /** Until the container's systemd has finished starting its units (running, or degraded when one failed), at most a minute. */
  private async booted(name: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    let last = '';
    while (Date.now() < deadline) {
      const r = await this.host
        .guest(name, name)
        .exec('/usr/bin/systemctl', ['is-system-running'], { timeoutMs: 10_000 })
        .catch(() => ({ exitCode: -1, stdout: '' }));
      last = r.stdout.trim();
      if (last === 'running' || last === 'degraded') return;
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new VmlabError('ERR_VMLAB_BOOT_FAILED', `${name}: not booted a minute after its revert (systemd: ${last || 'no answer'})`, { hint: 'see its console log' });
  }

  private async upper(name: string): Promise<string> {
    const upper = (await readDomainXml(await this.host.domainXml(name, true))).container?.upper;
    if (!upper) throw new VmlabError('ERR_VMLAB_CONTAINER_XML', `${name}: no writable layer in its definition`);
    return upper;
  }

  private base(name: string): string {
    return join(this.dir, `${name}.snapshots`);
  }
}
