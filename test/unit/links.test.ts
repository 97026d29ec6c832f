import assert from 'node:assert/strict';
import type { VmlabError } from '../../src/errors.js';
import { parseQdiscs, tcCommands } from '../../src/host/traffic-control.js';
import { formatImpairment, linkFrom, parseLinkFields } from '../../src/lab/link.js';
import { bridgeNameFor, tapNameFor } from '../../src/lab/names.js';
import { applyLabLinks, captureInterface, readLinks, setLink } from '../../src/lab-ops/links.js';
import { revertLabSnapshot, createLabSnapshot, snapshotTargets } from '../../src/lab-ops/snapshots.js';
import { upLab } from '../../src/lab-ops/up.js';
import { downLab } from '../../src/lab-ops/down.js';
import { PcapCounter } from '../../src/util/pcap.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planFromText, readLab, labIssues } from '../helpers/lab.js';

const QUICKSTART = readLab('labs/quickstart.yaml');
const withLink = (link: string) => QUICKSTART.replace('        ip: 10.10.0.12/24', `        ip: 10.10.0.12/24\n        link: ${link}`);

const issues = (text: string) => labIssues(text, 'x.yaml', true);

describe('links: values', () => {
  it('parses delay, jitter, loss, rate and state with units', () => {
    const { fields, problems } = parseLinkFields({ delay: '40ms', jitter: '500us', loss: '1.5%', rate: '10mbit', state: 'down' });
    assert.deepEqual(problems, []);
    assert.deepEqual(fields, { delayUs: 40_000, jitterUs: 500, lossPct: 1.5, rateBit: 10_000_000, state: 'down' });
    assert.equal(formatImpairment(fields), 'delay 40ms ±500us, loss 1.5%, rate 10mbit');
  });

  it('refuses impossible values, naming the key, with a hint', () => {
    const { problems } = parseLinkFields({ loss: '150%', delay: '2min', rate: '5bit', state: 'sideways' });
    assert.deepEqual(
      problems.map((p) => `${p.key}: ${p.message}`),
      ['delay: is not a duration', 'loss: is more than 100%', 'rate: is outside 8kbit to 100gbit', 'state: is neither up nor down'],
    );
    assert.deepEqual(
      linkFrom({ jitterUs: 5000 }).problems.map((p) => p.key),
      ['jitter'],
    );
  });

  it('in a lab file: the schema and the validator say what is wrong, where', () => {
    assert.deepEqual(issues(withLink('{ delay: 40ms, loss: 1%, rate: 10mbit, state: up }')), []);
    assert.deepEqual(issues(withLink('{ loss: 150% }')), ['vms.para.nics[0].link.loss: is more than 100% (a share of packets: 0% to 100%)']);
    assert.deepEqual(issues(withLink('{ jitter: 5ms }')), ['vms.para.nics[0].link.jitter: needs a delay to vary (give delay: too (jitter varies it by up to this much))']);
    const typo = issues(withLink('{ dealy: 5ms }'));
    assert.equal(typo.length, 1);
    assert.match(typo[0]!, /unknown key "dealy".*did you mean "delay"/);
    assert.match(issues(withLink('{ delay: fast }'))[0]!, /link\.delay/);
  });

  it('taps have stable names within 15 characters, and the link is not part of a VM hash', () => {
    const plain = planFromText(QUICKSTART, 'labs/quickstart.yaml');
    const impaired = planFromText(withLink('{ delay: 40ms, state: down }'), 'labs/quickstart.yaml');
    const para = (p: typeof plain) => p.vms.find((v) => v.name === 'para')!;
    assert.equal(para(plain).nics[0]!.tap, tapNameFor('quickstart', 'para', 0));
    assert.equal(para(plain).hash, para(impaired).hash, 'a link-only change does not re-create the VM');
    assert.deepEqual(para(impaired).nics[0]!.link, { state: 'down', delayUs: 40_000 });
    for (const name of [tapNameFor('quickstart', 'para', 0), tapNameFor('a-very-long-lab-name', 'a-long-vm-name', 7)]) {
      assert.ok(name.length <= 15 && /^vt/.test(name), name);
    }
    assert.notEqual(tapNameFor('lab', 'r1', 1), tapNameFor('lab', 'r11', 0).slice(0, -1) + '1x');
  });
});

describe('links: tc', () => {
  it('netem for delay/jitter/loss at the root, tbf for rate under it or alone', () => {
    assert.deepEqual(tcCommands('t0', { delayUs: 100_000, jitterUs: 10_000, lossPct: 5, rateBit: 1_000_000 }), [
      ['qdisc', 'add', 'dev', 't0', 'root', 'handle', '1:', 'netem', 'delay', '100000us', '10000us', 'loss', '5%', 'limit', '10000'],
      ['qdisc', 'add', 'dev', 't0', 'parent', '1:1', 'handle', '10:', 'tbf', 'rate', '1000000bit', 'burst', '3200', 'latency', '100ms'],
    ]);
    assert.deepEqual(tcCommands('t0', { rateBit: 1_000_000_000 }), [['qdisc', 'add', 'dev', 't0', 'root', 'handle', '10:', 'tbf', 'rate', '1000000000bit', 'burst', '625000', 'latency', '100ms']]);
    assert.deepEqual(tcCommands('t0', {}), []);
  });

  it('reads back what it set (tc -j qdisc show), and names a qdisc it did not set', () => {
    const q = parseQdiscs([
      { kind: 'netem', handle: '1:', dev: 'a', root: true, options: { delay: { delay: 0.1, jitter: 0.01 }, 'loss-random': { loss: 0.05 } } },
      { kind: 'tbf', handle: '10:', dev: 'a', parent: '1:1', options: { rate: 125000 } },
      { kind: 'tbf', handle: '10:', dev: 'b', root: true, options: { rate: 125000 } },
      { kind: 'noqueue', handle: '0:', dev: 'c', root: true },
      { kind: 'htb', handle: '1:', dev: 'd', root: true },
    ]);
    assert.deepEqual(q.get('a'), { kind: 'vmlab', impairment: { delayUs: 100_000, jitterUs: 10_000, lossPct: 5, rateBit: 1_000_000 } });
    assert.deepEqual(q.get('b'), { kind: 'vmlab', impairment: { rateBit: 1_000_000 } });
    assert.deepEqual(q.get('c'), { kind: 'none' });
    assert.deepEqual(q.get('d'), { kind: 'foreign', qdisc: 'htb' });
  });
});

describe('links: on fakes', () => {
  const plan = planFromText(withLink('{ delay: 40ms }'), 'labs/quickstart.yaml');
  const tap = tapNameFor('quickstart', 'para', 0);

  it("up applies the lab file's links; an up whose file changed only in link: changes them live, nothing is re-created", async () => {
    const { h, rt, disks, tc } = fakeRuntime();
    const first = await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.deepEqual(first.vms.find((v) => v.name === 'para')!.links, ['eth0: impairment none → delay 40ms']);
    assert.deepEqual(tc.taps.get(tap), { kind: 'vmlab', impairment: { delayUs: 40_000 } });
    const changed = planFromText(withLink('{ delay: 80ms, state: down }'), 'labs/quickstart.yaml');
    h.calls.length = 0;
    const second = await upLab(rt, changed, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    const para = second.vms.find((v) => v.name === 'para')!;
    assert.equal(para.action, 'unchanged');
    assert.deepEqual(para.links, ['eth0: link up → down', 'eth0: impairment delay 40ms → delay 80ms']);
    assert.equal(second.upToDate, false);
    assert.ok(!h.calls.some((c) => /^(define|destroy|undefine|start) /.test(c)), h.calls.join(', '));
    assert.ok(h.calls.includes('update-device vmlab-quickstart-para 52:54:00:d7:96:37 link down live'));
    const third = await upLab(rt, changed, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.equal(third.upToDate, true, 'nothing left to change');
  });

  it('link set changes one link live; revert puts the lab file back; down forgets the record', async () => {
    const { rt, disks, tc } = fakeRuntime();
    await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await createLabSnapshot(rt, 'quickstart', targets, 'start');
    const r = await setLink(rt, 'quickstart', { vm: 'para', nic: 'eth0' }, { fields: { lossPct: 50, state: 'down' } });
    assert.deepEqual(r.now, { state: 'down', delayUs: 40_000, lossPct: 50 });
    const cleared = await setLink(rt, 'quickstart', { vm: 'para', nic: 'eth0' }, { fields: {}, clear: true });
    assert.deepEqual(cleared.now, { state: 'down' }, '--clear keeps the state');
    const back = await revertLabSnapshot(rt, 'quickstart', targets, 'start');
    assert.deepEqual(back.links, ['para:eth0: link down → up', 'para:eth0: impairment none → delay 40ms']);
    assert.deepEqual(tc.taps.get(tap), { kind: 'vmlab', impairment: { delayUs: 40_000 } });
    await downLab(rt, 'quickstart', { disks });
    await assert.rejects(readLinks(rt, 'quickstart'), (e: VmlabError) => e.code === 'ERR_VMLAB_LAB_DOWN' && e.exitCode === 2);
  });

  it('unknown VM, interface or network: user errors naming what exists; a foreign qdisc is left alone', async () => {
    const { rt, disks, tc } = fakeRuntime();
    await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    await assert.rejects(setLink(rt, 'quickstart', { vm: 'r9', nic: 'eth0' }, { fields: { state: 'down' } }), (e: VmlabError) => e.exitCode === 2 && /its VMs: emu, para/.test(e.hint!));
    await assert.rejects(setLink(rt, 'quickstart', { vm: 'para', nic: 'eth5' }, { fields: { state: 'down' } }), (e: VmlabError) => e.exitCode === 2 && /para:eth0 \(lan\)/.test(e.hint!));
    await assert.rejects(captureInterface(rt, 'quickstart', 'wan'), (e: VmlabError) => e.exitCode === 2 && /lan/.test(e.hint!) && /emu:eth0/.test(e.hint!));
    assert.deepEqual(await captureInterface(rt, 'quickstart', 'lan'), { iface: bridgeNameFor('quickstart', 'lan'), what: `network lan (bridge ${bridgeNameFor('quickstart', 'lan')})` });
    assert.equal((await captureInterface(rt, 'quickstart', 'emu:eth0')).iface, tapNameFor('quickstart', 'emu', 0));
    tc.taps.set(tap, { kind: 'foreign', qdisc: 'htb' });
    tc.calls.length = 0;
    await assert.rejects(applyLabLinks(rt, 'quickstart'), (e: VmlabError) => e.code === 'ERR_VMLAB_TAP_FOREIGN');
    assert.deepEqual(tc.calls, [], 'nothing was changed on a tap with a qdisc vmlab did not set');
  });
});

describe('pcap counter', () => {
  it('counts packets, bytes and time across chunk boundaries', () => {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt32LE(1, 20);
    const rec = (sec: number, len: number) => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(sec, 0);
      h.writeUInt32LE(500_000, 4);
      h.writeUInt32LE(len, 8);
      h.writeUInt32LE(len, 12);
      return Buffer.concat([h, Buffer.alloc(len, 7)]);
    };
    const all = Buffer.concat([header, rec(10, 98), rec(11, 1514), rec(13, 60)]);
    const c = new PcapCounter();
    for (let i = 0; i < all.length; i += 7) c.feed(all.subarray(i, i + 7));
    assert.deepEqual(c.summary, { packets: 3, bytes: 98 + 1514 + 60, seconds: 3, linkType: 1 });
    assert.throws(() => new PcapCounter().feed(Buffer.alloc(24, 1)), /not a pcap/);
  });
});
