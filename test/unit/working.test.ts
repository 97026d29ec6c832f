import assert from 'node:assert/strict';
import { createLabSnapshot, revertLabSnapshot, snapshotTargets } from '../../src/lab-ops/snapshots.js';
import { upLab } from '../../src/lab-ops/up.js';
import { waitLabWorking } from '../../src/lab-ops/working.js';
import type { VmlabError } from '../../src/errors.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planLab } from '../../src/plan/plan.js';
import { GOLDEN_PLAN_OPTS, modelFromText } from '../helpers/lab.js';

/** Two routers whose one readiness probe is "the kernel forwards IPv4"; their fake kernels do. */
const LAB = `name: fwd
networks:
  n: { subnet: 10.9.0.0/24 }
vms:
  a: { image: debian-12, nics: [{ network: n, ip: 10.9.0.1/24 }], services: [router] }
  b: { image: debian-12, nics: [{ network: n, ip: 10.9.0.2/24 }], services: [router] }
`;

async function upRouters() {
  const lab = fakeRuntime();
  lab.guests.respond = (_vm, path) => (path === 'sysctl' ? { exitCode: 0, stdout: '1\n' } : { exitCode: 0, stdout: '' });
  const plan = planLab(modelFromText(LAB, '/labs/fwd.yaml'), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
  const up = await upLab(lab.rt, plan, { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });
  assert.ok(up.vms.every((v) => v.ready));
  const targets = await snapshotTargets(lab.rt, 'fwd', plan);
  await createLabSnapshot(lab.rt, 'fwd', targets, 'start');
  const probes = () => lab.guests.execs.filter((e) => e.includes('sysctl'));
  return { lab, plan, targets, probes };
}

describe('working after a revert: resumed VMs answer, the others are probed', () => {
  it('a VM loaded from its memory snapshot is resumed: it is asked to answer, not probed again', async () => {
    const { lab, plan, targets, probes } = await upRouters();
    const before = probes().length;
    const r = await revertLabSnapshot(lab.rt, 'fwd', targets, 'start');
    assert.deepEqual(
      r.vms.map((v) => [v.vm, v.resumed]),
      [
        ['a', true],
        ['b', true],
      ],
    );
    lab.guests.pings.length = 0;
    const w = await waitLabWorking(lab.rt, plan, { after: r });
    assert.deepEqual([w.probed, w.resumed], [[], ['a', 'b']]);
    assert.equal(probes().length, before, 'no probe ran');
    assert.deepEqual(lab.guests.pings.sort(), ['a', 'b']);
  });

  it('without a revert, or for a VM that did not resume (a new boot), every probe runs', async () => {
    const { lab, plan, probes } = await upRouters();
    const before = probes().length;
    const w = await waitLabWorking(lab.rt, plan);
    assert.deepEqual([w.probed, w.resumed], [['a', 'b'], []]);
    assert.equal(probes().length, before + 2);
    const mixed = {
      snapshot: 'start',
      ms: 1,
      vms: [
        { vm: 'a', domain: 'vmlab-fwd-a', ms: 1, resumed: true },
        { vm: 'b', domain: 'vmlab-fwd-b', ms: 1, resumed: false },
      ],
    };
    const w2 = await waitLabWorking(lab.rt, plan, { after: mixed });
    assert.deepEqual([w2.probed, w2.resumed], [['b'], ['a']]);
    assert.deepEqual(probes().slice(before + 2), ['b: sysctl -n net.ipv4.ip_forward']);
  });

  it('a snapshot of a shut-off lab holds no memory: after its revert the guests boot, and are probed', async () => {
    const { lab, plan, targets } = await upRouters();
    for (const t of targets) await lab.h.destroyDomain(t.domain);
    await createLabSnapshot(lab.rt, 'fwd', targets, 'cold');
    const r = await revertLabSnapshot(lab.rt, 'fwd', targets, 'cold');
    assert.deepEqual(
      r.vms.map((v) => v.resumed),
      [false, false],
    );
    assert.deepEqual((await waitLabWorking(lab.rt, plan, { after: r })).probed, ['a', 'b']);
  });

  it('a resumed VM whose agent does not answer fails the wait, saying so', async () => {
    const { lab, plan, targets } = await upRouters();
    const r = await revertLabSnapshot(lab.rt, 'fwd', targets, 'start');
    lab.guests.silent.add('b');
    await assert.rejects(waitLabWorking(lab.rt, plan, { after: r, timeoutMs: 2000 }), (e: VmlabError) => e.code === 'ERR_VMLAB_AGENT_SILENT' && /b: resumed from its snapshot/.test(e.message));
  });
});
