import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { VmlabError } from '../errors.js';
import { impairmentOf, type Impairment } from '../lab/link.js';
import { toolMissing } from './exec.js';
import { whereLibvirtd } from './host-net.js';

/**
 * Link impairment on the host side of a VM's tap, with `tc` where libvirtd
 * runs: netem (delay, jitter, loss) as the root qdisc, tbf (rate) below it or
 * alone. A tap's egress is what the guest receives, so an impairment acts on
 * the packets travelling towards that VM; to impair both directions, impair
 * both ends of the link.
 */
export type TapQdisc = { kind: 'none' } | { kind: 'vmlab'; impairment: Impairment } | { kind: 'foreign'; qdisc: string };

export interface TrafficControl {
  /** What is on each tap now (taps that do not exist are left out). */
  read(taps: readonly string[]): Promise<Map<string, TapQdisc>>;
  /** Replaces whatever is on the tap by `imp` (nothing for no impairment). */
  set(tap: string, imp: Impairment): Promise<void>;
}

/** tc -j qdisc show, as much of it as vmlab reads. */
export interface TcQdiscJson {
  kind: string;
  handle: string;
  dev?: string;
  root?: boolean;
  parent?: string;
  options?: {
    delay?: { delay?: number; jitter?: number };
    'loss-random'?: { loss?: number };
    rate?: number;
  };
}

/** Qdiscs a device has by default (no impairment). */
const DEFAULT_QDISCS = new Set(['noqueue', 'pfifo_fast', 'mq', 'fq_codel', 'pfifo', 'fq']);

/** Reads back what `netemArgs`/`tbfArgs` set; anything else on a tap is named, never changed silently. */
export function parseQdiscs(list: TcQdiscJson[]): Map<string, TapQdisc> {
  const byDev = new Map<string, TcQdiscJson[]>();
  for (const q of list) if (q.dev) byDev.set(q.dev, [...(byDev.get(q.dev) ?? []), q]);
  const out = new Map<string, TapQdisc>();
  for (const [dev, qs] of byDev) {
    const root = qs.find((q) => q.root);
    if (!root || DEFAULT_QDISCS.has(root.kind)) {
      out.set(dev, { kind: 'none' });
      continue;
    }
    const imp: Impairment = {};
    let tbf: TcQdiscJson | undefined;
    if (root.kind === 'netem' && root.handle === '1:') {
      const o = root.options ?? {};
      if (o.delay?.delay) imp.delayUs = Math.round(o.delay.delay * 1e6);
      if (o.delay?.jitter) imp.jitterUs = Math.round(o.delay.jitter * 1e6);
      // netem prints loss as a fraction of 1.
      if (o['loss-random']?.loss) imp.lossPct = Math.round(o['loss-random'].loss * 100 * 1e4) / 1e4;
      tbf = qs.find((q) => q.kind === 'tbf' && q.parent === '1:1');
    } else if (root.kind === 'tbf' && root.handle === '10:') {
      tbf = root;
    } else {
      out.set(dev, { kind: 'foreign', qdisc: root.kind });
      continue;
    }
    if (tbf?.options?.rate) imp.rateBit = tbf.options.rate * 8;
    out.set(dev, { kind: 'vmlab', impairment: impairmentOf(imp) });
  }
  return out;
}

/** The tc commands that put `imp` on `tap` (after its root qdisc is deleted). */
export function tcCommands(tap: string, imp: Impairment): string[][] {
  const i = impairmentOf(imp);
  const cmds: string[][] = [];
  const netem: string[] = [];
  if (i.delayUs) netem.push('delay', `${i.delayUs}us`, ...(i.jitterUs ? [`${i.jitterUs}us`] : []));
  if (i.lossPct) netem.push('loss', `${i.lossPct}%`);
  // A queue long enough for the delay at the rate (netem's default, 1000 packets, is too short at 1 s delay on a fast link).
  if (netem.length) cmds.push(['qdisc', 'add', 'dev', tap, 'root', 'handle', '1:', 'netem', ...netem, 'limit', '10000']);
  if (i.rateBit) {
    // burst: 5 ms worth of traffic, at least two full frames; latency bounds the queue.
    const burst = Math.max(3200, Math.round(i.rateBit / 8 / 200));
    cmds.push(['qdisc', 'add', 'dev', tap, ...(netem.length ? ['parent', '1:1'] : ['root']), 'handle', '10:', 'tbf', 'rate', `${i.rateBit}bit`, 'burst', String(burst), 'latency', '100ms']);
  }
  return cmds;
}

async function tc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, rest] = whereLibvirtd(['tc', ...args]);
  const r = await execa(cmd, rest, { reject: false, timeout: 20_000 });
  if ((r as { code?: string }).code === 'ENOENT') {
    throw toolMissing('tc');
  }
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr).trim() };
}

export const hostTrafficControl: TrafficControl = {
  async read(taps) {
    const r = await tc(['-j', 'qdisc', 'show']);
    if (r.code !== 0) throw new VmlabError('ERR_VMLAB_TC', `tc qdisc show failed: ${r.stderr}`);
    const all = parseQdiscs(JSON.parse(r.stdout || '[]') as TcQdiscJson[]);
    return new Map(taps.filter((t) => all.has(t)).map((t) => [t, all.get(t)!]));
  },
  async set(tap, imp) {
    const del = await tc(['qdisc', 'del', 'dev', tap, 'root']);
    if (del.code !== 0 && /Cannot find device/.test(del.stderr)) {
      throw new VmlabError('ERR_VMLAB_TAP_MISSING', `tap ${tap} does not exist where libvirtd runs`, { hint: 'is the VM running? vmlab status LAB' });
    }
    for (const args of tcCommands(tap, imp)) {
      const r = await tc(args);
      if (r.code === 0) continue;
      await tc(['qdisc', 'del', 'dev', tap, 'root']);
      if (/qdisc kind is unknown/i.test(r.stderr) && args.includes('netem')) {
        throw new VmlabError('ERR_VMLAB_NETEM_MISSING', `this host's kernel has no netem qdisc (sch_netem): delay, jitter and loss cannot be emulated here; nothing was left on ${tap}`, {
          hint: 'load it (modprobe sch_netem; Debian kernels ship it as a module); rate and link up/down work without it (vmlab doctor shows what the kernel has)',
        });
      }
      throw new VmlabError('ERR_VMLAB_TC', `tc ${args.join(' ')} failed: ${r.stderr}; nothing was left on ${tap}`);
    }
  },
};

/**
 * Whether this kernel has netem, from files only (nothing is changed): loaded,
 * a module tc can load, or built in per /proc/config.gz. Undefined when the
 * kernel does not say.
 */
export function netemAvailable(): boolean | undefined {
  if (existsSync('/sys/module/sch_netem')) return true;
  const release = kernelRelease();
  if (release && ['ko', 'ko.xz', 'ko.zst'].some((e) => existsSync(`/lib/modules/${release}/kernel/net/sched/sch_netem.${e}`))) return true;
  try {
    const config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    return /^CONFIG_NET_SCH_NETEM=[ym]$/m.test(config);
  } catch {
    return undefined;
  }
}

function kernelRelease(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return undefined;
  }
}
