import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LabError, VmlabError } from '../errors.js';
import { Checker, type Obj } from '../lab/checker.js';
import { parseCommandCheck, type Expect } from '../lab/command-check.js';
import { SNAPSHOT_NAME } from '../lab/fields.js';
import { parseLinkFields, parseNicRef, type LinkSpec } from '../lab/link.js';
import { loadLab, type LoadOptions } from '../lab/load.js';
import type { LabModel } from '../lab/model.js';
import { assignmentSchema } from '../lab/schema-files.js';
import { YamlSource, type PathSeg } from '../lab/source.js';
import { StructureChecker } from '../lab/structure.js';

/**
 * An assignment: a lab in a known state (a checkpoint), tasks for students,
 * and checks — commands run in guests through the guest agent, with the
 * expected exit code and/or output, points, and a message when they fail.
 * It comes in stages (one when the file has no `stages:`): each stage has
 * its tasks and checks, a setup applied when it begins, a solution the
 * teacher wrote, and a checkpoint of its own.
 */
export interface AssignmentCheck {
  name: string;
  vm: string;
  /** argv, run as is in the guest (no shell unless the teacher writes [sh, -c, …]). */
  run: string[];
  expect: Expect;
  points: number;
  message: string;
  timeoutS: number;
  /** 1-based stage this check belongs to. */
  stage: number;
  /** Passes from the start and must keep passing: verify does not expect it to fail before the solution. */
  guard: boolean;
  /** Seconds it may take to pass: run again every second until it does (recovery from a fault). */
  withinS?: number;
}

/** A step of a stage's setup or solution: a command run in a guest (it must exit 0), or a fault on a link. */
export type Step = CommandStep | LinkStep;

export interface CommandStep {
  kind: 'command';
  name: string;
  vm: string;
  run: string[];
  timeoutS: number;
}

/** A link changed as `vmlab link set` would: taken down, or impaired. */
export interface LinkStep {
  kind: 'link';
  name: string;
  vm: string;
  nic: string;
  fields: Partial<LinkSpec>;
  clear: boolean;
}

export interface Stage {
  /** 1-based. */
  index: number;
  name: string;
  title: string;
  tasks: string;
  /** The lab snapshot this stage starts from (taken before its setup). */
  checkpoint: string;
  setup: Step[];
  checks: AssignmentCheck[];
  solution: Step[];
}

export interface Assignment {
  file: string;
  name: string;
  title: string;
  /** The lab file, resolved relative to the assignment file. */
  labFile: string;
  lab: LabModel;
  /** Stage 1's checkpoint. */
  checkpoint: string;
  tasks: string;
  /** Every stage's checks, in order. */
  checks: AssignmentCheck[];
  stages: Stage[];
  /** How checks of stages skipped by a rescue score (rescue.ts): none by default. */
  rescued: 'no-points' | 'points';
}

/** Stage N's checkpoint: the assignment's for stage 1, `<checkpoint>-stageN` after it. */
export function stageCheckpoint(checkpoint: string, stage: number): string {
  return stage === 1 ? checkpoint : `${checkpoint}-stage${stage}`;
}

/** The same assignment on another copy of its lab (a student's, in a class). */
export function onLab(a: Assignment, lab: LabModel): Assignment {
  return { ...a, lab };
}

const structure = new StructureChecker(assignmentSchema());

interface RawStage {
  name?: string;
  title?: string;
  tasks?: string;
  setup?: Obj[] | null;
  checks?: Obj[] | null;
  solution?: Obj[] | null;
}

export function parseAssignment(file: string, text: string, opts: LoadOptions & { readLab?: (path: string) => LabModel } = {}): Assignment {
  const source = new YamlSource(file, text);
  const syntax = source.syntaxIssues();
  if (syntax.length) throw new LabError(syntax);
  const c = new Checker(source);
  const raw = source.toJS();
  const shaped = structure.check(c, raw);
  const root = raw as RawStage & { assignment: string; lab: string; checkpoint?: string; stages?: RawStage[] | null; rescued?: 'no-points' | 'points' };
  // The lab is read even when the rest is malformed, so one run names every problem.
  let lab: LabModel | undefined;
  const labFile = typeof root?.lab === 'string' ? resolve(dirname(file), root.lab) : '';
  if (labFile) {
    try {
      lab = (opts.readLab ?? ((p: string) => loadLab(p, opts)))(labFile);
    } catch (e) {
      c.fail(['lab'], e instanceof LabError ? `the lab file is invalid: ${e.message}` : (e as Error).message, { value: root.lab, hint: 'the path is relative to the assignment file' });
    }
  }
  if (!shaped) throw new LabError(c.issues);
  const checkpoint = root.checkpoint ?? 'start';
  const vmNames = lab ? lab.vms.map((v) => v.name) : undefined;
  const rawStages: Array<{ raw: RawStage; segs: PathSeg[] }> = [];
  if (root.stages) {
    for (const k of ['checks', 'setup', 'solution'] as const) {
      if (root[k] !== undefined) c.fail([k], `"${k}:" belongs inside a stage when the assignment has stages`, { atKey: true, hint: 'move it into the stage it is for' });
    }
    root.stages.forEach((s, i) => rawStages.push({ raw: s, segs: ['stages', i] }));
  } else if (!root.checks) {
    c.fail([], 'an assignment needs checks (or stages, each with checks)', { hint: 'add checks: with at least one check' });
  } else {
    rawStages.push({ raw: { name: 'main', title: root.title ?? root.assignment, tasks: root.tasks ?? '', setup: root.setup, checks: root.checks, solution: root.solution }, segs: [] });
  }
  const seenChecks = new Set<string>();
  const seenStages = new Set<string>();
  const stages = rawStages.map(({ raw: s, segs }, i): Stage => {
    const index = i + 1;
    const name = s.name ?? `stage${index}`;
    if (root.stages && seenStages.has(name)) c.fail([...segs, 'name'], 'is used by another stage', { value: name });
    seenStages.add(name);
    const cp = stageCheckpoint(checkpoint, index);
    if (!SNAPSHOT_NAME.test(cp)) c.fail(['checkpoint'], `stage ${index}'s checkpoint "${cp}" is not a snapshot name`, { value: checkpoint, hint: 'use a shorter checkpoint name' });
    const vmOf = (at: PathSeg[], vm: string) => {
      if (vmNames && !vmNames.includes(vm)) c.fail([...at, 'vm'], `the lab has no VM "${vm}"`, { value: vm, hint: `its VMs: ${vmNames.join(', ')}` });
    };
    const steps = (key: 'setup' | 'solution'): Step[] => (s[key] ?? []).flatMap((o, j) => parseStep(c, [...segs, key, j], o, vmOf, lab));
    const checks: AssignmentCheck[] = [];
    (s.checks ?? []).forEach((o, j) => {
      const at = [...segs, 'checks', j];
      const cname = o.name as string;
      if (seenChecks.has(cname)) c.fail([...at, 'name'], 'is used by another check', { value: cname, hint: 'check names appear in reports and JUnit: make them unique' });
      seenChecks.add(cname);
      vmOf(at, o.vm as string);
      const cmd = parseCommandCheck(c, at, o);
      if (cmd)
        checks.push({
          name: cname,
          vm: o.vm as string,
          run: cmd.run,
          expect: cmd.expect,
          points: (o.points as number | undefined) ?? 1,
          message: (o.message as string | undefined) || `check "${cname}" failed`,
          timeoutS: (o.timeout as number | undefined) ?? 60,
          stage: index,
          guard: o.guard === true,
          ...(typeof o.within === 'number' ? { withinS: o.within } : {}),
        });
    });
    return { index, name, title: s.title ?? name, tasks: s.tasks ?? '', checkpoint: cp, setup: steps('setup'), checks, solution: steps('solution') };
  });
  if (!c.ok || !lab) throw new LabError(c.issues.length ? c.issues : [{ file, path: '', message: 'assignment is invalid' }]);
  return {
    file,
    name: root.assignment,
    title: root.title ?? root.assignment,
    labFile,
    lab,
    checkpoint,
    tasks: root.tasks ?? '',
    checks: stages.flatMap((s) => s.checks),
    stages,
    rescued: root.rescued ?? 'no-points',
  };
}

const LINK_STEP_KEYS = ['delay', 'jitter', 'loss', 'rate', 'state'] as const;

/** One setup or solution step: `vm` + `run`, or `link` + what to change (LINK_STEP_KEYS, clear). */
function parseStep(c: Checker, at: PathSeg[], o: Obj, vmOf: (at: PathSeg[], vm: string) => void, lab: LabModel | undefined): Step[] {
  const linkKeys = LINK_STEP_KEYS.filter((k) => o[k] !== undefined);
  if (typeof o.link === 'string') {
    for (const k of ['vm', 'run', 'timeout'] as const)
      if (o[k] !== undefined) c.fail([...at, k], `a link step has no "${k}"`, { atKey: true, hint: 'a step is either vm + run (a command) or link + state/delay/… (a fault)' });
    const ref = parseNicRef(o.link);
    const { fields, problems } = parseLinkFields(Object.fromEntries(linkKeys.map((k) => [k, o[k]])));
    for (const p of problems) c.fail([...at, p.key], p.message, { ...(p.value !== undefined ? { value: p.value } : {}), ...(p.hint ? { hint: p.hint } : {}) });
    if (!linkKeys.length && o.clear !== true) c.fail(at, 'a link step changes nothing', { hint: 'give state: down (or up), delay:, jitter:, loss:, rate: or clear: true' });
    if (!ref) return [];
    const vm = lab?.vms.find((v) => v.name === ref.vm);
    vmOf(at, ref.vm);
    if (vm && !vm.nics.some((n, i) => n.ifname === ref.nic || `eth${i}` === ref.nic)) {
      c.fail([...at, 'link'], `${ref.vm} has no interface "${ref.nic}"`, { value: o.link, hint: `its interfaces: ${vm.nics.map((n) => n.ifname).join(', ') || 'none'}` });
    }
    const what = [...linkKeys.map((k) => `${k} ${String(o[k])}`), ...(o.clear === true ? ['clear'] : [])].join(', ');
    return [{ kind: 'link', name: (o.name as string | undefined) ?? `link ${o.link}: ${what}`, vm: ref.vm, nic: ref.nic, fields, clear: o.clear === true }];
  }
  if (linkKeys.length || o.clear !== undefined) c.fail([...at, linkKeys[0] ?? 'clear'], 'belongs to a link step', { atKey: true, hint: 'add link: VM:INTERFACE, or remove it' });
  if (typeof o.vm !== 'string' || !Array.isArray(o.run)) {
    c.fail(at, 'a step needs vm and run (a command), or link (a fault)', { hint: 'e.g. { vm: r1, run: [systemctl, stop, frr] } or { link: r1:eth1, state: down }' });
    return [];
  }
  vmOf(at, o.vm);
  const run = o.run as string[];
  return [{ kind: 'command', name: (o.name as string | undefined) ?? `${o.vm}: ${run.join(' ')}`, vm: o.vm, run, timeoutS: (o.timeout as number | undefined) ?? 60 }];
}

/**
 * Reads an assignment file. `onLab` runs it on another lab file than the one
 * it names (the same guests built another way, e.g. routers as containers):
 * its steps and checks are validated against that lab.
 */
export function loadAssignment(file: string, opts: LoadOptions & { onLab?: string } = {}): Assignment {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new VmlabError('ERR_VMLAB_ASSIGNMENT_UNREADABLE', `cannot read assignment file ${file}: ${(e as Error).message}`, { kind: 'user', cause: e });
  }
  const other = opts.onLab ? resolve(opts.onLab) : undefined;
  return parseAssignment(file, text, other ? { ...opts, readLab: () => loadLab(other, opts) } : opts);
}
