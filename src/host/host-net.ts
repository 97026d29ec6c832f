import { readFileSync, readdirSync } from 'node:fs';
import { execa } from 'execa';

/**
 * Facts about the network namespace libvirtd runs in (which may not be ours:
 * the test suite runs libvirtd inside a namespace of its own).
 */
export function libvirtdPid(): number | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'libvirtd') return Number(p);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

function nsArgs(): string[] {
  const pid = libvirtdPid();
  return pid ? ['nsenter', `--net=/proc/${pid}/ns/net`] : [];
}

async function ipJson(args: string[]): Promise<unknown> {
  const prefix = nsArgs();
  const [cmd, ...rest] = prefix.length ? [...prefix, 'ip', '-j', ...args] : ['ip', '-j', ...args];
  const r = await execa(cmd!, rest, { reject: false });
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
