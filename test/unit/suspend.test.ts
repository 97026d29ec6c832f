import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadAssignment } from '../../src/assignment/load.js';
import type { ClassContext } from '../../src/class/context.js';
import { classSuspend } from '../../src/class/ops.js';
import { classUp } from '../../src/class/up.js';
import { loadClass } from '../../src/lab/class-file.js';
import { classCopies } from '../../src/plan/class-plan.js';
import { roomy } from '../helpers/serve-world.js';
import { downLab } from '../../src/lab-ops/down.js';
import { labStatus } from '../../src/lab-ops/status.js';
import { suspendLab } from '../../src/lab-ops/suspend.js';
import { upLab } from '../../src/lab-ops/up.js';
import { planLab } from '../../src/plan/plan.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, modelFromText, readLab, root } from '../helpers/lab.js';

/** vmlab suspend: every VM's memory saved by libvirt (managed save); up resumes them; down removes the saved state. */
describe('suspend and resume a lab, on fakes', () => {
  const setup = () => {
    const lab = fakeRuntime();
    const plan = planLab(modelFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml'), { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
    return { ...lab, plan, up: () => upLab(lab.rt, plan, { disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 }) };
  };

  it('suspend saves every running VM; status says suspended; up resumes them (no define, no disk made); a second suspend changes nothing', async () => {
    const { h, rt, plan, up } = setup();
    await up();
    const s = await suspendLab(rt, plan.lab.name);
    assert.deepEqual(
      s.vms.map((v) => [v.vm, v.action]),
      [
        ['emu', 'saved'],
        ['para', 'saved'],
      ],
    );
    assert.deepEqual(
      (await labStatus(rt, plan.lab.name, plan)).vms.map((v) => [v.name, v.state, v.ready]),
      [
        ['emu', 'suspended', false],
        ['para', 'suspended', false],
      ],
    );
    assert.deepEqual(
      (await suspendLab(rt, plan.lab.name)).vms.map((v) => v.action),
      ['not running', 'not running'],
    );
    h.calls.length = 0;
    const r = await up();
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.action, v.ready]),
      [
        ['emu', 'resumed', true],
        ['para', 'resumed', true],
      ],
    );
    assert.deepEqual(h.calls, ['start vmlab-quickstart-emu', 'start vmlab-quickstart-para'], 'resumed, not re-created');
    assert.ok(!(await h.hasManagedSave('vmlab-quickstart-emu')), 'the saved state is used up by the resume');
  });

  it('a lab file changed since the suspend: up resumes what did not change and says what did; --discard-suspended drops the saved state and boots the changed VM anew', async () => {
    const { h, rt, disks, up } = setup();
    await up();
    await suspendLab(rt, 'quickstart');
    const changed = planLab(modelFromText(readLab('labs/quickstart.yaml').replace('ip: 10.10.0.12/24', 'ip: 10.10.0.13/24'), 'labs/quickstart.yaml'), { ...GOLDEN_PLAN_OPTS, paths: rt.paths });
    const o = { disks, bridgeExists: async () => true, timeoutMs: 5000 };
    const r = await upLab(rt, changed, o);
    const para = r.vms.find((v) => v.name === 'para')!;
    assert.equal(para.action, 'changed');
    assert.equal(r.vms.find((v) => v.name === 'emu')!.action, 'resumed');
    assert.equal(para.error?.code, 'ERR_VMLAB_VM_CHANGED');
    assert.match(para.error!.message, /suspended .* the lab file changed since/);
    assert.match(para.error!.hint!, /--discard-suspended/);
    assert.ok(await h.hasManagedSave('vmlab-quickstart-para'), 'its saved state is kept until asked');
    const d = await upLab(rt, changed, { ...o, discardSuspended: true });
    assert.deepEqual(
      d.vms.map((v) => [v.name, v.action, v.ready]),
      [
        ['emu', 'unchanged', true],
        ['para', 'recreated', true],
      ],
    );
  });

  it('down of a suspended lab removes it all, the saved state with its domain', async () => {
    const { h, rt, disks, plan, up } = setup();
    await up();
    await suspendLab(rt, plan.lab.name);
    const d = await downLab(rt, plan.lab.name, { disks });
    assert.equal(d.domains.length, 2);
    assert.deepEqual([...h.domains.keys(), ...h.networks.keys(), ...disks.files], []);
  });

  it('class suspend of one student saves only their copy; class up resumes it and leaves the others alone', async () => {
    const { h, rt, disks } = fakeRuntime();
    const cls = loadClass(join(root, 'classes', 'pair.yaml'));
    cls.students = cls.students.slice(0, 2);
    const a = loadAssignment(cls.source.file);
    const ctx: ClassContext = { cls, lab: a.lab, assignment: a, copies: classCopies(cls, a.lab), plan: (l) => planLab(l, { ...GOLDEN_PLAN_OPTS, paths: rt.paths }) };
    const opts = { disks, bridgeExists: async () => true, timeoutMs: 5000, host: roomy };
    await classUp(rt, ctx, opts);
    const s = await classSuspend(rt, 'pair', { student: 'ana' });
    assert.deepEqual(
      s.map((x) => [x.student, x.vms.map((v) => v.action)]),
      [['ana', ['saved', 'saved']]],
    );
    assert.equal(h.domains.get('vmlab-quickstart--ben-emu')!.state, 'running');
    h.calls.length = 0;
    const again = await classUp(rt, ctx, opts);
    assert.ok(again.students.every((x) => x.ok));
    assert.deepEqual(
      h.calls.filter((c) => c.startsWith('start')),
      ['start vmlab-quickstart--ana-emu', 'start vmlab-quickstart--ana-para'],
    );
  });
});
