import { join } from 'node:path';
import { labStore, type LabStore } from './json-store.js';

/**
 * Where a lab stands in its assignment: the stage it is in (entered by
 * start, reset, rescue, or a check that passed the stage before) and the
 * last check's score. What exists is always read from libvirt; this is the
 * one thing libvirt cannot know. One small JSON file per lab (a student's
 * copy is a lab), removed by `down` with the lab.
 */
export interface LabProgress {
  assignment: string;
  stage: number;
  stages: number;
  enteredAt: string;
  /** The furthest stage the lab reached by the student's own checks (or a rescue). */
  reached?: number;
  /** Rescues past the furthest stage reached: stages from `from` up to `to` - 1 were skipped, their solutions taken from a checkpoint. */
  rescues?: Rescue[];
  lastCheck?: { at: string; score: number; maxScore: number; passed: number; failed: number };
}

export interface Rescue {
  at: string;
  from: number;
  to: number;
}

/** The stages a lab's rescues skipped (their checks earn no points unless the assignment says so). */
export function skippedStages(p: Pick<LabProgress, 'rescues'> | undefined): Set<number> {
  const out = new Set<number>();
  for (const r of p?.rescues ?? []) for (let k = r.from; k < r.to; k++) out.add(k);
  return out;
}

export type ProgressStore = LabStore<LabProgress>;

export function progressStore(dataDir: string): ProgressStore {
  return labStore<LabProgress>(join(dataDir, 'progress'));
}
