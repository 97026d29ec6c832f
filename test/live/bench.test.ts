import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advantage, renderTable } from '../../src/bench/report.js';
import { METRICS, type BenchResults } from '../../src/bench/results.js';
import { requireLiveHost, vmlab } from '../helpers/live.js';

/** `vmlab bench --quick` end to end: the course's comparison, emulated, virtio, container and host. */
describe('live: vmlab bench --quick (tcg-emulated, tcg-virtio, container, host)', function () {
  this.timeout(30 * 60_000);
  let out: string;
  let r: BenchResults;

  before(async () => {
    await requireLiveHost();
    out = mkdtempSync(join(tmpdir(), 'vmlab-bench-'));
  });

  it('runs end to end and writes results.json, results.md, chart.svg and chart.png', async () => {
    const t0 = Date.now();
    const res = await vmlab(['bench', '--quick', '--matrix', 'tcg-emulated,tcg-virtio,container,host', '--out', out], { timeout: 25 * 60_000 });
    assert.equal(res.exitCode, 0, String(res.stderr));
    for (const f of ['results.json', 'results.md', 'chart.svg', 'chart.png']) assert.ok(existsSync(join(out, f)), f);
    r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
    process.stdout.write(`      [live] bench --quick in ${((Date.now() - t0) / 1000).toFixed(0)} s (target 480 s)\n${renderTable(r).replace(/^/gm, '      ')}\n`);
  });

  it('every measurement is a positive number; the host has no boot rows', () => {
    assert.deepEqual(
      r.configs.map((c) => c.name),
      ['tcg-emulated', 'tcg-virtio', 'container', 'host'],
    );
    for (const c of r.configs) {
      for (const m of METRICS) {
        const s = c.metrics[m.key];
        if (c.kind === 'host' && m.key.startsWith('boot')) {
          assert.equal(s, undefined);
          continue;
        }
        assert.ok(s && s.median > 0 && Number.isFinite(s.median), `${c.name} ${m.key}: ${JSON.stringify(s)}`);
      }
    }
  });

  it('the stored XML shows the tuned virtio devices, and no virtio device in the emulated guests', () => {
    const v = r.configs.find((c) => c.name === 'tcg-virtio')!;
    assert.deepEqual(v.tuning, { diskBus: 'virtio', diskCache: 'none', diskIo: 'native', nicModel: 'virtio', vhost: false, iothread: true });
    for (const xml of Object.values(v.xml!)) {
      // libvirt writes attributes in its own order: check each on the test disk's driver element.
      const driver = /<driver name='qemu' type='raw'[^>]*\/>/.exec(xml)?.[0] ?? '';
      for (const attr of ["cache='none'", "io='native'", "iothread='1'"]) assert.ok(driver.includes(attr), `${attr} in ${driver}`);
      assert.match(xml, /<target dev='vdb' bus='virtio'\/>/);
      assert.match(xml, /<model type='virtio'\/>/);
    }
    const e = r.configs.find((c) => c.name === 'tcg-emulated')!;
    assert.deepEqual([e.tuning!.diskBus, e.tuning!.nicModel, e.tuning!.diskCache], ['sata', 'e1000', 'none']);
    for (const xml of Object.values(e.xml!)) assert.doesNotMatch(xml.replace(/<!--[\s\S]*?-->/g, ''), /virtio/);
  });

  it('paravirtualization beats hardware emulation on disk throughput, random reads and TCP', () => {
    const v = r.configs.find((c) => c.name === 'tcg-virtio')!;
    const e = r.configs.find((c) => c.name === 'tcg-emulated')!;
    for (const key of ['seqWrite', 'randRead', 'tcp'] as const) {
      const m = METRICS.find((x) => x.key === key)!;
      const adv = advantage(v.metrics[key], e.metrics[key], m)!;
      assert.ok(adv > 1, `${key}: virtio ${v.metrics[key]!.median} vs emulated ${e.metrics[key]!.median}`);
    }
  });

  it("the container is the host's own kernel: it boots in seconds, computes like the host, and is within the noise of the host row", () => {
    const ct = r.configs.find((c) => c.name === 'container')!;
    const v = r.configs.find((c) => c.name === 'tcg-virtio')!;
    assert.equal(ct.kind, 'container');
    assert.equal(ct.tuning, undefined, 'no virtual disk or NIC to describe');
    assert.ok(ct.metrics.bootCloudInit!.median < v.metrics.bootCloudInit!.median / 3, `container ${ct.metrics.bootCloudInit!.median} s vs VM ${v.metrics.bootCloudInit!.median} s`);
    assert.ok(ct.metrics.cpu!.median < v.metrics.cpu!.median / 3, 'no binary translation: the host CPU runs it');
    assert.deepEqual(r.limitErrors ?? [], [], 'a container is never beyond the host it runs on');
    for (const xml of Object.values(ct.xml!)) assert.match(xml, /<domain type='lxc'>/);
  });
});
