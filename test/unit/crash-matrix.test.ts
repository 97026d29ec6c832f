import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadAssignment, type Assignment } from '../../src/assignment/load.js';
import { startAssignment } from '../../src/assignment/ops.js';
import { rescueAssignment } from '../../src/assignment/rescue.js';
import type { ClassContext } from '../../src/class/context.js';
import { classDown } from '../../src/class/ops.js';
import { classUp } from '../../src/class/up.js';
import { loadClass } from '../../src/lab/class-file.js';
import { downLab } from '../../src/lab-ops/down.js';
import { progressStore } from '../../src/lab-ops/progress.js';
import { revertLabSnapshot, snapshotTargets } from '../../src/lab-ops/snapshots.js';
import { upLab } from '../../src/lab-ops/up.js';
import { classCopies } from '../../src/plan/class-plan.js';
import { planLab, type Plan } from '../../src/plan/plan.js';
import { fakeRuntime, type FakeLab } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, root } from '../helpers/lab.js';
import { roomy } from '../helpers/serve-world.js';

/**
 * The crash matrix, on fakes: for every step (every call that changes libvirt or the host) of up,
 * down, snapshot revert, assignment start and reset, class up and class down, the command is
 * stopped at that step — vmlab dying there (the call fails and nothing of the command runs after
 * it), or the daemons dying there (the same, and libvirtd comes back with every network inactive,
 * every domain shut off, the bridges still on the host) — then the same command is run again: it
 * converges, and down (class down) then leaves nothing: no domain, network, bridge, disk or
 * stage record. The live tests kill vmlab and the daemons for real at one step of up
 * (live/quickstart.test.ts).
 */
interface World extends FakeLab {
  a: Assignment;
  plan: Plan;
  ctx: ClassContext;
}

function fresh(): World {
  const lab = fakeRuntime();
  const a = loadAssignment(join(root, 'labs', 'assignments', 'second-address.yaml'));
  const plan = planLab(a.lab, { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths });
  const cls = loadClass(join(root, 'classes', 'pair.yaml'));
  cls.students = cls.students.slice(0, 2);
  const ctx: ClassContext = { cls, lab: a.lab, assignment: a, copies: classCopies(cls, a.lab), plan: (l) => planLab(l, { ...GOLDEN_PLAN_OPTS, paths: lab.rt.paths }) };
  return { ...lab, a, plan, ctx };
}

const upOpts = (w: World) => ({ disks: w.disks, bridgeExists: async () => true, timeoutMs: 5000 });

/** Nothing of any lab left: libvirt, the host's links, disks, stage records. */
function assertNothingLeft(w: World, what: string): void {
  assert.deepEqual([...w.h.domains.keys(), ...w.h.networks.keys(), ...w.h.links.keys(), ...w.disks.files], [], what);
  assert.equal(progressStore(w.rt.paths.dataDir).labs().length, 0, `${what}: stage records`);
}

interface Command {
  name: string;
  /** The state the command starts from (not crashed). */
  before(w: World): Promise<void>;
  run(w: World): Promise<unknown>;
  /** What "converged" means after the second run. */
  converged(w: World): Promise<void>;
  down(w: World): Promise<unknown>;
}

const labDown = (w: World) => downLab(w.rt, w.plan.lab.name, { disks: w.disks });
const allRunning = (w: World) =>
  assert.ok(
    [...w.h.domains.values()].every((d) => d.state === 'running'),
    [...w.h.domains].map(([n, d]) => `${n}: ${d.state}`).join(', '),
  );

const COMMANDS: Command[] = [
  {
    name: 'up',
    before: async () => undefined,
    run: (w) => upLab(w.rt, w.plan, upOpts(w)),
    converged: async (w) => {
      const r = await upLab(w.rt, w.plan, upOpts(w));
      assert.ok(r.upToDate, JSON.stringify(r.vms.map((v) => [v.name, v.action, v.ready])));
    },
    down: labDown,
  },
  {
    name: 'down',
    before: async (w) => void (await upLab(w.rt, w.plan, upOpts(w))),
    run: labDown,
    converged: async () => undefined,
    down: labDown,
  },
  {
    name: 'assignment start',
    before: async () => undefined,
    run: (w) => startAssignment(w.rt, w.a, w.plan, upOpts(w)),
    converged: async (w) => {
      const again = await startAssignment(w.rt, w.a, w.plan, upOpts(w));
      assert.equal(again.created, false, 'checkpoints complete: nothing to take again');
      assert.equal(progressStore(w.rt.paths.dataDir).read(w.plan.lab.name)?.stage, 1);
    },
    down: labDown,
  },
  {
    name: 'assignment reset',
    before: async (w) => void (await startAssignment(w.rt, w.a, w.plan, upOpts(w))),
    run: (w) => rescueAssignment(w.rt, w.a, w.plan, { stage: 1 }),
    converged: async (w) => {
      allRunning(w);
      assert.equal(progressStore(w.rt.paths.dataDir).read(w.plan.lab.name)?.stage, 1);
    },
    down: labDown,
  },
  {
    name: 'snapshot revert',
    before: async (w) => void (await startAssignment(w.rt, w.a, w.plan, upOpts(w))),
    run: async (w) => revertLabSnapshot(w.rt, w.plan.lab.name, await snapshotTargets(w.rt, w.plan.lab.name, w.plan), 'start'),
    converged: async (w) => allRunning(w),
    down: labDown,
  },
  {
    name: 'class up',
    before: async () => undefined,
    run: (w) => classUp(w.rt, w.ctx, { ...upOpts(w), host: roomy }),
    converged: async (w) => {
      const again = await classUp(w.rt, w.ctx, { ...upOpts(w), host: roomy });
      assert.ok(
        again.students.every((s) => s.ok && s.upToDate),
        JSON.stringify(again.students),
      );
    },
    down: (w) => classDown(w.rt, w.ctx.cls.name, { disks: w.disks }),
  },
  {
    name: 'class down',
    before: async (w) => void (await classUp(w.rt, w.ctx, { ...upOpts(w), host: roomy })),
    run: (w) => classDown(w.rt, w.ctx.cls.name, { disks: w.disks }),
    converged: async () => undefined,
    down: (w) => classDown(w.rt, w.ctx.cls.name, { disks: w.disks }),
  },
];

describe('the crash matrix, on fakes: killed at any step, the same command again converges and down leaves nothing', function () {
  this.timeout(300_000);
  for (const c of COMMANDS) {
    it(`${c.name}: vmlab killed, or the daemons killed and restarted, at each of its steps`, async () => {
      // Its steps: the calls a whole run makes.
      const ref = fresh();
      await c.before(ref);
      const from = ref.h.calls.length + ref.disks.calls.length;
      await c.run(ref);
      const steps = ref.h.calls.length + ref.disks.calls.length - from;
      assert.ok(steps > 0, `${c.name} makes no call`);
      let crashes = 0;
      for (let k = 0; k < steps; k++) {
        for (const daemons of [false, true]) {
          const w = fresh();
          await c.before(w);
          let n = 0;
          const stop = (call: string) => (n++ === k ? `killed at step ${k} (${call})` : undefined);
          w.h.failOn = stop;
          w.disks.failOn = (call) => Boolean(stop(call));
          await c.run(w).catch(() => undefined);
          w.h.failOn = undefined;
          w.disks.failOn = undefined;
          if (n <= k) continue; // this run made fewer calls (a branch taken differently): nothing stopped
          crashes++;
          if (daemons) w.h.crashDaemons();
          const what = `${c.name} stopped at step ${k}${daemons ? ' with the daemons' : ''}`;
          await c.run(w).catch((e: Error) => assert.fail(`${what}: the same command again failed: ${e.message}`));
          await c.converged(w);
          await c.down(w);
          assertNothingLeft(w, what);
        }
      }
      assert.ok(crashes >= steps, `${c.name}: ${crashes} crashes for ${steps} steps`);
      process.stdout.write(`      [crash] ${c.name}: ${steps} steps, ${crashes} crashes each converged\n`);
    });
  }
});
