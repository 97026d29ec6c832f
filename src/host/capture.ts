import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { VmlabError } from '../errors.js';
import { PcapCounter, type PcapSummary } from '../util/pcap.js';
import { toolMissing } from './exec.js';
import { whereLibvirtd } from './host-net.js';

/**
 * tcpdump on one interface where libvirtd runs (a lab bridge: everything on
 * it, since tcpdump puts the bridge in promiscuous mode; or a VM's tap), its
 * pcap passed on as it arrives. The filter is BPF as arguments after `--`
 * (never a shell, never an option of tcpdump's).
 */
export interface CaptureRequest {
  iface: string;
  filter: readonly string[];
  count?: number;
  durationS?: number;
  out: Writable;
  /** Stops the capture (Ctrl-C): tcpdump is asked to finish and flush. */
  signal?: AbortSignal;
  /** When tcpdump listens (packets from now on are captured). */
  onListening?: () => void;
}

export interface CaptureResult extends PcapSummary {
  /** Why it ended: count reached, duration over, interrupted, or the reader went away. */
  ended: 'count' | 'duration' | 'interrupted' | 'reader-closed' | 'interface-gone';
}

function missing(e: unknown): boolean {
  return (e as { code?: string }).code === 'ENOENT';
}

/** The filter's syntax, checked by tcpdump itself (it compiles and prints the program): undefined when fine. */
export async function filterProblem(iface: string, filter: readonly string[]): Promise<string | undefined> {
  if (!filter.length) return undefined;
  const [cmd, args] = whereLibvirtd(['tcpdump', '-i', iface, '-d', '--', ...filter]);
  const r = await execa(cmd, args, { reject: false, timeout: 20_000 });
  if (missing(r)) throw toolMissing('tcpdump');
  if (r.exitCode === 0) return undefined;
  return (
    String(r.stderr)
      .trim()
      .replace(/^tcpdump: /, '') || `tcpdump exited ${r.exitCode}`
  );
}

export async function capture(req: CaptureRequest): Promise<CaptureResult> {
  const argv = ['tcpdump', '-i', req.iface, '-U', '--immediate-mode', '-w', '-', ...(req.count ? ['-c', String(req.count)] : []), '--', ...req.filter];
  const [cmd, args] = whereLibvirtd(argv);
  const child = execa(cmd, args, { reject: false, buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', encoding: 'buffer', cleanup: true });
  const counter = new PcapCounter();
  let ended: CaptureResult['ended'] | undefined;
  let stderr = '';
  const stop = (why: NonNullable<typeof ended>) => {
    ended ??= why;
    child.kill('SIGINT');
  };
  const timer = req.durationS ? setTimeout(() => stop('duration'), req.durationS * 1000) : undefined;
  const onAbort = () => stop('interrupted');
  req.signal?.addEventListener('abort', onAbort);
  if (req.signal?.aborted) onAbort();
  req.out.on('error', () => stop('reader-closed'));
  child.stdout!.on('data', (chunk: Buffer) => {
    counter.feed(chunk);
    if (ended !== 'reader-closed') req.out.write(chunk);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (/listening on/.test(stderr) && req.onListening) {
      const f = req.onListening;
      req.onListening = undefined;
      f();
    }
  });
  const r = await child;
  if (timer) clearTimeout(timer);
  req.signal?.removeEventListener('abort', onAbort);
  if (missing(r)) throw toolMissing('tcpdump');
  if (!ended) {
    if (r.exitCode === 0 && req.count) ended = 'count';
    else if (/went down|No such device|doesn't exist/i.test(stderr)) ended = 'interface-gone';
    else {
      throw new VmlabError('ERR_VMLAB_CAPTURE', `tcpdump on ${req.iface} failed (exit ${r.exitCode ?? r.signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  return { ...counter.summary, ended };
}
