import { execa } from 'execa';
import { run } from '../host/exec.js';
import { whereLibvirtd } from '../host/host-net.js';

/** A container NIC: the host end (on the bridge, named like a VM tap) and the container's end (named as in the lab, with the lab's MAC). */
export interface VethSpec {
  host: string;
  guest: string;
  mac: string;
  bridge: string;
  down: boolean;
}

/** `ip` where libvirtd runs: the lab bridges are there (the test suite runs libvirtd in a network namespace of its own). */
async function ipThere(args: string[]): Promise<void> {
  const [cmd, rest] = whereLibvirtd(['ip', ...args]);
  await run(cmd, rest);
}

/**
 * A container's network namespace (`/run/netns/<name>`, as `ip netns` makes
 * them) with one veth pair per NIC: the container's end is moved in, the host
 * end is put on the lab bridge. Deleting the namespace deletes the pairs.
 */
export async function createContainerNet(netns: string, nics: readonly VethSpec[]): Promise<void> {
  await run('ip', ['netns', 'add', netns]);
  await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  for (const n of nics) {
    await ipThere(['link', 'add', n.host, 'type', 'veth', 'peer', 'name', n.guest, 'address', n.mac, 'netns', netns]);
    await ipThere(['link', 'set', n.host, 'master', n.bridge]);
    await setHostEnd(n.host, n.down ? 'down' : 'up');
  }
}

/** The link state of a container NIC: its host end down means no carrier inside, as with a pulled cable. */
export async function setHostEnd(host: string, state: 'up' | 'down'): Promise<void> {
  await ipThere(['link', 'set', host, state]);
}

/** A host end's administrative state (what setHostEnd set), undefined when it does not exist. */
export async function hostEndState(host: string): Promise<'up' | 'down' | undefined> {
  const [cmd, rest] = whereLibvirtd(['ip', '-j', 'link', 'show', 'dev', host]);
  const r = await execa(cmd, rest, { reject: false });
  if (r.exitCode !== 0) return undefined;
  const [link] = JSON.parse(String(r.stdout) || '[]') as Array<{ flags?: string[] }>;
  return link?.flags?.includes('UP') ? 'up' : 'down';
}

export async function removeContainerNet(netns: string, hostEnds: readonly string[]): Promise<void> {
  const list = (await run('ip', ['netns', 'list'])).stdout;
  if (list.split('\n').some((l) => l.split(' ')[0] === netns)) await run('ip', ['netns', 'del', netns]);
  // The kernel takes the pairs down with the namespace, a moment later: wait for that (at most 3 s).
  const deadline = Date.now() + 3000;
  let left = [...hostEnds];
  while (left.length && Date.now() < deadline) {
    const states = await Promise.all(left.map(hostEndState));
    left = left.filter((_, i) => states[i] !== undefined);
    if (left.length) await new Promise((r) => setTimeout(r, 100));
  }
  // Still there: a pair whose other end never reached the namespace (an interrupted start).
  for (const h of left) {
    const [cmd, rest] = whereLibvirtd(['ip', 'link', 'del', h]);
    const r = await execa(cmd, rest, { reject: false });
    if (r.exitCode !== 0 && !/Cannot find device/.test(String(r.stderr))) throw new Error(`cannot remove ${h}: ${String(r.stderr).trim()}`);
  }
}
