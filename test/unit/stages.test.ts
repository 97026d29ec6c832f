import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseAssignment, type Assignment } from '../../src/assignment/load.js';
import { checkAssignment, startAssignment } from '../../src/assignment/ops.js';
import { rescueAssignment } from '../../src/assignment/rescue.js';
import { verifyAssignment } from '../../src/assignment/verify.js';
import { LabError } from '../../src/errors.js';
import { progressStore } from '../../src/lab-ops/progress.js';
import { planLab, type Plan } from '../../src/plan/plan.js';
import { fakeRuntime, type FakeLab } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, root } from '../helpers/lab.js';

/** Three stages on the quickstart lab: stage k's setup leaves /setup-k, its check wants /solved-k, its solution makes it. */
const STAGED = `assignment: three
lab: ../quickstart.yaml
stages:
${[1, 2, 3]
  .map(
    (k) => `  - name: s${k}
    setup: [{ vm: para, run: [touch, /setup-${k}] }]
    checks:
      - { name: solved ${k}, vm: para, run: [test, -e, /solved-${k}] }
      - { name: setup ${k} in place, vm: para, run: [test, -e, /setup-${k}], guard: true }
    solution: [{ vm: para, run: [touch, /solved-${k}] }]
`,
  )
  .join('')}`;
const FILE = join(root, 'labs', 'assignments', 'three.yaml');

/**
 * Fake guests with a file system each: touch, test -e and rm act on it, and
 * the fake hypervisor's snapshots keep and restore it (as a memory snapshot
 * keeps a guest's state).
 */
function withGuestFiles(lab: FakeLab): Map<string, Set<string>> {
  const fs = new Map<string, Set<string>>();
  const files = (vm: string) => fs.get(vm) ?? fs.set(vm, new Set()).get(vm)!;
  lab.guests.respond = (vm, path, args) => {
    if (path === 'touch') return (files(vm).add(args[0]!), { exitCode: 0 });
    if (path === 'rm') return (files(vm).delete(args[args.length - 1]!), { exitCode: 0 });
    if (path === 'test') return { exitCode: files(vm).has(args[1]!) ? 0 : 1 };
    return { exitCode: 0 };
  };
  const saved = new Map<string, Set<string>>();
  const vmOf = (domain: string) => domain.replace(/^vmlab-quickstart-/, '');
  const create = lab.h.createSnapshot.bind(lab.h);
  const revert = lab.h.revertSnapshot.bind(lab.h);
  lab.h.createSnapshot = async (d, name, description) => {
    await create(d, name, description);
    saved.set(`${d}/${name}`, new Set(files(vmOf(d))));
  };
  lab.h.revertSnapshot = async (d, name) => {
    await revert(d, name);
    fs.set(vmOf(d), new Set(saved.get(`${d}/${name}`)));
  };
  const load = lab.h.loadSnapshotLive.bind(lab.h);
  lab.h.loadSnapshotLive = async (d, name) => {
    await load(d, name);
    fs.set(vmOf(d), new Set(saved.get(`${d}/${name}`)));
  };
  return fs;
}

function setup(text = STAGED): { lab: FakeLab; a: Assignment; plan: Plan; fs: Map<string, Set<string>> } {
  const lab = fakeRuntime();
  const a = parseAssignment(FILE, text);
  return { lab, a, plan: planLab(a.lab, { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths }), fs: withGuestFiles(lab) };
}

const up = (lab: FakeLab) => ({ disks: lab.disks, bridgeExists: async () => true, timeoutMs: 5000 });
const sorted = (s: Set<string> | undefined) => [...(s ?? [])].sort();

describe('staged assignments', () => {
  it('load: stages with checkpoints <checkpoint>-stageN; checks and solutions belong inside stages', () => {
    const a = parseAssignment(FILE, STAGED);
    assert.deepEqual(
      a.stages.map((s) => [s.index, s.name, s.checkpoint, s.checks.length, s.setup.length, s.solution.length]),
      [
        [1, 's1', 'start', 2, 1, 1],
        [2, 's2', 'start-stage2', 2, 1, 1],
        [3, 's3', 'start-stage3', 2, 1, 1],
      ],
    );
    assert.deepEqual(
      a.checks.map((c) => c.stage),
      [1, 1, 2, 2, 3, 3],
    );
    assert.throws(
      () => parseAssignment(FILE, STAGED + 'checks: [{ name: x, vm: para, run: [echo] }]\n'),
      (e: LabError) => e.issues.some((i) => i.path === 'checks' && /belongs inside a stage/.test(i.message)),
    );
    assert.throws(
      () => parseAssignment(FILE, STAGED.replace('run: [touch, /setup-2]', 'run: "touch /setup-2"').replace('vm: para, run: [test, -e, /solved-3]', 'vm: nope, run: [test, -e, /solved-3]')),
      (e: LabError) => e.issues.map((i) => i.path).join() === 'stages[1].setup[0].run' && /must be a command as a list of arguments/.test(e.issues[0]!.message),
    );
  });

  it('start takes every checkpoint in order (stage N+1 = stage N set up and solved) and leaves the lab at stage 1 with its setup', async () => {
    const { lab, a, plan, fs } = setup();
    const r = await startAssignment(lab.rt, a, plan, up(lab));
    assert.deepEqual(
      r.snapshots.map((s) => s.snapshot),
      ['start', 'start-stage2', 'start-stage3'],
    );
    assert.deepEqual(
      lab.guests.execs.filter((e) => /touch/.test(e)),
      ['para: touch /setup-1', 'para: touch /solved-1', 'para: touch /setup-2', 'para: touch /solved-2', 'para: touch /setup-1'],
    );
    assert.deepEqual(sorted(fs.get('para')), ['/setup-1']);
    assert.equal(progressStore(lab.rt.paths.dataDir).read(plan.lab.name)!.stage, 1);
    const again = await startAssignment(lab.rt, a, plan, up(lab));
    assert.equal(again.created, false, 'start is idempotent: checkpoints are kept and the lab is not touched');
  });

  it('check opens the next stage when the current one passes (its setup applied, its checks run again); rescue lands at a stage, autosaved', async () => {
    const { lab, a, plan, fs } = setup();
    await startAssignment(lab.rt, a, plan, up(lab));
    const first = await checkAssignment(lab.rt, a, plan);
    assert.equal(first.stage, 1);
    assert.deepEqual(first.entered, []);
    fs.get('para')!.add('/solved-1');
    const second = await checkAssignment(lab.rt, a, plan);
    assert.deepEqual(second.entered, [2]);
    assert.equal(second.stage, 2);
    assert.equal(second.checks.find((c) => c.name === 'setup 2 in place')!.passed, true, "stage 2's checks are judged after its setup");
    const p = progressStore(lab.rt.paths.dataDir).read(plan.lab.name)!;
    assert.deepEqual([p.stage, p.lastCheck!.score], [2, 3]);

    const r = await rescueAssignment(lab.rt, a, plan, { stage: 3 });
    assert.match(r.autosave!.snapshot, /^autosave-/);
    assert.deepEqual(sorted(fs.get('para')), ['/setup-1', '/setup-2', '/setup-3', '/solved-1', '/solved-2']);
    assert.equal(progressStore(lab.rt.paths.dataDir).read(plan.lab.name)!.stage, 3);
    fs.get('para')!.add('/solved-3');
    const done = await checkAssignment(lab.rt, a, plan);
    assert.equal(done.stage, 4, 'every stage passed');
    assert.equal(done.failed, 0);
    await assert.rejects(rescueAssignment(lab.rt, a, plan, { stage: 4 }), /has no stage 4/);
  });

  it('a rescue past the stage reached is recorded (rescued-from) and the stages it skipped earn no points, unless the assignment says rescued: points', async () => {
    for (const policy of ['no-points', 'points'] as const) {
      const { lab, a, plan, fs } = setup(policy === 'points' ? STAGED + 'rescued: points\n' : STAGED);
      assert.equal(a.rescued, policy);
      await startAssignment(lab.rt, a, plan, up(lab));
      // A student who never solved stage 1 or 2 rescues straight to stage 3: its checkpoint holds both solutions.
      await rescueAssignment(lab.rt, a, plan, { stage: 3 });
      const p = progressStore(lab.rt.paths.dataDir).read(plan.lab.name)!;
      assert.deepEqual(
        p.rescues!.map((r) => [r.from, r.to]),
        [[1, 3]],
      );
      fs.get('para')!.add('/solved-3');
      const run = await checkAssignment(lab.rt, a, plan);
      assert.equal(run.failed, 0, 'every check passes: the lab is solved');
      assert.deepEqual(
        run.checks.map((c) => [c.name, c.stage, c.passed, c.earned, c.rescued ?? false]),
        [
          ['solved 1', 1, true, policy === 'points' ? 1 : 0, true],
          ['setup 1 in place', 1, true, policy === 'points' ? 1 : 0, true],
          ['solved 2', 2, true, policy === 'points' ? 1 : 0, true],
          ['setup 2 in place', 2, true, policy === 'points' ? 1 : 0, true],
          ['solved 3', 3, true, 1, false],
          ['setup 3 in place', 3, true, 1, false],
        ],
      );
      assert.equal(run.score, policy === 'points' ? 6 : 2);
      assert.deepEqual(
        run.rescues!.map((r) => [r.from, r.to]),
        [[1, 3]],
      );
    }
  });

  it('a rescue back to a stage already reached skips nothing: the points stay earned', async () => {
    const { lab, a, plan, fs } = setup();
    await startAssignment(lab.rt, a, plan, up(lab));
    fs.get('para')!.add('/solved-1');
    assert.equal((await checkAssignment(lab.rt, a, plan)).stage, 2);
    await rescueAssignment(lab.rt, a, plan, { stage: 1 });
    await rescueAssignment(lab.rt, a, plan, { stage: 2 });
    assert.equal(progressStore(lab.rt.paths.dataDir).read(plan.lab.name)!.rescues, undefined);
    const run = await checkAssignment(lab.rt, a, plan);
    assert.ok(run.checks.every((c) => !c.rescued));
  });

  it('verify passes a sound assignment and names what is wrong with a broken one', async () => {
    const good = setup();
    const v = await verifyAssignment(good.lab.rt, good.a, good.plan, up(good.lab));
    assert.equal(v.ok, true, JSON.stringify(v.stages.map((s) => s.problems)));
    assert.deepEqual(sorted(good.fs.get('para')), ['/setup-1'], 'verify leaves the lab at the start of stage 1');

    // Stage 2's check is already true at its start; stage 3's solution solves nothing.
    const bad = setup(STAGED.replace('run: [test, -e, /solved-2]', 'run: [test, -e, /solved-1]').replace('run: [touch, /solved-3]', 'run: [touch, /elsewhere]'));
    const w = await verifyAssignment(bad.lab.rt, bad.a, bad.plan, up(bad.lab));
    assert.equal(w.ok, false);
    assert.deepEqual(
      w.stages.map((s) => s.problems.map((p) => p.replace(/:.*/, ''))),
      [[], ['check "solved 2" passes before the solution'], ['check "solved 3" (stage 3) still fails after the solution']],
    );
  });
});

describe('faults in assignments: link steps and checks that grade recovery', () => {
  const FAULT = `assignment: fault
lab: ../quickstart.yaml
setup:
  - { link: para:eth0, state: down }
  - { name: slow link, link: emu:eth0, delay: 40ms, rate: 10mbit }
checks:
  - { name: recovers, vm: emu, run: [test, -e, /recovered], within: 3 }
`;

  it('a stage setup takes a link down and impairs another, through the same path as vmlab link set', async () => {
    const { lab, a, plan } = setup(FAULT);
    assert.deepEqual(
      a.stages[0]!.setup.map((s) => [s.kind, s.name]),
      [
        ['link', 'link para:eth0: state down'],
        ['link', 'slow link'],
      ],
    );
    await startAssignment(lab.rt, a, plan, up(lab));
    assert.ok(lab.h.calls.includes('update-device vmlab-quickstart-para 52:54:00:d7:96:37 link down live'), lab.h.calls.join('\n'));
    assert.deepEqual([...lab.tc.taps.values()], [{ kind: 'vmlab', impairment: { delayUs: 40_000, rateBit: 10_000_000 } }]);
  });

  it('within: a check is run again until it passes, or fails when its time is up', async () => {
    const { lab, a, plan, fs } = setup(FAULT);
    await startAssignment(lab.rt, a, plan, up(lab));
    const t0 = Date.now();
    setTimeout(() => fs.get('emu')?.add('/recovered') ?? fs.set('emu', new Set(['/recovered'])), 1200);
    const passed = await checkAssignment(lab.rt, a, plan);
    assert.equal(passed.checks[0]!.passed, true);
    assert.ok(Date.now() - t0 >= 1000, 'it waited for the recovery');
    fs.get('emu')!.delete('/recovered');
    const t1 = Date.now();
    const failed = await checkAssignment(lab.rt, a, plan);
    assert.equal(failed.checks[0]!.passed, false);
    assert.ok(Date.now() - t1 >= 2000 && Date.now() - t1 < 6000, `gave up after ${Date.now() - t1} ms (within: 3)`);
  });

  it('a link step with a bad interface, value or no change, or mixed with run, is a file error with the path', () => {
    const bad = (setupLine: string) => {
      try {
        parseAssignment(FILE, FAULT.replace('  - { link: para:eth0, state: down }', setupLine));
      } catch (e) {
        if (e instanceof LabError) return e.issues.map((i) => `${i.path}: ${i.message}`);
        throw e;
      }
      return [];
    };
    assert.deepEqual(bad('  - { link: para:eth3, state: down }'), ['setup[0].link: para has no interface "eth3"']);
    assert.deepEqual(bad('  - { link: para:eth0, loss: 150% }'), ['setup[0].loss: is more than 100%']);
    assert.deepEqual(bad('  - { link: para:eth0 }'), ['setup[0]: a link step changes nothing']);
    assert.deepEqual(bad('  - { link: para:eth0, state: down, vm: para }'), ['setup[0].vm: a link step has no "vm"']);
    assert.deepEqual(bad('  - { vm: para, state: down, run: ["true"] }'), ['setup[0].state: belongs to a link step']);
  });
});
