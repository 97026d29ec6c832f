import assert from 'node:assert/strict';
import { downLab } from '../../src/lab-ops/down.js';
import { PAUSED_STARTING_UP } from '../../src/libvirt/types.js';
import { upLab } from '../../src/lab-ops/up.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planLab } from '../../src/plan/plan.js';
import { GOLDEN_PLAN_OPTS, modelFromText, planFromText, readLab } from '../helpers/lab.js';

const plan = planFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml');

/** libvirt 9.0's own words when two first starts race for the new `machine` cpuset cgroup (seen on a fresh host). */
const CGROUP_RACE = "libvirt (qemu:///system): Unable to write to '/sys/fs/cgroup/cpuset/machine/qemu-2-vmlab-quickstart-para.libvirt-qemu/emulator/tasks': No space left on device";

describe('up on fakes: starts', () => {
  it("a first start that loses the fresh host's cpuset cgroup race is retried once, and the lab comes up", async () => {
    const { h, rt, disks } = fakeRuntime();
    let failed = false;
    h.failOn = (c) => {
      if (c !== 'start vmlab-quickstart-para' || failed) return undefined;
      failed = true;
      return CGROUP_RACE;
    };
    const r = await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.ready, v.error]),
      [
        ['emu', true, undefined],
        ['para', true, undefined],
      ],
    );
    assert.deepEqual(
      h.calls.filter((c) => c.startsWith('start ')),
      ['start vmlab-quickstart-emu', 'start vmlab-quickstart-para', 'start vmlab-quickstart-para'],
    );
    assert.match(r.vms[1]!.startRetried!, /No space left on device/);
    assert.equal(r.vms[0]!.startRetried, undefined);
  });

  it('the race is retried once only, and any other start failure not at all', async () => {
    const { h, rt, disks } = fakeRuntime();
    h.failOn = (c) => (c === 'start vmlab-quickstart-para' ? CGROUP_RACE : c === 'start vmlab-quickstart-emu' ? 'internal error: qemu unexpectedly closed the monitor' : undefined);
    const r = await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.deepEqual(
      r.vms.map((v) => v.ready),
      [false, false],
    );
    assert.match(r.vms[0]!.error!.message, /qemu unexpectedly closed the monitor/);
    assert.match(r.vms[1]!.error!.message, /No space left on device/);
    assert.equal(h.calls.filter((c) => c === 'start vmlab-quickstart-emu').length, 1);
    assert.equal(h.calls.filter((c) => c === 'start vmlab-quickstart-para').length, 2);
  });
});

describe('up and down on fakes: failures and what they leave behind', () => {
  // Planned under the fake runtime's data directory, where down looks for the lab's files.
  const planOf = (lab: ReturnType<typeof fakeRuntime>) => planLab(modelFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml'), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
  const up = (lab: ReturnType<typeof fakeRuntime>) => upLab(lab.rt, planOf(lab), { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });

  it('a define that fails: that VM is not ready, its disks stay for the next up, the other VM comes up; down removes all', async () => {
    const lab = fakeRuntime();
    lab.h.failOn = (c) => (c === 'define vmlab-quickstart-para' ? 'XML error: invalid device' : undefined);
    const r = await up(lab);
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.ready]),
      [
        ['emu', true],
        ['para', false],
      ],
    );
    assert.match(r.vms[1]!.error!.message, /invalid device/);
    assert.ok(lab.disks.exists(planOf(lab).vms[1]!.disks[0]!.path), 'the clone is kept: a second up reuses it');
    assert.equal(lab.h.domains.has('vmlab-quickstart-para'), false);
    lab.h.failOn = undefined;
    const again = await up(lab);
    assert.deepEqual(
      again.vms.map((v) => [v.name, v.action, v.ready]),
      [
        ['emu', 'unchanged', true],
        ['para', 'created', true],
      ],
    );
    assert.equal(lab.disks.calls.filter((c) => c.startsWith('clone') && c.includes('/para/')).length, 1, 'not cloned twice');
    const down = await downLab(lab.rt, 'quickstart', { disks: lab.disks });
    assert.deepEqual([down.domains.length, down.networks.length], [2, 1]);
    assert.deepEqual([lab.h.domains.size, lab.h.networks.size, lab.disks.files.size], [0, 0, 0]);
  });

  it('a network of that name that vmlab did not make: nothing is created, the error says so', async () => {
    const lab = fakeRuntime();
    lab.h.networks.set('vmlab-quickstart-lan', { xml: "<network><name>vmlab-quickstart-lan</name><bridge name='virbr9'/></network>", active: true });
    await assert.rejects(up(lab), /network vmlab-quickstart-lan exists but was not created by vmlab for this lab: vmlab will not touch it/);
    assert.deepEqual(lab.h.calls, []);
    assert.equal(lab.disks.calls.length, 0);
  });

  it('a lab network vmlab made that is stopped is started, not redefined; a VM removed by hand is created again', async () => {
    const lab = fakeRuntime();
    await up(lab);
    await lab.h.destroyNetwork('vmlab-quickstart-lan'); // stopped as libvirt stops it: its bridge goes too
    lab.h.domains.delete('vmlab-quickstart-emu');
    lab.h.calls.length = 0;
    const r = await up(lab);
    assert.deepEqual(
      r.networks.map((n) => n.action),
      ['started'],
    );
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.action, v.ready]),
      [
        ['emu', 'created', true],
        ['para', 'unchanged', true],
      ],
    );
    assert.deepEqual(lab.h.calls, ['net-start vmlab-quickstart-lan', 'define vmlab-quickstart-emu', 'start vmlab-quickstart-emu']);
  });

  it('a VM still starting up (a killed up asked libvirt to start it) is waited for, not started a second time', async () => {
    const lab = fakeRuntime();
    await up(lab);
    const para = lab.h.domains.get('vmlab-quickstart-para')!;
    Object.assign(para, { state: 'paused', reason: PAUSED_STARTING_UP });
    setTimeout(() => Object.assign(para, { state: 'running', reason: 0 }), 400);
    lab.h.calls.length = 0;
    const r = await up(lab);
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.ready, v.error?.message]),
      [
        ['emu', true, undefined],
        ['para', true, undefined],
      ],
    );
    assert.deepEqual(lab.h.calls, [], 'no second Create (libvirt answers "domain is already running")');
  });

  it('a VM paused for any other reason is reported, not waited out', async () => {
    const lab = fakeRuntime();
    await up(lab);
    Object.assign(lab.h.domains.get('vmlab-quickstart-para')!, { state: 'paused', reason: 5 }); // I/O error
    const r = await up(lab);
    assert.equal(r.vms[1]!.ready, false);
    assert.match(r.vms[1]!.error!.message, /para: the domain is paused/);
  });
});
