import assert from 'node:assert/strict';
import { downLab } from '../../src/lab-ops/down.js';
import { findLeftovers, removeStaleLinks } from '../../src/lab-ops/leftovers.js';
import { upLab } from '../../src/lab-ops/up.js';
import { planLab } from '../../src/plan/plan.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, modelFromText, readLab } from '../helpers/lab.js';

/**
 * What a crash of the daemons leaves (libvirtd killed and started again with its runtime state
 * lost: networks inactive, bridges still on the host), and how up and down converge from it.
 * The live counterpart is in live/quickstart.test.ts.
 */
describe('leftovers of a crash, on fakes', () => {
  const setup = () => {
    const lab = fakeRuntime();
    const plan = planLab(modelFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml'), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
    const up = () => upLab(lab.rt, plan, { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });
    return { ...lab, plan, up };
  };

  it('up after the daemons crashed: the stale bridge is removed (said on one line), the network started, the lab comes back', async () => {
    const { h, plan, up } = setup();
    await up();
    const bridge = plan.networks[0]!.bridge;
    assert.equal(h.links.get(bridge), 'bridge');
    h.crashDaemons();
    h.calls.length = 0;
    const r = await up();
    assert.deepEqual(r.leftovers, [`removed bridge ${bridge}: left by a crash: network ${plan.networks[0]!.libvirtName} was not active`]);
    assert.deepEqual(
      h.calls.filter((c) => /^(link-del|net-)/.test(c)),
      [`link-del ${bridge}`, `net-start ${plan.networks[0]!.libvirtName}`],
    );
    assert.ok(r.vms.every((v) => v.ready && v.action === 'started'));
  });

  it('a bridge of the lab left with no libvirt network at all does not stop up', async () => {
    const { h, plan, up } = setup();
    const bridge = plan.networks[0]!.bridge;
    h.links.set(bridge, 'bridge');
    const r = await up();
    assert.equal(r.leftovers?.length, 1);
    assert.ok(r.vms.every((v) => v.ready));
  });

  it('down after the daemons crashed leaves no bridge of the lab', async () => {
    const { h, rt, disks, plan, up } = setup();
    await up();
    h.crashDaemons();
    const r = await downLab(rt, plan.lab.name, { disks });
    assert.deepEqual(r.leftovers, [`removed bridge ${plan.networks[0]!.bridge}: left by a crash: no libvirt network or domain of lab quickstart owned it`]);
    assert.deepEqual([...h.links.keys()], []);
    assert.deepEqual([...h.networks.keys(), ...h.domains.keys()], []);
  });

  it('a link that an active libvirt network owns is never removed, whatever names are given', async () => {
    const { h, rt, plan, up } = setup();
    await up();
    const bridge = plan.networks[0]!.bridge;
    assert.deepEqual(await removeStaleLinks(rt, [bridge, 'not-there0'], () => 'test'), []);
    assert.equal(h.links.get(bridge), 'bridge');
  });

  it('up and down with nothing left over say nothing about leftovers', async () => {
    const { rt, disks, plan, up } = setup();
    assert.equal((await up()).leftovers, undefined);
    assert.deepEqual((await downLab(rt, plan.lab.name, { disks })).leftovers, []);
  });

  it('doctor finds the leftovers of any lab: a recorded one names `vmlab down LAB`, an unknown one the command by hand; owned links and foreign names are not listed', async () => {
    const { h, rt, plan, up } = setup();
    await up();
    h.crashDaemons();
    h.links.set('vt0a1b2c3d4e5f6', 'tun'); // vmlab's naming, no record of it
    h.links.set('docker0', 'bridge'); // not vmlab's
    const found = await findLeftovers(rt);
    assert.deepEqual(found, [
      { name: plan.networks[0]!.bridge, kind: 'bridge', lab: 'quickstart', fix: 'vmlab down quickstart' },
      { name: 'vt0a1b2c3d4e5f6', kind: 'tap', fix: 'ip link del vt0a1b2c3d4e5f6 (where libvirtd runs; no lab of this host recorded it)' },
    ]);
    await up();
    assert.deepEqual(
      (await findLeftovers(rt)).map((l) => l.name),
      ['vt0a1b2c3d4e5f6'],
      "once up again, the lab's bridge is owned by its network",
    );
  });
});
