import type { LimitError } from './limits.js';
import type { Summary } from './stats.js';

/**
 * What `vmlab bench` measures and writes (results.json). Pure data; the
 * table and chart are derived from it by report.ts.
 */
export type MetricKey = 'bootAgent' | 'bootCloudInit' | 'cpu' | 'seqWrite' | 'seqRead' | 'randRead' | 'tcp' | 'ping';

export interface Metric {
  key: MetricKey;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  /** An I/O metric: where the device model matters. */
  io: boolean;
}

export const METRICS: Metric[] = [
  { key: 'bootAgent', label: 'boot: start → guest agent answers', unit: 's', higherIsBetter: false, io: false },
  { key: 'bootCloudInit', label: 'boot: start → cloud-init done', unit: 's', higherIsBetter: false, io: false },
  { key: 'cpu', label: 'CPU: SHA-256 of a fixed input', unit: 's', higherIsBetter: false, io: false },
  { key: 'seqWrite', label: 'disk: sequential write, 1 MiB blocks, direct', unit: 'MB/s', higherIsBetter: true, io: true },
  { key: 'seqRead', label: 'disk: sequential read, 1 MiB blocks, direct', unit: 'MB/s', higherIsBetter: true, io: true },
  { key: 'randRead', label: 'disk: 4k random read, direct', unit: 'IOPS', higherIsBetter: true, io: true },
  { key: 'tcp', label: 'network: TCP guest → guest (iperf3)', unit: 'Gbit/s', higherIsBetter: true, io: true },
  { key: 'ping', label: 'network: ping RTT, median of 20', unit: 'ms', higherIsBetter: false, io: true },
];

/** guest: a VM of a device model; container: a system container on the host's kernel; host: the machine itself. */
export type ConfigKind = 'guest' | 'container' | 'ablation' | 'host';

export interface ConfigResult {
  name: string;
  kind: ConfigKind;
  accel?: 'kvm' | 'tcg';
  profile?: string;
  /** One line for the chart caption: what this configuration is. */
  description: string;
  /** Disk and NIC tuning actually used (read back from the domain XML). */
  tuning?: { diskBus: string; diskCache: string; diskIo: string; nicModel: string; vhost: boolean; iothread: boolean };
  metrics: Partial<Record<MetricKey, Summary>>;
  /** Domain XML of each VM as libvirt ran it. */
  xml?: Record<string, string>;
}

export interface BenchResults {
  version: 1;
  createdAt: string;
  quick: boolean;
  reps: number;
  host: { cores: number; kernel: string; qemu?: string; libvirt?: string; accelNote: string };
  configs: ConfigResult[];
  /** Configurations asked for that cannot run here, and why. */
  refused: Array<{ name: string; reason: string }>;
  /** Configurations that were run but failed (the others' results are still kept). */
  failed?: Array<{ name: string; error: string }>;
  /** Guest figures beyond the host's limit by more than the noise (limits.ts): errors of the measurement. */
  limitErrors?: LimitError[];
}
