import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { boundingSetArg, containerEntry } from '../../src/container/nsenter-guest.js';
import { nspawnHierarchies } from '../../src/container/cgroups.js';
import { nspawnArgs } from '../../src/container/nspawn.js';
import { domainWithLink, readDomainXml } from '../../src/libvirt/xml-read.js';
import { upLab } from '../../src/lab-ops/up.js';
import { planLab } from '../../src/plan/plan.js';
import { admit, classCopies, CONTAINER_COST, copyNeeds } from '../../src/plan/class-plan.js';
import type { ClassModel } from '../../src/lab/class-file.js';
import { renderLab } from '../../src/render/index.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, modelFromText, planFromText, readLab, labIssues } from '../helpers/lab.js';

const LAB = readLab('labs/three-ways.yaml');

const issues = (text: string) => labIssues(text, '/labs/x.yaml');

/** The three-ways lab with `extra` lines added to its container. */
const withCt = (extra: string) => LAB.replace('    kind: container', `    kind: container\n${extra}`);

describe('containers: the lab file', () => {
  it('what only a VM has is refused on a container, with why, not ignored', () => {
    assert.deepEqual(issues(LAB), []);
    const refused: Array<[string, RegExp]> = [
      ['    profile: virtio', /ct\.profile: a container has no device model/],
      ['    accel: kvm', /ct\.accel: a container is neither accelerated nor emulated/],
      ['    disks: [{ size: 1GiB }]', /ct\.disks: a container has no disks of its own/],
      ['    cdrom: x.iso', /ct\.cdrom: a container boots no install media/],
      ['    boot: disk', /ct\.boot: /],
      ['    provision: none', /ct\.provision: /],
      ['    memory: 1GiB', /ct\.memory: this container runtime sets no memory size/],
      ['    vcpus: 2', /ct\.vcpus: a container has no virtual CPUs/],
      ['    ready: { console: "login:" }', /ct\.ready\.console: a container has no serial console/],
    ];
    for (const [line, want] of refused) {
      const got = issues(withCt(line));
      assert.ok(
        got.some((i) => want.test(i)),
        `${line.trim()}: ${got.join('; ') || 'accepted'}`,
      );
    }
    const nicModel = issues(LAB.replace('        ip: 10.30.0.13/24', '        ip: 10.30.0.13/24\n        model: e1000'));
    assert.ok(
      nicModel.some((i) => /ct\.nics\[0\]\.model: a container NIC is one end of a veth pair/.test(i)),
      nicModel.join('; '),
    );
    assert.ok(issues(LAB.replace('kind: container', 'kind: jail')).some((i) => /vms\.ct\.kind/.test(i)));
  });
});

describe('containers: plan and render', () => {
  const plan = planFromText(LAB, 'labs/three-ways.yaml');
  const ct = plan.vms.find((v) => v.name === 'ct')!;

  it('plan: no disks, no device model, nsenter instead of an agent; the same NIC names, taps and MACs as a VM', () => {
    assert.equal(ct.kind, 'container');
    assert.equal(ct.profile.family, 'container');
    assert.equal(ct.accel.name, 'native');
    assert.deepEqual(ct.disks, []);
    assert.equal(ct.agent.transport, 'nsenter');
    assert.equal(ct.nics[0]!.model, 'veth');
    assert.equal(ct.nics[0]!.ifname, 'eth0');
    assert.match(ct.nics[0]!.tap, /^vt[0-9a-f]{5}-ct0$/);
    assert.equal(ct.container!.seedDir, `${ct.container!.upper}/var/lib/cloud/seed/nocloud`);
    for (const v of plan.vms.filter((x) => x.kind === 'vm')) assert.ok(v.disks.length > 0);
  });

  it("the image version is the lower layer's name, not part of the container's hash (as a VM's backing file)", () => {
    const model = modelFromText(LAB, 'labs/three-ways.yaml');
    const a = planLab(model, { ...GOLDEN_PLAN_OPTS, imageFiles: { 'debian-12': '/var/lib/vmlab/images/debian-12@aaaa.qcow2' } }).vms.find((v) => v.name === 'ct')!;
    const b = planLab(model, { ...GOLDEN_PLAN_OPTS, imageFiles: { 'debian-12': '/var/lib/vmlab/images/debian-12@bbbb.qcow2' } }).vms.find((v) => v.name === 'ct')!;
    assert.equal(a.container!.lower, '/var/lib/vmlab/rootfs/debian-12@aaaa');
    assert.equal(a.container!.imageFile, '/var/lib/vmlab/images/debian-12@aaaa.qcow2');
    assert.equal(b.container!.lower, '/var/lib/vmlab/rootfs/debian-12@bbbb');
    assert.equal(a.hash, b.hash);
  });

  it('render: a libvirt domain of type lxc whose vmlab metadata holds the overlay; the same cloud-init files as a VM', async () => {
    const r = renderLab(plan).vms.find((v) => v.name === 'ct')!;
    assert.deepEqual(Object.keys(r.files).sort(), ['domain.xml', 'meta-data', 'network-config', 'user-data']);
    const d = await readDomainXml(r.files['domain.xml']);
    assert.equal(d.type, 'lxc');
    assert.equal(d.vmlab?.profile, 'container');
    assert.deepEqual(d.container, {
      init: '/sbin/init',
      root: ct.container!.root,
      hostname: 'ct',
      lower: ct.container!.lower,
      upper: ct.container!.upper,
      work: ct.container!.work,
      consoleLog: ct.consoleLog,
    });
    assert.deepEqual(
      d.interfaces.map((i) => [i.mac, i.tap, i.guestDev, i.source.network]),
      [[ct.nics[0]!.mac, ct.nics[0]!.tap, 'eth0', plan.networks[0]!.libvirtName]],
    );
  });

  it("cloud-init's files read back the same as YAML 1.1 (PyYAML): an all-digit MAC stays a string", () => {
    for (const vm of renderLab(plan).vms) {
      const nc = YAML.parse(vm.files['network-config']!, { version: '1.1' }) as { ethernets: Record<string, { match: { macaddress: unknown } }> };
      const mac = Object.values(nc.ethernets)[0]!.match.macaddress;
      assert.equal(typeof mac, 'string', `${vm.name}: ${String(mac)}`);
      assert.equal(mac, plan.vms.find((v) => v.name === vm.name)!.nics[0]!.mac);
    }
    assert.ok(
      plan.vms.some((v) => /^[0-9:]+$/.test(v.nics[0]!.mac)),
      'this lab has an all-digit MAC (the case PyYAML reads as a number)',
    );
  });

  it('systemd-nspawn runs a whole system, unregistered and in our cgroup, in the network namespace vmlab made, with its own /sys', async () => {
    const d = await readDomainXml(renderLab(plan).vms.find((v) => v.name === 'ct')!.files['domain.xml']);
    const args = nspawnArgs('vmlab-three-ways-ct', d);
    for (const a of [
      '--register=no',
      '--keep-unit',
      '--boot',
      '--private-network',
      '--network-namespace-path=/run/netns/vmlab-three-ways-ct',
      `--directory=${ct.container!.root}`,
      '--machine=vmlab-three-ways-ct',
      '--hostname=ct',
    ])
      assert.ok(args.includes(a), `${a} in ${args.join(' ')}`);
  });

  it("a NIC's link state in a whole definition: set, cleared, other NICs untouched", async () => {
    const xml = renderLab(planFromText(readLab('labs/linux-network.yaml'), 'labs/linux-network.yaml')).vms.find((v) => v.name === 'r1')!.files['domain.xml'];
    const before = await readDomainXml(xml);
    const mac = before.interfaces[1]!.mac;
    const down = await readDomainXml(await domainWithLink(xml, mac, 'down'));
    assert.deepEqual(
      down.interfaces.map((i) => i.link),
      before.interfaces.map((i) => (i.mac === mac ? 'down' : i.link)),
    );
    const up = await readDomainXml(await domainWithLink(await domainWithLink(xml, mac, 'down'), mac, 'up'));
    assert.deepEqual(up.interfaces, before.interfaces);
    assert.equal(up.vmlab?.['vm-hash'], before.vmlab?.['vm-hash']);
  });
});

describe('containers: up on fakes', () => {
  it("a container's lower layer is unpacked and its seed written as files; no disk is cloned for it; its definition is type lxc", async () => {
    const lab = fakeRuntime();
    const plan = planLab(modelFromText(LAB, 'labs/three-ways.yaml'), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
    const ct = plan.vms.find((v) => v.name === 'ct')!;
    const r = await upLab(lab.rt, plan, { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.action, v.ready, v.profile, v.accel]),
      [
        ['emu', 'created', true, 'emulated', 'kvm'],
        ['para', 'created', true, 'virtio', 'kvm'],
        ['ct', 'created', true, 'container', 'native'],
      ],
    );
    const mine = lab.disks.calls.filter((c) => c.includes(ct.dir) || c.includes('rootfs'));
    assert.deepEqual(mine, [`rootfs ${ct.container!.lower}`, `seed-dir ${ct.container!.seedDir}`]);
    assert.match(lab.h.domains.get(ct.domainName)!.xml, /<domain type='lxc'>/);
  });
});

describe('containers: their own cgroups', () => {
  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    '50 23 0:40 / /data rw,relatime - ext4 /dev/sda1 rw',
  ].join('\n');

  it("a hybrid host: systemd's named v1 hierarchy and the unified one, each with this process's cgroup; no resource controller", () => {
    assert.deepEqual(nspawnHierarchies(hybrid, '9:name=systemd:/\n4:memory:/job/1\n0::/\n'), [
      { mount: '/sys/fs/cgroup/systemd', current: '/' },
      { mount: '/sys/fs/cgroup/unified', current: '/' },
    ]);
  });

  it('a cgroup v2 host: the one hierarchy, with the session this process runs in', () => {
    const v2 = '30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
    assert.deepEqual(nspawnHierarchies(v2, '0::/user.slice/user-0.slice/session-3.scope\n'), [{ mount: '/sys/fs/cgroup', current: '/user.slice/user-0.slice/session-3.scope' }]);
  });

  it('a hierarchy this process has no cgroup in is not one to use', () => {
    assert.deepEqual(nspawnHierarchies(hybrid, '0::/\n'), [{ mount: '/sys/fs/cgroup/unified', current: '/' }]);
  });
});

describe('containers in a class', () => {
  const lab = modelFromText(LAB, 'labs/three-ways.yaml');
  const cls: ClassModel = {
    name: 'c',
    title: 'c',
    file: 'c.yaml',
    source: { kind: 'lab', file: 'labs/three-ways.yaml' },
    students: [{ id: 'ana' }, { id: 'ben' }, { id: 'cai' }],
    rosterFile: 'c.yaml',
    limits: {},
    hostKeys: 'shared',
  };

  it("every student's container is their own: its name, its taps, its layer", () => {
    const plans = classCopies(cls, lab).map((c) => planLab(c.lab, GOLDEN_PLAN_OPTS));
    const cts = plans.map((p) => p.vms.find((v) => v.name === 'ct')!);
    assert.deepEqual(
      cts.map((c) => c.domainName),
      ['vmlab-three-ways--ana-ct', 'vmlab-three-ways--ben-ct', 'vmlab-three-ways--cai-ct'],
    );
    assert.equal(new Set(cts.map((c) => c.nics[0]!.tap)).size, 3);
    assert.equal(new Set(cts.map((c) => c.container!.upper)).size, 3);
    assert.equal(new Set(cts.map((c) => c.container!.lower)).size, 1, 'one unpacked image for all');
  });

  it('admission counts what a container costs, not a VM: no RAM reserved, no QEMU', () => {
    const needs = copyNeeds(lab, 'tcg', 1);
    assert.equal(needs.memoryBytes, 2 * (512 + 320) * 2 ** 20 + CONTAINER_COST.memoryBytes);
    const onlyCt = { ...lab, vms: lab.vms.filter((v) => v.kind === 'container') };
    assert.equal(copyNeeds(onlyCt, 'tcg', 1).memoryBytes, CONTAINER_COST.memoryBytes);
    assert.equal(admit(cls, copyNeeds(onlyCt, 'tcg', 1), { memoryBytes: 4 * 2 ** 30, diskBytes: 100 * 2 ** 30, cores: 2, accel: 'tcg' }, 30, 0).fits, true);
  });
});

describe("what vmlab runs in a container: the container's capabilities", () => {
  it("the bounding set is the container init's, by setpriv's own names; entered through the host's setpriv, then nsenter with the cgroup namespace", async () => {
    const names = ['chown', 'dac_override', 'dac_read_search', 'fowner'];
    assert.equal(boundingSetArg('5', names), '-all,+chown,+dac_read_search');
    assert.equal(boundingSetArg('0', names), '-all');
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-proc-'));
    mkdirSync(join(dir, '42'));
    writeFileSync(
      join(dir, '42', 'status'), // nspawn's default set (with --private-network): sys_admin and sys_chroot kept, sys_module, sys_rawio and sys_time dropped
      'Name:\tsystemd\nCapBnd:\t00000000fdecbfff\n',
    );
    const argv = await containerEntry(42, dir);
    assert.deepEqual(argv.slice(0, 2), ['setpriv', '--bounding-set']);
    assert.match(argv[2]!, /^-all,\+chown,(\+[a-z_]+,)*\+sys_chroot,(\+[a-z_]+,)*\+sys_admin/);
    assert.doesNotMatch(argv[2]!, /sys_module|sys_rawio|sys_time/);
    assert.deepEqual(argv.slice(3), ['--no-new-privs', '--', 'nsenter', '--target', '42', '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--']);
  });
});
