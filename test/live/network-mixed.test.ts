import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { planFromText, root } from '../helpers/lab.js';
import { containerInit, containerTraces, libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = 'labs/linux-network-mixed.yaml';
const plan = planFromText(readFileSync(join(root, LAB), 'utf8'), LAB);

/** Where vmlab unpacks images for containers (every version; no other lab of the suite runs now). */
const ROOTFS = '/var/lib/vmlab/rootfs';
const taps = plan.vms.flatMap((v) => v.nics.map((n) => n.tap));

/**
 * The network lab with its routers and servers as containers and its clients
 * as VMs passes the all-VM lab's assignments: the same checks, run by
 * `assignment verify --lab` (each check fails before the teacher's solution
 * and passes after it), on the same bridges.
 */
describe('live: the mixed network lab (routers and servers as containers, clients as VMs)', function () {
  this.timeout(30 * 60_000);

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'linux-network-mixed']);
    // As on a fresh host: no image unpacked yet for containers, so up's four containers all ask for the same root file system at once.
    rmSync(ROOTFS, { recursive: true, force: true });
  });

  after(async () => {
    await vmlab(['down', 'linux-network-mixed']);
  });

  it('up on a host with no image unpacked: the four containers share one unpacking; four containers and two VMs, every service working (OSPF, DHCP through the relay, DNS, NAT, firewall, web)', async () => {
    const r = await vmlabJson(['up', LAB]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stderr.match(/unpacking the image's root file system/g)?.length, 1, r.stderr);
    assert.deepEqual(r.json.vms.map((v: { name: string; ready: boolean; profile: string }) => `${v.name} ${v.profile} ${v.ready}`).sort(), [
      'client1 emulated true',
      'client2 virtio true',
      'inet container true',
      'r1 container true',
      'r2 container true',
      'srv container true',
    ]);
    const r1 = await vmlab(['exec', LAB, 'r1', '--', 'vtysh', '-c', 'show ip route ospf json']);
    const routes = JSON.parse(String(r1.stdout)) as Record<string, Array<{ selected?: boolean }>>;
    assert.equal(routes['10.2.0.0/24']?.[0]?.selected, true, 'the container router learned LAN2 by OSPF');
    process.stdout.write(`      [live] linux-network-mixed up and working in ${r.json.seconds.toFixed(0)} s (4 containers, 2 VMs)\n`);
  });

  for (const a of ['lan-firewall', 'network-stages']) {
    it(`assignment verify ${a} --lab ${LAB}: the all-VM lab's checks prove themselves here too`, async () => {
      const r = await vmlabJson(['assignment', 'verify', `labs/assignments/${a}.yaml`, '--lab', LAB]);
      assert.equal(r.exitCode, 0, `${r.stderr}\n${JSON.stringify(r.json.stages ?? r.json, null, 1)}`);
      assert.equal(r.json.ok, true);
      process.stdout.write(`      [live] ${a} verified on the mixed lab in ${(r.json.seconds as number).toFixed(0)} s\n`);
    });
  }

  it("every container runs in a cgroup of its own; after the verifies' restarts (all four at once, each time) no unit has failed in any", async () => {
    for (const ct of plan.vms.filter((v) => v.kind === 'container')) {
      const cgroup = readFileSync(`/proc/${containerInit(ct.domainName)}/cgroup`, 'utf8');
      assert.match(cgroup, new RegExp(`^0::/vmlab\\.containers/${ct.domainName}/payload/`, 'm'), `${ct.name}: ${cgroup}`);
      const r = await vmlab(['exec', LAB, ct.name, '--', 'systemctl', '--failed', '--no-legend', '--plain']);
      assert.equal(r.exitCode, 0, String(r.stderr));
      assert.equal(String(r.stdout).trim(), '', `${ct.name}: failed units`);
    }
  });

  it('down leaves nothing of the containers or the VMs', async () => {
    assert.equal((await vmlab(['down', LAB])).exitCode, 0);
    assert.deepEqual(await libvirtObjects('vmlab-linux-network-mixed-'), []);
    assert.deepEqual(await containerTraces('vmlab-linux-network-mixed-', taps), []);
  });
});
