import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeLimitError, hostLimitErrors, NOISE_FLOOR } from '../../src/bench/limits.js';
import { renderTable } from '../../src/bench/report.js';
import type { BenchResults } from '../../src/bench/results.js';
import { root } from '../helpers/lab.js';

const fixture = () => JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'bench-results.json'), 'utf8')) as BenchResults;
const one = (median: number, spread = 0) => ({ n: spread ? 3 : 1, median, min: median * (1 - spread / 2), max: median * (1 + spread / 2) });

describe('bench: the host row is a limit', () => {
  it('a guest beyond the host by more than the noise is a measurement error, named with both figures', () => {
    const r = fixture();
    const host = r.configs.find((c) => c.kind === 'host')!;
    const virtio = r.configs.find((c) => c.name === 'tcg-virtio')!;
    host.metrics.seqRead = one(1267);
    virtio.metrics.seqRead = one(2761);
    const errs = hostLimitErrors(r).filter((e) => e.config === 'tcg-virtio');
    assert.deepEqual(
      errs.map((e) => [e.metric, Math.round(e.beyond * 100)]),
      [['seqRead', 118]],
    );
    assert.match(
      describeLimitError(errs[0]!),
      /^tcg-virtio: disk: sequential read, 1 MiB blocks, direct is 118 % beyond the host's best \(2761 vs 1267 MB\/s; noise 25 %\): an error of the measurement/,
    );
    assert.match(renderTable({ ...r, limitErrors: errs }), /\*\*beyond the host: measurement error\*\*/);
  });

  it("within the noise is no error; lower-is-better metrics count the other way; the runs' own spread widens the noise", () => {
    const r = fixture();
    const host = r.configs.find((c) => c.kind === 'host')!;
    const virtio = r.configs.find((c) => c.name === 'tcg-virtio')!;
    for (const c of r.configs) for (const k of Object.keys(c.metrics) as Array<keyof typeof c.metrics>) if (c.kind !== 'host') c.metrics[k] = one(1);
    for (const k of Object.keys(host.metrics) as Array<keyof typeof host.metrics>) host.metrics[k] = one(1);
    virtio.metrics.seqWrite = one(1 + NOISE_FLOOR - 0.01);
    assert.deepEqual(hostLimitErrors(r), []);
    virtio.metrics.ping = one(0.5); // half the host's round trip: impossible
    assert.deepEqual(
      hostLimitErrors(r).map((e) => e.metric),
      ['ping'],
    );
    virtio.metrics.ping = one(1);
    virtio.metrics.tcp = one(1.4);
    assert.deepEqual(
      hostLimitErrors(r).map((e) => e.metric),
      ['tcp'],
      '40 % beyond one host run: an error',
    );
    virtio.metrics.tcp = one(1.4, 0.2);
    host.metrics.tcp = one(1, 0.2);
    assert.deepEqual(hostLimitErrors(r), [], "runs that spread by 20 % each: 27 % beyond the host's best run is within their noise (40 %)");
  });
  it('a CPU figure within a process start of the host (quick runs of a few hundredths of a second) is noise, a larger one is not', () => {
    const r = fixture();
    const host = r.configs.find((c) => c.kind === 'host')!;
    const ct = r.configs.find((c) => c.kind === 'container') ?? r.configs.find((c) => c.kind !== 'host')!;
    host.metrics.cpu = one(0.078);
    ct.metrics.cpu = one(0.052);
    assert.deepEqual(
      hostLimitErrors(r).filter((e) => e.metric === 'cpu'),
      [],
    );
    host.metrics.cpu = one(0.3);
    ct.metrics.cpu = one(0.2);
    assert.deepEqual(
      hostLimitErrors(r)
        .filter((e) => e.metric === 'cpu')
        .map((e) => e.config),
      [ct.name],
    );
  });

  it("a container's disk figures (through its overlayfs layer) are not bounded by the host's direct-I/O row; its CPU and network are", () => {
    const r = fixture();
    const host = r.configs.find((c) => c.kind === 'host')!;
    const base = r.configs.find((c) => c.name === 'tcg-virtio')!;
    const ct = { ...base, name: 'container', kind: 'container' as const, tuning: undefined, metrics: { ...base.metrics } };
    r.configs.push(ct);
    host.metrics.seqWrite = one(4238);
    ct.metrics.seqWrite = one(8304);
    host.metrics.tcp = one(1000);
    ct.metrics.tcp = one(3000);
    assert.deepEqual(
      hostLimitErrors(r)
        .filter((e) => e.config === ct.name)
        .map((e) => e.metric),
      ['tcp'],
    );
  });

  it('the host page cache ablation reads from host RAM by design: the direct-I/O host row is not its disk limit', () => {
    const r = fixture();
    const wb = r.configs.find((c) => c.name === 'tcg-virtio-writeback')!;
    assert.equal(wb.tuning!.diskCache, 'writeback');
    assert.ok(wb.metrics.seqRead!.median > (1 + NOISE_FLOOR) * r.configs.find((c) => c.kind === 'host')!.metrics.seqRead!.max, 'the fixture has it beyond the host by more than the noise');
    assert.deepEqual(hostLimitErrors(r), []);
    wb.tuning!.diskCache = 'none';
    // Were it direct I/O, its reads (4843 MB/s against the host's best 3200) and writes (5889 vs 3969) would be errors.
    assert.deepEqual(
      hostLimitErrors(r).map((e) => `${e.config} ${e.metric}`),
      ['tcg-virtio-writeback seqWrite', 'tcg-virtio-writeback seqRead'],
    );
  });
});
