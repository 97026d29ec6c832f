import { loadAssignment, onLab, type Assignment } from '../assignment/load.js';
import { loadClass, type ClassModel } from '../lab/class-file.js';
import type { LabModel } from '../lab/model.js';
import { probeAutoAccel } from '../host/accel-probe.js';
import { knownImages, loadLabForHost, planForHost } from '../lab-ops/host-lab.js';
import type { HostPaths } from '../paths.js';
import { classCopies, type StudentCopy } from '../plan/class-plan.js';
import type { Plan } from '../plan/plan.js';

/** A class file with what it names loaded: the lab, the assignment (if any), every student's copy. */
export interface ClassContext {
  cls: ClassModel;
  lab: LabModel;
  assignment?: Assignment;
  /** Every student's copy, or the one `--student` names. */
  copies: StudentCopy[];
  /** How this host runs a copy (one accel probe for the whole class). */
  plan(lab: LabModel): Plan;
}

export function loadClassForHost(file: string, paths: HostPaths, only?: string): ClassContext {
  const cls = loadClass(file);
  const assignment = cls.source.kind === 'assignment' ? loadAssignment(cls.source.file, { knownImages: knownImages(paths) }) : undefined;
  const lab = assignment?.lab ?? loadLabForHost(cls.source.file, paths);
  const auto = probeAutoAccel();
  return { cls, lab, ...(assignment ? { assignment } : {}), copies: classCopies(cls, lab, only), plan: (l) => planForHost(l, paths, auto) };
}

/** The assignment as one student's copy runs it. */
export function studentAssignment(ctx: ClassContext, copy: StudentCopy): Assignment | undefined {
  return ctx.assignment ? onLab(ctx.assignment, copy.lab) : undefined;
}
