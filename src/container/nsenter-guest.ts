import { constants } from 'node:os';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { VmlabError } from '../errors.js';
import type { ExecResult, GuestChannel, GuestIface } from '../guest/agent.js';

/** The environment a command in the container starts with (not the host's: nothing of vmlab's leaks in). */
export const CONTAINER_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb'];

/** nsenter's arguments into every namespace of the container whose PID 1 (on the host) is `leader` (its cgroup namespace too), with its root and working folder. */
export function nsenterArgs(leader: number): string[] {
  return ['--target', String(leader), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd'];
}

/** setpriv's --bounding-set for a CapBnd mask (hex, from /proc/PID/status), with the capability names in bit order (setpriv --list-caps). */
export function boundingSetArg(capBndHex: string, names: readonly string[]): string {
  const mask = BigInt(`0x${capBndHex}`);
  return ['-all', ...names.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n).map((n) => `+${n}`)].join(',');
}

let capNames: Promise<string[]> | undefined;
/** The capability names setpriv knows, in bit order (its own list: no table of ours to go stale). */
function capabilityNames(): Promise<string[]> {
  capNames ??= execa('setpriv', ['--list-caps']).then((r) => String(r.stdout).split('\n').filter(Boolean));
  return capNames;
}

/**
 * The command that runs something inside the container whose PID 1 is `leader`, as the container's
 * own processes run: the host's setpriv first limits the capability bounding set to the
 * container's (nspawn drops CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_TIME, …) and sets no_new_privs,
 * then the host's nsenter enters its namespaces and root. So a binary that root in the container
 * replaced runs with the container's capabilities, never the host's full set (which it did when
 * nsenter ran it straight from vmlab). Not applied: the container's seccomp filter and cgroup
 * membership (docs/serve-security.md).
 */
export async function containerEntry(leader: number, procDir = '/proc'): Promise<string[]> {
  const status = readFileSync(`${procDir}/${leader}/status`, 'utf8');
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!bnd) throw new VmlabError('ERR_VMLAB_CONTAINER', `cannot read the capability bounding set of the container's init (pid ${leader})`, { hint: 'is the container running?' });
  return ['setpriv', '--bounding-set', boundingSetArg(bnd, await capabilityNames()), '--no-new-privs', '--', 'nsenter', ...nsenterArgs(leader), '--'];
}

interface IpAddr {
  ifname: string;
  address?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/**
 * A container's way in, in place of a guest agent: each command enters its
 * namespaces with nsenter (argument arrays, no shell), with a clean
 * environment. `leader` finds the container's PID 1 at each call, so a
 * restarted container is found again.
 */
export class NsenterGuest implements GuestChannel {
  constructor(
    private readonly leader: () => Promise<number>,
    readonly vmName: string,
  ) {}

  async ping(timeoutMs = 3000): Promise<void> {
    const r = await this.exec('/bin/true', [], { timeoutMs });
    if (r.exitCode !== 0) throw new Error(`${this.vmName}: /bin/true exited ${r.exitCode}`);
  }

  async exec(path: string, args: string[] = [], opts: { timeoutMs?: number; input?: string; env?: string[] } = {}): Promise<ExecResult> {
    const pid = await this.leader();
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const [cmd, ...entry] = await containerEntry(pid);
    const r = await execa(cmd!, [...entry, '/usr/bin/env', '-i', ...CONTAINER_ENV, ...(opts.env ?? []), path, ...args], {
      reject: false,
      timeout: timeoutMs,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }),
      stripFinalNewline: false,
    });
    if (r.timedOut) {
      throw new VmlabError('ERR_VMLAB_GUEST_EXEC_TIMEOUT', `${path} ${args.join(' ')} did not finish in ${this.vmName} within ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'it was stopped (a container command is a host process: it ends with its timeout)',
      });
    }
    if ((r as { code?: string }).code === 'ENOENT') throw new VmlabError('ERR_VMLAB_TOOL_MISSING', 'nsenter is not installed', { hint: 'install it: apt-get install util-linux' });
    const signal = r.signal ? signalNumber(r.signal) : undefined;
    return {
      exitCode: r.exitCode ?? (signal !== undefined ? 128 + signal : -1),
      ...(signal !== undefined ? { signal } : {}),
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
    };
  }

  async readFile(path: string, maxBytes = 4 * 1024 * 1024): Promise<string> {
    const r = await this.exec('/usr/bin/head', ['-c', String(maxBytes), '--', path], { timeoutMs: 10_000 });
    // The agent's wording for a missing file, which readiness recognises.
    if (r.exitCode !== 0) throw new Error(/No such file/.test(r.stderr) ? `No such file: ${path}` : `${this.vmName}: cannot read ${path}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async interfaces(): Promise<GuestIface[]> {
    const r = await this.exec('/usr/sbin/ip', ['-j', 'addr', 'show'], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) throw new Error(`${this.vmName}: ip addr failed: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout || '[]') as IpAddr[]).map((i) => ({
      name: i.ifname,
      ...(i.address ? { 'hardware-address': i.address } : {}),
      'ip-addresses': (i.addr_info ?? []).map((a) => ({ 'ip-address': a.local, prefix: a.prefixlen, 'ip-address-type': a.family === 'inet6' ? 'ipv6' : 'ipv4' })),
    }));
  }

  close(): void {
    /* nothing held open between commands */
  }
}

function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number>)[name];
}
