import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStringPromise } from 'xml2js';
import { benchConfigs, DEFAULT_MATRIX, labFor, refusal } from '../../src/bench/matrix.js';
import { findDiskBySize, parseFio, parseIperf, parsePingMedian, parseTimeSeconds } from '../../src/bench/measure.js';
import { advantage, renderChart, renderMarkdown } from '../../src/bench/report.js';
import { METRICS, type BenchResults } from '../../src/bench/results.js';
import { tuningFromXml } from '../../src/bench/run.js';
import { svgToPng } from '../../src/host/svg-png.js';
import { renderLab } from '../../src/render/index.js';
import { planLab } from '../../src/plan/plan.js';
import { GOLDEN_PLAN_OPTS, modelFromText, readLab, root } from '../helpers/lab.js';
import { requireTool } from '../helpers/tools.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const FIXTURE = join(root, 'test', 'fixtures', 'bench-results.json');
const results = JSON.parse(readFileSync(FIXTURE, 'utf8')) as BenchResults;

function golden(name: string, text: string): void {
  const path = join(root, 'test', 'golden', 'bench', name);
  if (UPDATE) {
    mkdirSync(join(root, 'test', 'golden', 'bench'), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  assert.ok(existsSync(path), `missing ${path} (UPDATE_GOLDEN=1)`);
  assert.equal(text, readFileSync(path, 'utf8'), `${path} differs`);
}

describe('vmlab bench: results → table and chart (recorded results file)', () => {
  it('the Markdown table matches its golden file, with the ratios the course asks for', () => {
    const md = renderMarkdown(results);
    golden('results.md', md);
    assert.match(md, /virtio vs emulated \(tcg\)/);
    assert.match(md, /tcg-virtio % of host/);
    assert.match(md, /`kvm-virtio`: not run here/);
  });

  it('the SVG chart matches its golden file, is well-formed and has a bar per configuration and metric', async () => {
    const svg = renderChart(results);
    golden('chart.svg', svg);
    const doc = await parseStringPromise(svg);
    const bars = doc.svg.rect.length - 1; // minus the background
    const expected = METRICS.reduce((n, m) => n + results.configs.filter((c) => c.metrics[m.key]).length, 0);
    assert.equal(bars, expected);
    const text = JSON.stringify(doc);
    for (const c of results.configs) assert.ok(text.includes(c.name), c.name);
  });

  it('PNG for slides (rsvg-convert)', async () => {
    requireTool('rsvg-convert', 'librsvg2-bin');
    const png = await svgToPng(renderChart(results));
    assert.deepEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47]);
  });

  it('advantage is oriented so that > 1 means better, for both directions', () => {
    const s = (median: number) => ({ n: 1, median, min: median, max: median });
    const tcp = METRICS.find((m) => m.key === 'tcp')!;
    const ping = METRICS.find((m) => m.key === 'ping')!;
    assert.equal(advantage(s(2), s(1), tcp), 2);
    assert.equal(advantage(s(0.5), s(1), ping), 2);
    assert.equal(advantage(undefined, s(1), ping), undefined);
  });
});

describe('vmlab bench: measurement parsers and matrix', () => {
  it('parses fio, iperf3, ping and bash time output', () => {
    const fio = parseFio('note: both iodepth >= 1 and synchronous I/O engine\n{"jobs":[{"read":{"bw":51200,"iops":12.5},"write":{"bw":0,"iops":0}}]}');
    assert.equal(fio.readMBs, (51200 * 1024) / 1e6);
    assert.equal(fio.readIops, 12.5);
    assert.equal(parseIperf('{"end":{"sum_received":{"bits_per_second":2500000000}}}'), 2.5);
    assert.throws(() => parseIperf('{"error":"unable to connect to server"}'), /unable to connect/);
    assert.equal(parsePingMedian('64 bytes from x: icmp_seq=1 ttl=64 time=0.9 ms\n64 bytes: time=0.3 ms\n64 bytes: time=0.5 ms\n'), 0.5);
    assert.throws(() => parsePingMedian('100% packet loss'), /no replies/);
    assert.equal(parseTimeSeconds('some noise\n1.234\n'), 1.234);
    assert.equal(
      findDiskBySize('{"blockdevices":[{"name":"vda","size":3221225472,"type":"disk"},{"name":"vdb","size":1073741824,"type":"disk"},{"name":"sr0","size":372736,"type":"rom"}]}', 1073741824),
      '/dev/vdb',
    );
  });

  it("kvm rows are refused with the host's reason where KVM cannot run guests; ablations exist", () => {
    const cs = benchConfigs(DEFAULT_MATRIX);
    const auto = { accel: 'tcg' as const, reason: 'KVM here is nested through PVM' };
    assert.deepEqual(
      cs.filter((c) => refusal(c, { auto, vhostNet: false })).map((c) => c.name),
      ['kvm-emulated', 'kvm-virtio', 'kvm-virtio-writeback', 'kvm-virtio-novhost'],
    );
    assert.equal(
      refusal(
        cs.find((c) => c.name === 'kvm-virtio')!,
        { auto, vhostNet: false },
      ),
      'KVM here is nested through PVM',
    );
    assert.equal(
      refusal(
        cs.find((c) => c.name === 'kvm-virtio')!,
        { auto: { accel: 'kvm', reason: 'ok' }, vhostNet: true },
      ),
      undefined,
    );
  });

  it('a fair comparison: the two models differ only in devices (same image, memory, vCPUs, disk format and cache)', async () => {
    const model = modelFromText(readLab('labs/bench-pair.yaml'), 'labs/bench-pair.yaml');
    const [emu, vio] = benchConfigs(['tcg-emulated', 'tcg-virtio']);
    const render = (c: typeof emu) => renderLab(planLab(labFor(model, c!), { ...GOLDEN_PLAN_OPTS, diskCache: c!.diskCache, diskIo: c!.diskIo }));
    const e = render(emu);
    const v = render(vio);
    const te = await tuningFromXml(e.vms[0]!.files['domain.xml']);
    const tv = await tuningFromXml(v.vms[0]!.files['domain.xml']);
    assert.deepEqual([te.diskBus, te.nicModel, te.diskCache, te.diskIo], ['sata', 'e1000', 'none', 'native']);
    assert.deepEqual([tv.diskBus, tv.nicModel, tv.diskCache, tv.diskIo], ['virtio', 'virtio', 'none', 'native']);
    const facts = (xml: string) => [/<memory unit='MiB'>(\d+)</.exec(xml)?.[1], /<vcpu[^>]*>(\d+)</.exec(xml)?.[1], (xml.match(/type='(raw|qcow2)'/g) ?? []).join()];
    assert.deepEqual(facts(e.vms[0]!.files['domain.xml']), facts(v.vms[0]!.files['domain.xml']));
    assert.doesNotMatch(e.vms[0]!.files['domain.xml'], /virtio/);
  });
});
