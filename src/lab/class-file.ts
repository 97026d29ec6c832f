import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LabError, VmlabError, type LabIssue } from '../errors.js';
import { parseSize } from '../util/units.js';
import { Checker } from './checker.js';
import { STUDENT_ID } from './fields.js';
import { classSchema } from './schema-files.js';
import { YamlSource } from './source.js';
import { StructureChecker } from './structure.js';

/**
 * A class: who the students are, what each of them gets (a copy of a lab, or
 * of an assignment and its lab) and how much of the host the class may use.
 * Parsed and validated like a lab file; the lab or assignment it names is
 * loaded by the class operations.
 */
export interface Student {
  id: string;
  name?: string;
}

export interface ClassModel {
  name: string;
  title: string;
  file: string;
  /** What every student gets: an assignment (and its lab), or a lab alone. Absolute paths. */
  source: { kind: 'assignment' | 'lab'; file: string };
  students: Student[];
  /** Where the roster came from (the class file itself for an inline list). */
  rosterFile: string;
  limits: { memoryBytes?: number; diskBytes?: number; parallelBoots?: number; parallelChecks?: number };
  /** SSH host keys of forked copies: the template's (shared), or new ones made in each copy (distinct). */
  hostKeys: 'shared' | 'distinct';
}

const structure = new StructureChecker(classSchema());

interface RawClass {
  class: string;
  title?: string;
  assignment?: string;
  lab?: string;
  students: unknown;
  'host-keys'?: 'shared' | 'distinct';
  limits?: { memory?: string; disk?: string; 'parallel-boots'?: number; 'parallel-checks'?: number } | null;
}

export function parseClass(file: string, text: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ClassModel {
  const source = new YamlSource(file, text);
  const syntax = source.syntaxIssues();
  if (syntax.length) throw new LabError(syntax);
  const c = new Checker(source);
  const raw = source.toJS();
  if (!structure.check(c, raw)) throw new LabError(c.issues);
  const root = raw as RawClass;
  const base = dirname(file);
  if ((root.assignment === undefined) === (root.lab === undefined)) {
    c.fail([], root.assignment === undefined ? 'a class needs "assignment:" or "lab:"' : 'give "assignment:" or "lab:", not both', {
      hint: 'assignment: ../labs/assignments/NAME.yaml (its lab comes with it), or lab: ../labs/NAME.yaml',
    });
  }
  const key = root.assignment !== undefined ? 'assignment' : 'lab';
  const target = resolve(base, (root.assignment ?? root.lab ?? '') as string);
  if ((root.assignment ?? root.lab) !== undefined && !existsSync(target)) {
    c.fail([key], `no such file: ${target}`, { value: root[key], hint: 'the path is relative to the class file' });
  }
  let students: Student[] = [];
  let rosterFile = file;
  const rosterIssues: LabIssue[] = [];
  if (typeof root.students === 'string') {
    rosterFile = resolve(base, root.students);
    let csv: string | undefined;
    try {
      csv = readFile(rosterFile);
    } catch (e) {
      c.fail(['students'], `cannot read the roster ${rosterFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        value: root.students,
        hint: 'the path is relative to the class file',
      });
    }
    if (csv !== undefined) students = parseRoster(rosterFile, csv, rosterIssues);
  } else if (Array.isArray(root.students)) {
    root.students.forEach((s, i) => {
      const st = typeof s === 'string' ? { id: s } : (s as Student | null);
      if (!st || typeof st !== 'object' || typeof st.id !== 'string' || !STUDENT_ID.test(st.id)) {
        c.fail(['students', i], 'is not a student id, nor {id, name}', { value: s, hint: STUDENT_HINT });
        return;
      }
      students.push(st.name !== undefined ? { id: st.id, name: String(st.name) } : { id: st.id });
    });
  }
  const seen = new Map<string, number>();
  students.forEach((s, i) => {
    if (seen.has(s.id)) c.fail(['students'], `student "${s.id}" is listed twice`, { hint: 'every student id must be unique' });
    seen.set(s.id, i);
  });
  const issues = [...c.issues, ...rosterIssues];
  if (issues.length) throw new LabError(issues);
  const l = root.limits ?? {};
  return {
    name: root.class,
    title: root.title ?? root.class,
    file,
    source: { kind: key, file: target },
    students,
    rosterFile,
    hostKeys: root['host-keys'] ?? 'shared',
    limits: {
      ...(l.memory !== undefined ? { memoryBytes: parseSize(l.memory)! } : {}),
      ...(l.disk !== undefined ? { diskBytes: parseSize(l.disk)! } : {}),
      ...(l['parallel-boots'] !== undefined ? { parallelBoots: l['parallel-boots'] } : {}),
      ...(l['parallel-checks'] !== undefined ? { parallelChecks: l['parallel-checks'] } : {}),
    },
  };
}

const STUDENT_HINT = 'lowercase letters, digits and "-", at most 12 characters (it becomes part of domain and bridge names)';

/**
 * A roster as a teacher exports it from a spreadsheet or LMS: one student a
 * line, `id[,display name]`; blank lines and `#` comments are skipped, and a
 * first line `id,name` is a header. Display names may be quoted ("Doe, Jane").
 */
export function parseRoster(file: string, text: string, issues: LabIssue[]): Student[] {
  const out: Student[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const [id = '', ...rest] = splitCsvLine(t);
    if (i === 0 && /^id$/i.test(id.trim())) return;
    const sid = id.trim();
    if (!STUDENT_ID.test(sid)) {
      issues.push({ file, line: i + 1, column: 1, path: `students[${out.length}]`, message: 'is not a student id', value: sid, hint: STUDENT_HINT });
      return;
    }
    const name = rest.join(',').trim();
    out.push(name ? { id: sid, name } : { id: sid });
  });
  if (out.length === 0 && issues.length === 0) issues.push({ file, path: 'students', message: 'the roster lists no student', hint: 'one line per student: id[,display name]' });
  return out;
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted && ch === '"' && line[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      cells.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  cells.push(cur);
  return cells;
}

export function loadClass(file: string): ClassModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new VmlabError('ERR_VMLAB_CLASS_READ', `cannot read class file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      kind: 'user',
      hint: 'check the path; example classes are in classes/',
      cause: e,
    });
  }
  return parseClass(file, text);
}
