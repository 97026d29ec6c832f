import assert from 'node:assert/strict';
import { upLab } from '../../src/lab-ops/up.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planFromText, readLab } from '../helpers/lab.js';

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
