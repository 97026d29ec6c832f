import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { whereLibvirtd } from '../../src/host/host-net.js';
import { netemAvailable } from '../../src/host/traffic-control.js';
import { tapNameFor } from '../../src/lab/names.js';
import { PcapCounter } from '../../src/util/pcap.js';
import { root } from '../helpers/lab.js';
import { CLI, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = 'labs/quickstart.yaml';
const dir = mkdtempSync(join(tmpdir(), 'vmlab-net-tools-'));
const PARA_TAP = tapNameFor('quickstart', 'para', 0);

async function guest(vm: string, args: string[], timeoutS = 120) {
  const r = await vmlab(['exec', '--timeout', String(timeoutS), LAB, vm, '--', ...args]);
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

/** Round-trip times (ms) of `ping` from emu to para, and the share lost. */
async function ping(count: number, intervalS = 0.2): Promise<{ avgMs: number; lossPct: number; out: string }> {
  const r = await guest('emu', ['ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', '2', '10.10.0.12'], count * intervalS + 60);
  const loss = /([\d.]+)% packet loss/.exec(r.out);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.out);
  assert.ok(loss, `ping printed no summary: ${r.out} ${r.err}`);
  return { avgMs: rtt ? Number(rtt[1]) : NaN, lossPct: Number(loss[1]), out: r.out };
}

/** Where libvirtd runs: tc, tcpdump and the taps. */
async function host(argv: string[]) {
  const [cmd, args] = whereLibvirtd(argv);
  return execa(cmd, args, { reject: false });
}

async function qdiscKinds(tap: string): Promise<string[]> {
  const r = await host(['tc', '-j', 'qdisc', 'show', 'dev', tap]);
  // A tc that failed (no such tap, no tc) would read as "no qdisc" and make every check below it vacuous.
  assert.equal(r.exitCode, 0, `tc qdisc show dev ${tap}: ${String(r.stderr)}`);
  return (JSON.parse(String(r.stdout)) as Array<{ kind: string }>).map((q) => q.kind);
}

async function noTcpdump(): Promise<void> {
  const r = await execa('pgrep', ['-x', 'tcpdump'], { reject: false });
  assert.equal(r.exitCode, 1, `a tcpdump is still running: ${String(r.stdout)}`);
}

/** What tcpdump reads back from a pcap file: one line per packet. */
async function readPcap(file: string): Promise<string[]> {
  const r = await execa('tcpdump', ['-nn', '-r', file], { reject: false });
  assert.equal(r.exitCode, 0, String(r.stderr));
  return String(r.stdout).split('\n').filter(Boolean);
}

const text = (b: unknown) => Buffer.from(b as Uint8Array).toString('utf8');

/** Starts a capture and resolves once tcpdump listens (its "capturing on" line). */
function startCapture(args: string[]) {
  const child = execa('node', [CLI, 'capture', LAB, ...args], { reject: false, cwd: root, encoding: 'buffer' });
  const listening = new Promise<void>((res, rej) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (/capturing on/.test(err)) res();
    });
    void child.then((r) => rej(new Error(`capture ended before listening: ${String(r.stderr)}`)));
  });
  return { child, listening };
}

/** vmlab capture, link set and link show on the quickstart lab's two guests. */
describe('live: network tools on the quickstart lab (capture, link impairment, link state)', function () {
  this.timeout(30 * 60_000);

  before(async () => {
    await requireLiveHost();
    const r = await vmlab(['up', LAB], { timeout: 15 * 60_000 });
    assert.equal(r.exitCode, 0, String(r.stderr));
  });

  after(async () => {
    await vmlab(['down', 'quickstart']);
  });

  it('capture on the bridge while emu pings para: the pcap holds the echo requests and the replies', async () => {
    const file = join(dir, 'lan.pcap');
    const cap = startCapture(['lan', '-w', file, '--json', 'icmp']);
    await cap.listening;
    assert.equal((await ping(3)).lossPct, 0);
    await new Promise((r) => setTimeout(r, 500));
    cap.child.kill('SIGINT');
    const r = await cap.child;
    assert.equal(r.exitCode, 0, text(r.stderr));
    const summary = JSON.parse(text(r.stdout));
    const lines = await readPcap(file);
    assert.equal(lines.filter((l) => /10\.10\.0\.11 > 10\.10\.0\.12: ICMP echo request/.test(l)).length, 3, lines.join('\n'));
    assert.equal(lines.filter((l) => /10\.10\.0\.12 > 10\.10\.0\.11: ICMP echo reply/.test(l)).length, 3, lines.join('\n'));
    assert.equal(summary.packets, lines.length);
    assert.equal(summary.ended, 'interrupted');
    await noTcpdump();
  });

  it('capture on one tap with a filter holds only what matches; to stdout it is a pcap stream; count and duration stop it', async () => {
    const file = join(dir, 'tap.pcap');
    const cap = startCapture(['para:eth0', '-w', file, '-c', '3', 'icmp[icmptype] == icmp-echoreply']);
    await cap.listening;
    await ping(4);
    const r = await cap.child;
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.match(text(r.stdout), /^3 packets, \d+ bytes, .* → .*\(count\)$/m);
    const lines = await readPcap(file);
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /10\.10\.0\.12 > 10\.10\.0\.11: ICMP echo reply/);

    const piped = startCapture(['lan', '-c', '4', 'icmp']);
    await piped.listening;
    await ping(3);
    const p = await piped.child;
    assert.equal(p.exitCode, 0, text(p.stderr));
    const counter = new PcapCounter();
    counter.feed(Buffer.from(p.stdout as unknown as Uint8Array));
    assert.equal(counter.summary.packets, 4);
    assert.equal(counter.summary.linkType, 1, 'Ethernet frames');

    const t0 = Date.now();
    const timed = await vmlabJson(['capture', LAB, 'lan', '-w', join(dir, 'quiet.pcap'), '--duration', '2', '--json', 'tcp port 9']);
    assert.equal(timed.exitCode, 0, timed.stderr);
    assert.equal(timed.json.ended, 'duration');
    assert.ok(Date.now() - t0 < 20_000);
    await noTcpdump();
  });

  it('--rate 1mbit: iperf3 towards para stays under it (+10 %); --clear: back to full speed', async () => {
    const iperf = async () => {
      await guest('para', ['sh', '-c', 'iperf3 -s -D -1 >/dev/null 2>&1']);
      await new Promise((r) => setTimeout(r, 1000));
      const r = await guest('emu', ['iperf3', '-c', '10.10.0.12', '-t', '5', '-J']);
      assert.equal(r.code, 0, r.err);
      return (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    };
    const set = await vmlabJson(['link', 'set', '--json', LAB, 'para:eth0', '--rate', '1mbit']);
    assert.equal(set.exitCode, 0, set.stderr);
    assert.deepEqual(set.json.link, { state: 'up', rate: '1mbit' });
    assert.deepEqual(await qdiscKinds(PARA_TAP), ['tbf']);
    const limited = await iperf();
    assert.ok(limited <= 1.1e6 && limited > 0.5e6, `${(limited / 1e6).toFixed(2)} Mbit/s under a 1 Mbit/s limit`);
    assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--clear'])).exitCode, 0);
    assert.ok(!(await qdiscKinds(PARA_TAP)).includes('tbf'));
    const full = await iperf();
    process.stdout.write(`      [live] iperf3 emu → para: ${(limited / 1e6).toFixed(2)} Mbit/s at --rate 1mbit, ${(full / 1e6).toFixed(1)} Mbit/s cleared\n`);
    assert.ok(full > 3e6, `${full} bit/s after --clear`);
  });

  it('--delay 100ms raises the RTT by 100 ms (±20 %) and --loss 50% loses 30–70 % of 100 pings; where the kernel has no netem, both are refused and nothing is left', async () => {
    const base = await ping(10);
    const netem = netemAvailable();
    if (netem) {
      assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--delay', '100ms'])).exitCode, 0);
      const slow = await ping(10);
      const added = slow.avgMs - base.avgMs;
      assert.ok(added >= 80 && added <= 120, `RTT ${base.avgMs} → ${slow.avgMs} ms`);
      assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--clear', '--loss', '50%'])).exitCode, 0);
      const lossy = await ping(100);
      assert.ok(lossy.lossPct >= 30 && lossy.lossPct <= 70, lossy.out);
      assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--clear'])).exitCode, 0);
      assert.ok((await ping(10)).avgMs < base.avgMs + 50, '--clear: the delay is gone');
      process.stdout.write(`      [live] netem: RTT ${base.avgMs} → ${slow.avgMs} ms with --delay 100ms; ${lossy.lossPct}% of 100 pings lost at --loss 50%\n`);
    } else {
      assert.equal(netem, false, 'the kernel says whether it has netem (/proc/config.gz)');
      for (const flag of [
        ['--delay', '100ms'],
        ['--loss', '50%'],
      ]) {
        const r = await vmlabJson(['link', 'set', '--json', LAB, 'para:eth0', ...flag]);
        assert.equal(r.exitCode, 1, "a host without netem is a runtime failure, not the user's mistake");
        assert.equal(r.json.error.code, 'ERR_VMLAB_NETEM_MISSING');
        assert.ok(!(await qdiscKinds(PARA_TAP)).some((k) => k === 'netem' || k === 'tbf'), 'nothing left on the tap');
      }
      assert.equal((await ping(5)).lossPct, 0, 'the link still works');
      process.stdout.write('      [live] this kernel has no netem (CONFIG_NET_SCH_NETEM unset): --delay and --loss refused with ERR_VMLAB_NETEM_MISSING, nothing left on the tap\n');
    }
  });

  it('--down: no ping and no carrier in the guest; --up: ping again', async () => {
    assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--down'])).exitCode, 0);
    assert.equal((await guest('para', ['cat', '/sys/class/net/eth0/carrier'])).out.trim(), '0');
    assert.equal((await ping(3)).lossPct, 100);
    const show = await vmlabJson(['link', 'show', '--json', LAB]);
    assert.deepEqual(show.json.links.find((l: { vm: string }) => l.vm === 'para').now, { state: 'down' });
    assert.equal((await vmlab(['link', 'set', LAB, 'para:eth0', '--up'])).exitCode, 0);
    assert.equal((await guest('para', ['cat', '/sys/class/net/eth0/carrier'])).out.trim(), '1');
    assert.equal((await ping(3)).lossPct, 0);
  });

  it('link: in the lab file is applied by up live (no VM re-created), survives a snapshot revert, and a link set lasts until then', async () => {
    const file = join(dir, 'quickstart.yaml');
    writeFileSync(file, readFileSync(join(root, LAB), 'utf8').replace('        ip: 10.10.0.12/24', '        ip: 10.10.0.12/24\n        link: { rate: 2mbit }'));
    const up = await vmlabJson(['up', '--json', file]);
    assert.equal(up.exitCode, 0, up.stderr);
    const para = up.json.vms.find((v: { name: string }) => v.name === 'para');
    assert.equal(para.action, 'unchanged');
    assert.deepEqual(para.links, ['eth0: impairment none → rate 2mbit']);
    assert.equal((await vmlab(['snapshot', 'create', file, 'links'])).exitCode, 0);
    assert.equal((await vmlab(['link', 'set', file, 'para:eth0', '--down', '--rate', '500kbit'])).exitCode, 0);
    const back = await vmlabJson(['snapshot', 'revert', '--json', file, 'links']);
    assert.equal(back.exitCode, 0, back.stderr);
    assert.deepEqual(back.json.links, ['para:eth0: link down → up', 'para:eth0: impairment rate 500kbit → rate 2mbit']);
    const show = await vmlabJson(['link', 'show', '--json', file]);
    assert.deepEqual(show.json.links.find((l: { vm: string }) => l.vm === 'para').now, { state: 'up', rate: '2mbit' });
    assert.equal((await ping(3)).lossPct, 0);
    await vmlab(['snapshot', 'delete', file, 'links']);
    const plain = await vmlabJson(['up', '--json', LAB]);
    assert.deepEqual(plain.json.vms.find((v: { name: string }) => v.name === 'para').links, ['eth0: impairment rate 2mbit → none']);
  });

  it('bad input: unknown VM, interface or network, impossible values, a broken filter → exit 2; nothing left running or on the taps', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['link', 'set', LAB, 'r9:eth0', '--down'], /no VM "r9"/],
      [['link', 'set', LAB, 'para:eth7', '--down'], /no interface "eth7"/],
      [['link', 'set', LAB, 'para:eth0', '--loss', '150%'], /more than 100%/],
      [['link', 'set', LAB, 'para:eth0', '--delay', 'soon'], /not a duration/],
      [['link', 'set', LAB, 'para:eth0', '--jitter', '5ms'], /needs a delay/],
      [['link', 'set', LAB, 'para', '--down'], /not VM:INTERFACE/],
      [['capture', LAB, 'wan', '-w', join(dir, 'x.pcap')], /no network "wan"/],
      [['capture', LAB, 'lan', '-w', join(dir, 'x.pcap'), 'icmp', 'and', 'and'], /filter .* is not valid/],
    ];
    for (const [args, msg] of cases) {
      const r = await vmlab(args);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${String(r.stderr)}`);
      assert.match(String(r.stderr), msg);
    }
    await noTcpdump();
    for (const tap of [PARA_TAP, tapNameFor('quickstart', 'emu', 0)]) assert.ok(!(await qdiscKinds(tap)).some((k) => k === 'netem' || k === 'tbf'), tap);
    const status = await vmlab(['status', LAB]);
    assert.match(String(status.stdout), new RegExp(`eth0 tap ${PARA_TAP}`));
  });
});
