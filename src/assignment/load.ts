import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LabError, VmlabError } from '../errors.js';
import { Checker } from '../lab/checker.js';
import { ASSIGNMENT_NAME } from '../lab/fields.js';
import { parseCommandCheck, type Expect } from '../lab/command-check.js';
import { loadLab, type LoadOptions } from '../lab/load.js';
import type { LabModel } from '../lab/model.js';
import { YamlSource } from '../lab/source.js';
import { checkSnapshotName } from '../lab-ops/snapshots.js';

/**
 * An assignment: a lab in a known state (a checkpoint), tasks for students,
 * and checks — commands run in guests through the guest agent, with the
 * expected exit code and/or output, points, and a message when they fail.
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
}

export interface Assignment {
  file: string;
  name: string;
  title: string;
  /** The lab file, resolved relative to the assignment file. */
  labFile: string;
  lab: LabModel;
  checkpoint: string;
  tasks: string;
  checks: AssignmentCheck[];
}

export function parseAssignment(file: string, text: string, opts: LoadOptions & { readLab?: (path: string) => LabModel } = {}): Assignment {
  const source = new YamlSource(file, text);
  const syntax = source.syntaxIssues();
  if (syntax.length) throw new LabError(syntax);
  const c = new Checker(source);
  const root = c.object([], source.toJS(), { required: ['assignment', 'lab', 'checks'], optional: ['title', 'checkpoint', 'tasks'] });
  if (!root) throw new LabError(c.issues);
  const name = c.string(['assignment'], root.assignment, { pattern: ASSIGNMENT_NAME, what: 'an assignment name', hint: 'lowercase letters, digits and "-"' });
  const title = root.title === undefined ? (name ?? '') : (c.string(['title'], root.title, { maxLength: 200 }) ?? '');
  const tasks = root.tasks === undefined ? '' : (c.string(['tasks'], root.tasks, { maxLength: 100_000 }) ?? '');
  let checkpoint = 'start';
  if (root.checkpoint !== undefined) {
    const cp = c.string(['checkpoint'], root.checkpoint);
    try {
      if (cp) checkSnapshotName(cp);
      if (cp) checkpoint = cp;
    } catch (e) {
      c.fail(['checkpoint'], (e as VmlabError).message, { value: cp, hint: (e as VmlabError).hint });
    }
  }
  let lab: LabModel | undefined;
  let labFile = '';
  const labRel = c.string(['lab'], root.lab, { what: 'a lab file path' });
  if (labRel) {
    labFile = resolve(dirname(file), labRel);
    try {
      lab = (opts.readLab ?? ((p: string) => loadLab(p, opts)))(labFile);
    } catch (e) {
      c.fail(['lab'], e instanceof LabError ? `the lab file is invalid: ${e.message}` : (e as Error).message, { value: labRel, hint: 'the path is relative to the assignment file' });
    }
  }
  const vmNames = lab ? lab.vms.map((v) => v.name) : undefined;
  const checks: AssignmentCheck[] = [];
  const seen = new Set<string>();
  (c.list(['checks'], root.checks, { max: 500 }) ?? []).forEach((item, i) => {
    const s = ['checks', i];
    const o = c.object(s, item, { required: ['name', 'vm', 'run'], optional: ['expect', 'points', 'message', 'timeout'] });
    if (!o) return;
    const cname = c.string([...s, 'name'], o.name, { maxLength: 200 });
    if (cname && seen.has(cname)) c.fail([...s, 'name'], 'is used by another check', { value: cname, hint: 'check names appear in reports and JUnit: make them unique' });
    if (cname) seen.add(cname);
    const vm = c.string([...s, 'vm'], o.vm);
    if (vm && vmNames && !vmNames.includes(vm)) c.fail([...s, 'vm'], `the lab has no VM "${vm}"`, { value: vm, hint: `its VMs: ${vmNames.join(', ')}` });
    const cmd = parseCommandCheck(c, s, o);
    const points = o.points === undefined ? 1 : c.int([...s, 'points'], o.points, 0, 1000);
    const message = o.message === undefined ? '' : c.string([...s, 'message'], o.message, { maxLength: 2000 });
    const timeoutS = o.timeout === undefined ? 60 : c.int([...s, 'timeout'], o.timeout, 1, 3600);
    if (cname && vm && cmd && points !== undefined && message !== undefined && timeoutS !== undefined) {
      checks.push({ name: cname, vm, run: cmd.run, expect: cmd.expect, points, message: message || `check "${cname}" failed`, timeoutS });
    }
  });
  if (Array.isArray(root.checks) && root.checks.length === 0) c.fail(['checks'], 'an assignment needs at least one check');
  if (!c.ok || !name || !lab) throw new LabError(c.issues.length ? c.issues : [{ file, path: '', message: 'assignment is invalid' }]);
  return { file, name, title, labFile, lab, checkpoint, tasks, checks };
}

export function loadAssignment(file: string, opts: LoadOptions = {}): Assignment {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new VmlabError('ERR_VMLAB_ASSIGNMENT_UNREADABLE', `cannot read assignment file ${file}: ${(e as Error).message}`, { kind: 'user', cause: e });
  }
  return parseAssignment(file, text, opts);
}
