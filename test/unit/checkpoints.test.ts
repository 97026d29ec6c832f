import assert from 'node:assert/strict';
import { checkpointStore, reasonToProbe, type CheckpointRecord } from '../../src/lab-ops/checkpoints.js';
import { downLab } from '../../src/lab-ops/down.js';
import { reconnectDeadline } from '../../src/lab-ops/resumed.js';
import { setLink } from '../../src/lab-ops/links.js';
import { createLabSnapshot, deleteLabSnapshot, revertLabSnapshot, snapshotTargets, type SnapshotOpResult } from '../../src/lab-ops/snapshots.js';
import { upLab } from '../../src/lab-ops/up.js';
import { waitLabWorking } from '../../src/lab-ops/working.js';
import { planLab } from '../../src/plan/plan.js';
import { parseLab } from '../../src/lab/load.js';
import { CLOCKSOURCE_FILE } from '../../src/render/cloud-init.js';
import { fakeRuntime, type FakeLab } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS } from '../helpers/lab.js';

const LAB = `name: cp
networks:
  lan: { subnet: 10.0.0.0/24 }
vms:
${['a', 'b']
  .map(
    (vm, i) => `  ${vm}:
    nics: [{ network: lan, ip: 10.0.0.1${i}/24 }]
    ready: [{ name: works, run: [test, -e, /works] }]
`,
  )
  .join('')}`;

function setup(clocksource = 'acpi_pm') {
  const lab = fakeRuntime();
  lab.guests.file = (_vm, path) => (path === CLOCKSOURCE_FILE ? `${clocksource}\n` : undefined);
  const plan = planLab(parseLab('cp.yaml', LAB), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
  return { lab, plan };
}
const probesRun = (lab: FakeLab) => lab.guests.execs.filter((e) => e.endsWith('test -e /works')).length;

async function upAndCheckpoint(lab: FakeLab, plan: ReturnType<typeof setup>['plan'], working: boolean) {
  const r = await upLab(lab.rt, plan, { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });
  assert.ok(r.vms.every((v) => v.ready));
  const targets = await snapshotTargets(lab.rt, 'cp', plan);
  await createLabSnapshot(lab.rt, 'cp', targets, 'start', '', { working });
  return targets;
}

describe('a working checkpoint resumed in place needs no probes', () => {
  it('after a revert to a checkpoint taken working, with clocks that go back, the probes are not run', async () => {
    const { lab, plan } = setup();
    const targets = await upAndCheckpoint(lab, plan, true);
    const record = checkpointStore(lab.rt.paths.dataDir).read('cp')!;
    assert.deepEqual(Object.keys(record.start!.vms).sort(), ['a', 'b']);
    assert.equal(record.start!.vms.a!.clocksource, 'acpi_pm', 'read from sysfs through the agent');
    const before = probesRun(lab);
    const back = await revertLabSnapshot(lab.rt, 'cp', targets, 'start');
    assert.deepEqual(
      back.vms.map((v) => v.resumed),
      ['in place', 'in place'],
    );
    const w = await waitLabWorking(lab.rt, plan, { after: back });
    assert.match(w.probed, /^no: "start" is a working checkpoint/);
    assert.equal(probesRun(lab), before, 'no probe ran');
    // Every VM resumed in place is noted: its agent may still be reconnecting, and commands wait for it.
    for (const t of targets) assert.ok(reconnectDeadline(lab.rt.paths.runDir, t.domain)! > Date.now(), t.domain);
    // Without `after` (any other caller), the probes decide as before.
    assert.equal((await waitLabWorking(lab.rt, plan)).probed, 'yes');
    assert.equal(probesRun(lab), before + 2);
  });

  it('the probes run when a guest keeps time by the TSC, when the snapshot was not recorded working, or when links moved', async () => {
    const tsc = setup('tsc');
    const t1 = await upAndCheckpoint(tsc.lab, tsc.plan, true);
    const w1 = await waitLabWorking(tsc.lab.rt, tsc.plan, { after: await revertLabSnapshot(tsc.lab.rt, 'cp', t1, 'start') });
    assert.match(w1.probed, /^yes: a keeps time by tsc, which does not go back with a snapshot/);

    const hand = setup();
    const t2 = await upAndCheckpoint(hand.lab, hand.plan, false);
    const w2 = await waitLabWorking(hand.lab.rt, hand.plan, { after: await revertLabSnapshot(hand.lab.rt, 'cp', t2, 'start') });
    assert.match(w2.probed, /^yes: "start" was not taken by vmlab of a working lab/);

    const moved = setup();
    const t3 = await upAndCheckpoint(moved.lab, moved.plan, true);
    await setLink(moved.lab.rt, 'cp', { vm: 'a', nic: 'eth0' }, { fields: { state: 'down' } });
    const back = await revertLabSnapshot(moved.lab.rt, 'cp', t3, 'start');
    const w3 = await waitLabWorking(moved.lab.rt, moved.plan, { after: back });
    assert.match(w3.probed, /^yes: links were put back to the lab file's \(a:eth0: /);
  });

  it('the record goes with its snapshot: deleting it, or the lab, forgets it; a snapshot of that name taken again is not the one recorded', async () => {
    const { lab, plan } = setup();
    const targets = await upAndCheckpoint(lab, plan, true);
    await deleteLabSnapshot(lab.rt, 'cp', targets, 'start');
    assert.equal(checkpointStore(lab.rt.paths.dataDir).read('cp')!.start, undefined);
    await createLabSnapshot(lab.rt, 'cp', targets, 'start', '', { working: true });
    await revertLabSnapshot(lab.rt, 'cp', targets, 'start');
    await downLab(lab.rt, 'cp', { disks: lab.disks });
    assert.equal(checkpointStore(lab.rt.paths.dataDir).read('cp'), undefined);
    for (const t of targets) assert.equal(reconnectDeadline(lab.rt.paths.runDir, t.domain), undefined, `down forgets ${t.domain} was resumed`);

    const record: CheckpointRecord = { start: { vms: { a: { createdAt: 1, clocksource: 'acpi_pm' } } } };
    const revert: SnapshotOpResult = { snapshot: 'start', ms: 1, vms: [{ vm: 'a', domain: 'd', ms: 1, createdAt: 2, resumed: 'in place' }] };
    assert.match(reasonToProbe(record, ['a'], revert)!, /a's "start" is not the one recorded working/);
    assert.equal(reasonToProbe(record, ['a'], { ...revert, vms: [{ ...revert.vms[0]!, createdAt: 1 }] }), undefined);
    assert.match(reasonToProbe(record, ['a'], { ...revert, vms: [{ ...revert.vms[0]!, createdAt: 1, resumed: 'new QEMU' }] })!, /a was resumed in a new QEMU/);
    assert.match(reasonToProbe(record, ['a', 'b'], { ...revert, vms: [{ ...revert.vms[0]!, createdAt: 1 }] })!, /b was not reverted/);
  });
});
