import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { containerCgroupParents } from '../../src/container/cgroups.js';
import { probeAutoAccel } from '../../src/host/accel-probe.js';
import { libvirtdPid } from '../../src/host/host-net.js';
import { DbusHypervisor } from '../../src/libvirt/dbus-hypervisor.js';
import { root } from './lab.js';

export const CLI = join(root, 'dist', 'src', 'cli', 'main.js');

export function vmlab(args: string[], opts: { timeout?: number } = {}) {
  return execa('node', [CLI, ...args], { reject: false, cwd: root, timeout: opts.timeout ?? 20 * 60_000 });
}

// Tests read the CLI's JSON loosely; T narrows it where a test cares.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function vmlabJson<T = any>(args: string[]): Promise<{ exitCode: number; json: T; stderr: string }> {
  const r = await vmlab([...args, '--json']);
  let json: T;
  try {
    json = JSON.parse(String(r.stdout)) as T;
  } catch {
    throw new Error(`vmlab ${args.join(' ')} printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
  return { exitCode: r.exitCode ?? -1, json, stderr: String(r.stderr) };
}

let checked = false;

/**
 * Live tests need a real libvirtd reachable over libvirt-dbus, running in a
 * network namespace of its own (so every bridge and tap stays there), and the
 * reference image. Anything missing fails loudly: live tests are never skipped.
 */
export async function requireLiveHost(): Promise<void> {
  if (checked) return;
  const h = await DbusHypervisor.open().catch((e: Error & { hint?: string }) => {
    throw new Error(`live tests need libvirtd and libvirt-dbus: ${e.message}\n  ${e.hint ?? ''}\n  run the suite through .ci/run, which starts them`);
  });
  h.close();
  const pid = libvirtdPid();
  if (!pid) throw new Error('libvirtd is not running (run the suite through .ci/run)');
  const theirs = readlinkSync(`/proc/${pid}/ns/net`);
  const ours = readlinkSync('/proc/self/ns/net');
  if (theirs === ours && process.env.VMLAB_LIVE_HOST_NETNS !== '1') {
    throw new Error(
      'libvirtd runs in the host network namespace: live tests only run against a libvirtd inside a namespace of the test run ' +
        '(.ci/run does: .ci/services --netns vmlab-ci). Set VMLAB_LIVE_HOST_NETNS=1 to override on a machine of your own.',
    );
  }
  const accel = probeAutoAccel();
  process.stdout.write(`      [live] libvirtd pid ${pid} in ${theirs}; guests run under ${accel.accel.toUpperCase()}: ${accel.reason}\n`);
  const build = await vmlab(['image', 'build', 'debian-12'], { timeout: 15 * 60_000 });
  if (build.exitCode !== 0) throw new Error(`cannot build the reference image:\n${build.stderr}`);
  checked = true;
}

/**
 * Domains and networks libvirt has whose names start with `prefix`. A virsh
 * that fails throws: an empty answer must mean "nothing there", never "could
 * not look" (every "leaves nothing behind" assertion rests on it).
 */
export async function libvirtObjects(prefix: string): Promise<string[]> {
  const r = await execa('virsh', ['-c', 'qemu:///system', 'list --all --name; net-list --all --name'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`virsh could not list domains and networks (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
  return String(r.stdout)
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(prefix));
}

/** A cgroup directory and everything below it, deepest first (cgroupfs removes directories with rmdir only). */
function rmdirTree(dir: string): void {
  for (const e of readdirSync(dir)) {
    const sub = `${dir}/${e}`;
    if (statSync(sub).isDirectory()) rmdirTree(sub);
  }
  rmdirSync(dir);
}

/**
 * Puts the host back in the state of a machine on which no VM has ever run:
 * no domain running, no `machine` cgroup under any controller (libvirt makes
 * them at the first domain start), libvirtd restarted in the test namespace.
 * Returns the cgroup directories it removed.
 */
export async function recreateFreshHost(): Promise<string[]> {
  const running = await execa('virsh', ['-c', 'qemu:///system', 'list', '--name']);
  const names = String(running.stdout)
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length) throw new Error(`a fresh host runs no domain, but these run: ${names.join(', ')}`);
  const netns = process.env.VMLAB_TEST_NETNS;
  if (!netns) throw new Error('VMLAB_TEST_NETNS is not set: run the suite through .ci/run, which restarts libvirtd in its namespace');
  const removed: string[] = [];
  const top = '/sys/fs/cgroup';
  for (const dir of [`${top}/machine`, ...readdirSync(top).map((c) => `${top}/${c}/machine`)]) {
    if (!existsSync(dir)) continue;
    rmdirTree(dir);
    removed.push(dir);
  }
  const pid = libvirtdPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && libvirtdPid() === pid; i++) await new Promise((r) => setTimeout(r, 100));
    if (libvirtdPid() === pid) throw new Error(`libvirtd (pid ${pid}) did not stop`);
  }
  await execa(join(root, '.ci', 'services'), ['--netns', netns]);
  const left = readdirSync(top)
    .map((c) => `${top}/${c}/machine`)
    .filter((d) => existsSync(d));
  if (left.length) throw new Error(`libvirtd made ${left.join(', ')} again before any domain started`);
  return removed;
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** The systemd-nspawn processes on this host whose machine name starts with `prefix`. */
function nspawnProcesses(prefix: string): Array<{ pid: number; machine: string; argv: string[] }> {
  const out: Array<{ pid: number; machine: string; argv: string[] }> = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const machine = argv.find((a) => a.startsWith('--machine='))?.slice('--machine='.length);
    if (argv[0]?.endsWith('systemd-nspawn') && machine?.startsWith(prefix)) out.push({ pid: Number(p), machine, argv });
  }
  return out;
}

/** The host's PID of a running container's init: the first child of the systemd-nspawn running it. */
export function containerInit(machine: string): number {
  const n = nspawnProcesses(machine).find((x) => x.machine === machine);
  if (!n) throw new Error(`no systemd-nspawn runs ${machine}`);
  return Number(readFileSync(`/proc/${n.pid}/task/${n.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
}

/**
 * What containers whose names start with `prefix` leave on the host: systemd-nspawn
 * processes, network namespaces, host ends of veth pairs (`taps`, where libvirtd
 * runs), mounts under the data directory, cgroups, definitions. A listing that fails throws.
 */
export async function containerTraces(prefix: string, taps: readonly string[], dataDir = '/var/lib/vmlab'): Promise<string[]> {
  const out: string[] = [];
  for (const n of nspawnProcesses(prefix)) out.push(`process ${n.pid}: ${n.argv.join(' ')}`);
  const ns = await execa('ip', ['netns', 'list']);
  for (const l of String(ns.stdout).split('\n')) if (l.startsWith(prefix)) out.push(`netns ${l}`);
  const pid = libvirtdPid();
  if (!pid) throw new Error('libvirtd is not running: cannot list its links');
  const links = await execa('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show']);
  for (const l of JSON.parse(String(links.stdout)) as Array<{ ifname: string }>) if (taps.includes(l.ifname)) out.push(`link ${l.ifname}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${dataDir}/labs/`) && mp.includes(`/${prefix.replace(/^vmlab-/, '').replace(/-$/, '')}/`)) out.push(`mount ${mp}`);
  }
  for (const dir of containerCgroupParents()) if (existsSync(dir)) for (const c of readdirSync(dir)) if (c.startsWith(prefix)) out.push(`cgroup ${join(dir, c)}`);
  const defs = join(dataDir, 'containers');
  if (existsSync(defs)) for (const f of readdirSync(defs)) if (f.startsWith(prefix)) out.push(`definition ${f}`);
  return out;
}
