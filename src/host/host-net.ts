import { readFileSync, readlinkSync } from 'node:fs';
import { execa } from 'execa';

/**
 * Facts about the network namespace libvirtd runs in (which may not be ours:
 * the test suite runs libvirtd inside a namespace of its own).
 *
 * libvirtd is found from its pid file, never by the first process named "libvirtd": every
 * process of a container guest is a host process too, and its root can name one so, which would
 * have vmlab enter that guest's network namespace to look for a lab's bridges and taps.
 */
export const LIBVIRTD_PID_FILES = ['/run/libvirtd.pid', '/run/libvirt/libvirtd.pid', '/var/run/libvirtd.pid'];

export function libvirtdPid(pidFiles: readonly string[] = LIBVIRTD_PID_FILES, procDir = '/proc'): number | undefined {
  for (const f of pidFiles) {
    let pid: number;
    try {
      pid = Number(readFileSync(f, 'utf8').trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      // The pid file may be stale (a killed daemon): the process must be libvirtd, run by root.
      const status = readFileSync(`${procDir}/${pid}/status`, 'utf8');
      if (/^Name:\s*libvirtd$/m.test(status) && /^Uid:\s*0\s/m.test(status)) return pid;
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/**
 * A host command as it must run to see libvirt's bridges and taps: inside
 * libvirtd's network namespace when that is not ours (nsenter changes only
 * the network namespace; files and users stay the host's).
 */
export function whereLibvirtd(argv: readonly string[]): [string, string[]] {
  const pid = libvirtdPid();
  const full = pid && !sameNetns(pid) ? ['nsenter', `--net=/proc/${pid}/ns/net`, ...argv] : [...argv];
  return [full[0]!, full.slice(1)];
}

function sameNetns(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

async function ipJson(args: string[]): Promise<unknown> {
  const [cmd, rest] = whereLibvirtd(['ip', '-j', ...args]);
  const r = await execa(cmd, rest, { reject: false });
  if (r.exitCode !== 0) return undefined;
  return JSON.parse(String(r.stdout) || '[]');
}

/** Is `name` an existing Linux bridge where libvirtd runs? */
export async function bridgeExists(name: string): Promise<boolean> {
  const j = (await ipJson(['-d', 'link', 'show', 'dev', name])) as Array<{ linkinfo?: { info_kind?: string } }> | undefined;
  return Boolean(j?.[0]?.linkinfo?.info_kind === 'bridge');
}

/** Ports of a bridge (`bridge link`), e.g. the vnetN taps of guests. */
export async function bridgePorts(bridge: string): Promise<Array<{ ifname: string; master: string; mac?: string }>> {
  const j = (await ipJson(['link', 'show', 'master', bridge])) as Array<{ ifname: string; master: string; address?: string }> | undefined;
  return (j ?? []).map((l) => ({ ifname: l.ifname, master: l.master, ...(l.address ? { mac: l.address } : {}) }));
}

/** A network interface where libvirtd runs: its name and kind (bridge, tun, veth, …; none for a plain device). */
export interface HostLink {
  name: string;
  kind?: string;
}

/** The host's network interfaces where libvirtd runs: what vmlab needs to find and remove leftovers. */
export interface HostLinks {
  list(): Promise<HostLink[]>;
  remove(name: string): Promise<void>;
}

export const hostLinks: HostLinks = {
  async list() {
    const j = (await ipJson(['-d', 'link', 'show'])) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }> | undefined;
    if (!j) throw new Error('ip link show failed where libvirtd runs');
    return j.map((l) => ({ name: l.ifname, ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}) }));
  },
  async remove(name) {
    const [cmd, rest] = whereLibvirtd(['ip', 'link', 'del', 'dev', name]);
    const r = await execa(cmd, rest, { reject: false });
    if (r.exitCode !== 0 && !/Cannot find device/.test(String(r.stderr))) throw new Error(`ip link del ${name}: ${String(r.stderr).trim()}`);
  },
};
