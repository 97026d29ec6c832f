import { execa, type ResultPromise } from 'execa';
import { run } from './exec.js';
import type { CommandRunner } from './runner.js';

/**
 * The host's own network limit: two network namespaces joined by a Linux
 * bridge (veth pairs), as guests are joined by a lab bridge — created for a
 * measurement and always removed. Traffic never leaves these namespaces.
 */
export const BENCH_NETNS = { a: 'vmlab-bench-a', b: 'vmlab-bench-b', sw: 'vmlab-bench-sw' } as const;
export const BENCH_NETNS_ADDR = { a: '10.99.0.1', b: '10.99.0.2' } as const;

const ip = (args: string[]) => run('ip', args, { timeoutMs: 30_000 });

export async function removeBenchNetns(): Promise<void> {
  const existing = (await run('ip', ['netns', 'list'])).stdout;
  for (const ns of Object.values(BENCH_NETNS)) if (new RegExp(`^${ns}\\b`, 'm').test(existing)) await ip(['netns', 'del', ns]);
}

export async function createBenchNetns(): Promise<void> {
  await removeBenchNetns();
  for (const ns of Object.values(BENCH_NETNS)) await ip(['netns', 'add', ns]);
  const { a, b, sw } = BENCH_NETNS;
  await ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', sw, 'link', 'set', 'br0', 'up']);
  for (const [ns, addr, port] of [
    [a, BENCH_NETNS_ADDR.a, 'pa'],
    [b, BENCH_NETNS_ADDR.b, 'pb'],
  ] as const) {
    await ip(['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', sw, 'link', 'set', port, 'master', 'br0', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

/** Runs commands inside one of the bench namespaces (or on the host itself without one). */
export function hostRunner(ns?: string, env?: Record<string, string>): CommandRunner {
  return {
    async run(argv, timeoutMs) {
      const [cmd, ...args] = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
      const r = await execa(cmd!, args, { reject: false, timeout: timeoutMs, ...(env ? { env } : {}) });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
  };
}

/** An iperf3 server in namespace b, for as long as `f` runs. */
export async function withIperfServer<T>(f: () => Promise<T>): Promise<T> {
  const server: ResultPromise = execa('ip', ['netns', 'exec', BENCH_NETNS.b, 'iperf3', '--server', '--bind', BENCH_NETNS_ADDR.b], { reject: false });
  try {
    await new Promise((r) => setTimeout(r, 500));
    return await f();
  } finally {
    server.kill('SIGTERM');
    await server;
  }
}
