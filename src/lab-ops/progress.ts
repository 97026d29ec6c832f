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
  lastCheck?: { at: string; score: number; maxScore: number; passed: number; failed: number };
}

export type ProgressStore = LabStore<LabProgress>;

export function progressStore(dataDir: string): ProgressStore {
  return labStore<LabProgress>(join(dataDir, 'progress'));
}
