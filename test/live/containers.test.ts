import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { planFromText, root } from '../helpers/lab.js';
import { containerInit, containerTraces, libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = 'labs/three-ways.yaml';
const plan = planFromText(readFileSync(join(root, LAB), 'utf8'), LAB);
const taps = plan.vms.flatMap((v) => v.nics.map((n) => n.tap));
const ADDR = { emu: '10.30.0.11', para: '10.30.0.12', ct: '10.30.0.13' } as const;

async function guest(vm: string, args: string[]) {
  const r = await vmlab(['exec', LAB, vm, '--', ...args]);
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

/**
 * The course's three ways side by side: hardware emulation, paravirtualization
 * and a container, from one image on one bridge.
 */
describe('live: three ways to virtualize an OS (labs/three-ways.yaml: emulated, virtio, container)', function () {
  this.timeout(20 * 60_000);

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'three-ways']);
  });

  after(async () => {
    await vmlab(['down', 'three-ways']);
  });

  it('up: all three are ready, the container seconds after its start', async () => {
    const r = await vmlabJson(['up', LAB]);
    assert.equal(r.exitCode, 0, r.stderr);
    const vm = (n: string) => r.json.vms.find((v: { name: string }) => v.name === n);
    assert.deepEqual(
      r.json.vms.map((v: { name: string; ready: boolean; profile: string; accel: string }) => [v.name, v.ready, v.profile]),
      [
        ['emu', true, 'emulated'],
        ['para', true, 'virtio'],
        ['ct', true, 'container'],
      ],
    );
    assert.equal(vm('ct').accel, 'native');
    process.stdout.write(`      [live] three-ways up in ${r.json.seconds.toFixed(0)} s; container ready ${(vm('ct').times.cloudInit / 1000).toFixed(1)} s after its start\n`);
  });

  it('each guest pings the other two across the one bridge', async () => {
    for (const [from, own] of Object.entries(ADDR)) {
      for (const to of Object.values(ADDR).filter((a) => a !== own)) {
        const r = await guest(from, ['ping', '-c', '2', '-W', '3', to]);
        assert.equal(r.code, 0, `${from} → ${to}: ${r.out}${r.err}`);
      }
    }
  });

  it("exec works in all three: the container reports the host's kernel, the VMs the image's", async () => {
    const host = (await execa('uname', ['-r'])).stdout.trim();
    const ct = await guest('ct', ['uname', '-r']);
    assert.equal(ct.code, 0, ct.err);
    assert.equal(ct.out.trim(), host);
    for (const vm of ['emu', 'para']) {
      const r = await guest(vm, ['uname', '-r']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out.trim(), /-amd64$/, `${vm} runs the image's Debian kernel`);
      assert.notEqual(r.out.trim(), host);
    }
    const hostname = await guest('ct', ['hostname']);
    assert.equal(hostname.out.trim(), 'ct', 'cloud-init from the NoCloud seed directory set the name');
    const exit = await guest('ct', ['sh', '-c', 'exit 7']);
    assert.equal(exit.code, 7, 'the exit code comes back');
  });

  it("what vmlab runs in the container has the container's capabilities, not the host's: a binary root replaced there gets no more", async () => {
    const caps = (text: string) => /^CapBnd:\s*([0-9a-f]+)$/m.exec(text)![1]!;
    const init = caps(readFileSync(`/proc/${containerInit('vmlab-three-ways-ct')}/status`, 'utf8'));
    const ours = caps(readFileSync('/proc/self/status', 'utf8'));
    assert.notEqual(init, ours, "nspawn's bounding set is smaller than the host's");
    const r = await guest('ct', ['cat', '/proc/self/status']);
    assert.equal(r.code, 0, r.err);
    assert.equal(caps(r.out), init, 'the same bounding set as the container init');
    assert.match(r.out, /^NoNewPrivs:\s*1$/m);
    // sys_module (bit 16) is one nspawn drops: a replaced binary cannot load a kernel module.
    assert.equal((BigInt(`0x${caps(r.out)}`) >> 16n) & 1n, 0n);
  });

  it("status and libvirt's LXC driver agree with the plan: the container's XML is a domain libvirt accepts", async () => {
    const st = await vmlabJson(['status', LAB]);
    const ct = st.json.vms.find((v: { name: string }) => v.name === 'ct');
    assert.equal(ct.ready, true);
    assert.deepEqual(ct.agentIps, [`${ADDR.ct}/24`]);
    assert.deepEqual(ct.nics, [{ nic: 'eth0', network: 'vmlab-three-ways-lan', tap: plan.vms.find((v) => v.name === 'ct')!.nics[0]!.tap, link: 'up' }]);
    const out = mkdtempSync(join(tmpdir(), 'vmlab-lxc-'));
    assert.equal((await vmlab(['render', LAB, '--out', out])).exitCode, 0);
    const name = 'vmlab-lxc-check-three-ways-ct';
    const xml = readFileSync(join(out, 'ct', 'domain.xml'), 'utf8').replace(/<name>[^<]+<\/name>/, `<name>${name}</name>`);
    writeFileSync(join(out, 'lxc-check.xml'), xml);
    const def = await execa('virsh', ['-c', 'lxc:///system', 'define', join(out, 'lxc-check.xml')], { reject: false });
    assert.equal(def.exitCode, 0, String(def.stderr));
    const back = await execa('virsh', ['-c', 'lxc:///system', 'dumpxml', name]).finally(() => execa('virsh', ['-c', 'lxc:///system', 'undefine', name]));
    assert.match(String(back.stdout), /<init>\/sbin\/init<\/init>/);
    assert.match(String(back.stdout), /<guest dev='eth0'\/>/);
  });

  it("a container's snapshot is its file system: a revert brings the files back and restarts it, working", async () => {
    assert.equal((await vmlab(['snapshot', 'create', LAB, 'clean'])).exitCode, 0);
    assert.equal((await guest('ct', ['sh', '-c', 'echo student work > /root/work.txt'])).code, 0);
    const rev = await vmlabJson(['snapshot', 'revert', LAB, 'clean']);
    assert.equal(rev.exitCode, 0, rev.stderr);
    const method = rev.json.vms.find((v: { vm: string }) => v.vm === 'ct').method as string;
    assert.match(method, /file system: restarted/);
    assert.equal((await guest('ct', ['test', '-e', '/root/work.txt'])).code, 1, 'the file written after the snapshot is gone');
    assert.equal((await guest('ct', ['ping', '-c', '1', '-W', '3', ADDR.emu])).code, 0, 'back on the bridge after its restart');
  });

  it('link down on the container: its end has no carrier and the others cannot reach it; up again, they can', async () => {
    assert.equal((await vmlab(['link', 'set', LAB, 'ct:eth0', '--down'])).exitCode, 0);
    const carrier = await guest('ct', ['cat', '/sys/class/net/eth0/carrier']);
    assert.notEqual(carrier.out.trim(), '1', 'no carrier inside');
    assert.notEqual((await guest('emu', ['ping', '-c', '1', '-W', '2', ADDR.ct])).code, 0);
    assert.equal((await vmlab(['link', 'set', LAB, 'ct:eth0', '--up'])).exitCode, 0);
    let back = -1;
    for (let i = 0; i < 20 && back !== 0; i++) back = (await guest('emu', ['ping', '-c', '1', '-W', '1', ADDR.ct])).code;
    assert.equal(back, 0, 'reachable again once its link is up');
  });

  it('down leaves nothing: no domain, network, container process, namespace, veth, mount or definition', async () => {
    const r = await vmlabJson(['down', LAB]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(await libvirtObjects('vmlab-three-ways-'), []);
    assert.deepEqual(await containerTraces('vmlab-three-ways-', taps), []);
  });
});
