import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

export interface ProgressStore {
  read(lab: string): LabProgress | undefined;
  write(lab: string, p: LabProgress): void;
  remove(lab: string): void;
}

export function progressStore(dataDir: string): ProgressStore {
  const dir = join(dataDir, 'progress');
  const file = (lab: string) => join(dir, `${lab}.json`);
  return {
    read(lab) {
      const f = file(lab);
      if (!existsSync(f)) return undefined;
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as LabProgress;
      } catch {
        return undefined;
      }
    },
    write(lab, p) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file(lab)}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(p, null, 2) + '\n');
      renameSync(tmp, file(lab));
    },
    remove(lab) {
      rmSync(file(lab), { force: true });
    },
  };
}
