import { VmlabError } from '../errors.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { createLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets, type SnapshotOpResult } from '../lab-ops/snapshots.js';
import { waitLabWorking } from '../lab-ops/working.js';
import type { Plan } from '../plan/plan.js';
import type { Assignment } from './load.js';
import { enterStage, type OnStep } from './ops.js';

export function autosaveName(now = new Date()): string {
  return `autosave-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .replace(/\.\d+Z$/, '')}`;
}

export interface RescueResult {
  stage: number;
  checkpoint: string;
  autosave?: SnapshotOpResult;
  revert: SnapshotOpResult;
  /** From the end of the revert until every readiness probe passed. */
  workingMs: number;
  /** Whether the probes ran, and why (a working checkpoint resumed in place needs none). */
  probed: string;
  /** The stage's setup, applied after the lab worked again. */
  setupMs: number;
}

/**
 * Back to the start of a stage (reset: stage 1). By default the current state
 * is kept first as autosave-<time>, and a revert that fails on some VMs puts
 * every VM back to it: all or nothing. Returns once the lab works again
 * (every readiness probe passes) and the stage's setup is applied, so a
 * student's first check after it judges their own work.
 */
export async function rescueAssignment(rt: LabRuntime, a: Assignment, plan: Plan, opts: { stage?: number; discard?: boolean } = {}, onStep?: OnStep): Promise<RescueResult> {
  const index = opts.stage ?? 1;
  const stage = a.stages[index - 1];
  if (!stage) {
    throw new VmlabError('ERR_VMLAB_STAGE_UNKNOWN', `assignment "${a.name}" has no stage ${index}`, {
      kind: 'user',
      hint: `its stages: ${a.stages.map((s) => `${s.index} (${s.name})`).join(', ')}`,
    });
  }
  const targets = await snapshotTargets(rt, plan.lab.name, plan);
  const snapshots = await listLabSnapshots(rt, targets);
  const cp = snapshots.find((s) => s.name === stage.checkpoint);
  let autosave: SnapshotOpResult | undefined;
  let revert: SnapshotOpResult;
  if (!cp?.complete) {
    // Let revert explain (missing vs incomplete) before an autosave is taken.
    revert = await revertLabSnapshot(rt, plan.lab.name, targets, stage.checkpoint);
  } else {
    if (!opts.discard) {
      onStep?.('saving the current state');
      // Two resets in one second get names of their own.
      const taken = new Set(snapshots.map((s) => s.name));
      const base = autosaveName();
      let name = base;
      for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
      autosave = await createLabSnapshot(rt, plan.lab.name, targets, name, `vmlab assignment ${a.name}: saved before going back to stage ${index}`);
    }
    onStep?.(`back to ${stage.checkpoint}`);
    revert = await revertLabSnapshot(rt, plan.lab.name, targets, stage.checkpoint, autosave ? { rollbackTo: autosave.snapshot } : {});
  }
  const working = await waitLabWorking(rt, plan, { after: revert });
  const t0 = Date.now();
  await enterStage(rt, a, plan, stage, onStep, { rescue: true });
  return { stage: index, checkpoint: stage.checkpoint, ...(autosave ? { autosave } : {}), revert, workingMs: working.ms, probed: working.probed, setupMs: Date.now() - t0 };
}
