import { VmlabError } from '../errors.js';
import type { CommandRunner } from '../host/runner.js';
/**
 * The measurements, the same in a guest (through the guest agent) and on the
 * host: a command runner is all they need. Parsers are pure and unit-tested.
 */
export type { CommandRunner };

export class MeasureError extends VmlabError {
  constructor(message: string) {
    super('ERR_VMLAB_BENCH_MEASURE', message, { hint: 'the tool runs in the guest image and on the host (apt-get install fio iperf3 iputils-ping on the host; the debian-12 image has them)' });
  }
}

async function must(r: CommandRunner, argv: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  const res = await r.run(argv, timeoutMs);
  if (res.exitCode !== 0) throw new MeasureError(`${argv.join(' ')} exited ${res.exitCode}: ${res.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return res;
}

/** Seconds bash's `time` reports (TIMEFORMAT=%R) on stderr. */
export function parseTimeSeconds(stderr: string): number {
  const m = /(\d+\.\d+)\s*$/.exec(stderr.trim());
  if (!m) throw new MeasureError(`no time in: ${stderr.trim().slice(-200)}`);
  return Number(m[1]);
}

/** CPU: SHA-256 over `mib` MiB of zeros — pure computation, no I/O worth mentioning. */
export async function cpuSeconds(r: CommandRunner, mib: number): Promise<number> {
  const script = `TIMEFORMAT=%R; time (head -c ${Math.floor(mib) * 1048576} /dev/zero | sha256sum > /dev/null)`;
  return parseTimeSeconds((await must(r, ['bash', '-c', script], 600_000)).stderr);
}

export interface FioResult {
  readMBs: number;
  writeMBs: number;
  readIops: number;
  writeIops: number;
}

export function parseFio(json: string): FioResult {
  let doc: { jobs?: Array<{ read: { bw: number; iops: number }; write: { bw: number; iops: number } }> };
  try {
    doc = JSON.parse(json.slice(json.indexOf('{'))) as typeof doc;
  } catch (e) {
    throw new MeasureError(`fio printed no JSON: ${(e as Error).message}`);
  }
  const j = doc.jobs?.[0];
  if (!j) throw new MeasureError('fio reported no job');
  // fio's bw is in KiB/s.
  return { readMBs: (j.read.bw * 1024) / 1e6, writeMBs: (j.write.bw * 1024) / 1e6, readIops: j.read.iops, writeIops: j.write.iops };
}

export type FioKind = 'seqWrite' | 'seqRead' | 'randRead';

/**
 * fio with direct I/O on `target` (a block device in guests, a file on the host),
 * over its first `sizeMiB` MiB, for `runtimeS` seconds. Every job is time-based:
 * a size-bound sequential job lasts tens of milliseconds at these speeds, and fio's
 * millisecond clock then decides the figure (two configurations came out identical
 * to the byte per second).
 */
export function fioArgs(kind: FioKind, target: string, opts: { sizeMiB: number; runtimeS: number }): string[] {
  // Buffers aligned to 2 MiB: where malloc hands out huge pages (the host row), every buffer sits in them.
  const common = [
    'fio',
    `--name=${kind}`,
    `--filename=${target}`,
    '--direct=1',
    '--ioengine=libaio',
    '--output-format=json',
    `--size=${opts.sizeMiB}M`,
    '--time_based',
    `--runtime=${opts.runtimeS}`,
    '--iomem_align=2m',
  ];
  if (kind === 'seqWrite') return [...common, '--rw=write', '--bs=1M', '--iodepth=4'];
  if (kind === 'seqRead') return [...common, '--rw=read', '--bs=1M', '--iodepth=4'];
  return [...common, '--rw=randread', '--bs=4k', '--iodepth=16'];
}

export async function fio(r: CommandRunner, kind: FioKind, target: string, opts: { sizeMiB: number; runtimeS: number }): Promise<number> {
  const res = parseFio((await must(r, fioArgs(kind, target, opts), 900_000)).stdout);
  return kind === 'seqWrite' ? res.writeMBs : kind === 'seqRead' ? res.readMBs : res.readIops;
}

export function parseIperf(json: string): number {
  let doc: { end?: { sum_received?: { bits_per_second: number } }; error?: string };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch (e) {
    throw new MeasureError(`iperf3 printed no JSON: ${(e as Error).message}`);
  }
  if (doc.error) throw new MeasureError(`iperf3: ${doc.error}`);
  const bps = doc.end?.sum_received?.bits_per_second;
  if (!bps) throw new MeasureError('iperf3 reported no received throughput');
  return bps / 1e9;
}

/** TCP throughput to an iperf3 server at `peer`, Gbit/s. */
export async function iperf(r: CommandRunner, peer: string, seconds: number): Promise<number> {
  return parseIperf((await must(r, ['iperf3', '--client', peer, '--time', String(seconds), '--json'], (seconds + 60) * 1000)).stdout);
}

export function parsePingMedian(out: string): number {
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  if (!times.length) throw new MeasureError('ping got no replies');
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
}

export async function pingMedianMs(r: CommandRunner, peer: string, count: number): Promise<number> {
  return parsePingMedian((await must(r, ['ping', '-c', String(count), '-i', '0.2', '-W', '2', peer], 120_000)).stdout);
}

/** The guest's dedicated test disk: the whole disk of exactly this size (lsblk -J -b). */
export function findDiskBySize(lsblkJson: string, sizeBytes: number): string {
  const doc = JSON.parse(lsblkJson) as { blockdevices: Array<{ name: string; size: number | string; type: string }> };
  const hits = doc.blockdevices.filter((d) => d.type === 'disk' && Number(d.size) === sizeBytes);
  if (hits.length !== 1) throw new MeasureError(`expected one ${sizeBytes}-byte disk in the guest, found ${hits.map((h) => h.name).join(', ') || 'none'}`);
  return `/dev/${hits[0]!.name}`;
}
