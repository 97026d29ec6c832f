import { METRICS, type BenchResults, type MetricKey } from './results.js';
import type { Summary } from './stats.js';

/**
 * The host row is a limit: a guest cannot read a disk faster, or send TCP
 * faster, than the machine it runs on. A guest figure beyond the host's by
 * more than the noise is an error of the measurement (one side measures
 * something else), never a "% of host" above 100.
 *
 * The noise is the larger of the runs' own spread ((max - min) / median of
 * the host's and the guest's samples, added) and NOISE_FLOOR: on our CI
 * machine the virtio guest's sequential reads in single quick runs spread by
 * up to 20 % (2028-2471 MB/s over four runs), so one quick run says no more
 * than that.
 */
export const NOISE_FLOOR = 0.25;

/**
 * Seconds two CPU figures may differ by without a meaning: `--quick` hashes
 * 16 MiB in about 0.05 s, the time one process start costs here, and CI saw
 * the host's single run at 0.078 s against a container's 0.052 s (the same
 * CPU, the same kernel). A longer workload is judged by NOISE_FLOOR alone.
 */
export const CPU_NOISE_S = 0.05;

const DISK_METRICS = new Set<MetricKey>(['seqWrite', 'seqRead', 'randRead']);

export interface LimitError {
  config: string;
  metric: MetricKey;
  guest: number;
  host: number;
  /** How far beyond the host the guest is, as a fraction (0.3 = 30 % better than the host). */
  beyond: number;
  tolerance: number;
}

const spread = (s: Summary) => (s.n > 1 && s.median > 0 ? (s.max - s.min) / s.median : 0);

export function hostLimitErrors(r: BenchResults): LimitError[] {
  const host = r.configs.find((c) => c.kind === 'host');
  if (!host) return [];
  const out: LimitError[] = [];
  for (const c of r.configs.filter((x) => x.kind !== 'host')) {
    for (const m of METRICS) {
      // The host row reads and writes with direct I/O: it limits only guests whose disks do too.
      // A guest on the host page cache (the writeback ablation) reads from host RAM, by design.
      if (DISK_METRICS.has(m.key) && c.tuning && c.tuning.diskCache !== 'none') continue;
      // A container's fio writes a file of its overlayfs layer: how much of that direct I/O the
      // host's page cache absorbs is overlayfs's business (one CI run saw its sequential write at 8304
      // MB/s against the host row's 4238 MB/s on the same file system; here 6517 against 6310), so the
      // host row does not bound it.
      if (DISK_METRICS.has(m.key) && c.kind === 'container') continue;
      const g = c.metrics[m.key];
      const h = host.metrics[m.key];
      if (!g || !h || g.median <= 0 || h.median <= 0) continue;
      // Compared with the best the host did, in this metric's direction.
      const best = m.higherIsBetter ? h.max : h.min;
      const beyond = m.higherIsBetter ? g.median / best - 1 : best / g.median - 1;
      const tolerance = Math.max(NOISE_FLOOR, spread(g) + spread(h));
      if (m.key === 'cpu' && Math.abs(g.median - best) < CPU_NOISE_S) continue;
      if (beyond > tolerance) out.push({ config: c.name, metric: m.key, guest: g.median, host: best, beyond, tolerance });
    }
  }
  return out;
}

export function describeLimitError(e: LimitError): string {
  const m = METRICS.find((x) => x.key === e.metric)!;
  return `${e.config}: ${m.label} is ${Math.round(e.beyond * 100)} % beyond the host's best (${e.guest.toPrecision(4)} vs ${e.host.toPrecision(4)} ${m.unit}; noise ${Math.round(e.tolerance * 100)} %): an error of the measurement, not a result`;
}
