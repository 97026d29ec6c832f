import type { CheckRun } from '../assignment/results.js';
import { escapeHtml as h } from '../util/html.js';

/**
 * One score table for a class: student × check, with totals. Pure: the
 * class check writes it as class.json, class.csv and an HTML report, and
 * `vmlab class report` rebuilds the files from class.json.
 */
export interface StudentResult {
  student: string;
  name?: string;
  lab: string;
  /** Absent when the student's lab could not be checked at all. */
  run?: CheckRun;
  error?: string;
}

export interface ClassResults {
  class: string;
  title: string;
  assignment: string;
  checkedAt: string;
  /** Every check, in the assignment's order. */
  checks: Array<{ name: string; stage: number; points: number }>;
  stages: number;
  students: StudentResult[];
}

export interface ClassTotals {
  students: number;
  allPassed: number;
  meanScore: number;
  maxScore: number;
  /** Per check: how many students passed it. */
  passedBy: Record<string, number>;
}

export function totals(r: ClassResults): ClassTotals {
  const runs = r.students.flatMap((s) => (s.run ? [s.run] : []));
  const maxScore = r.checks.reduce((s, c) => s + c.points, 0);
  return {
    students: r.students.length,
    allPassed: runs.filter((x) => x.failed === 0).length,
    meanScore: r.students.length ? runs.reduce((s, x) => s + x.score, 0) / r.students.length : 0,
    maxScore,
    passedBy: Object.fromEntries(r.checks.map((c) => [c.name, runs.filter((x) => x.checks.some((k) => k.name === c.name && k.passed)).length])),
  };
}

const passedCell = (s: StudentResult, check: string): 'pass' | 'fail' | 'error' | 'rescued' => {
  const c = s.run?.checks.find((k) => k.name === check);
  return !s.run ? 'error' : c?.rescued ? 'rescued' : c?.passed ? 'pass' : 'fail';
};

/** Where a student's rescues took them ("rescued-from"): "1→3" for a rescue from stage 1 to stage 3; empty when none. */
export const rescuedFrom = (s: StudentResult): string => (s.run?.rescues ?? []).map((r) => `${r.from}→${r.to}`).join(' ');
const MARK = { pass: '✓', fail: '✗', error: '?', rescued: 'R' } as const;

const stageOf = (s: StudentResult, stages: number) => (s.run?.stage === undefined ? '' : s.run.stage > stages ? 'done' : String(s.run.stage));

/** The table a terminal shows: a row per student, a column per check (numbered, with a legend). */
export function classTable(r: ClassResults): string {
  const w = Math.max(7, ...r.students.map((s) => s.student.length));
  const head = `${'student'.padEnd(w)}  ${r.stages > 1 ? 'stage ' : ''}score   ${r.checks.map((_, i) => String(i + 1).padStart(2)).join(' ')}`;
  const rows = r.students.map((s) => {
    const score = s.run ? `${s.run.score}/${s.run.maxScore}` : 'error';
    const cells = r.checks.map((c) => ` ${MARK[passedCell(s, c.name)]}`).join(' ');
    const rescued = rescuedFrom(s);
    return `${s.student.padEnd(w)}  ${r.stages > 1 ? stageOf(s, r.stages).padEnd(6) : ''}${score.padEnd(7)} ${cells}${rescued ? `  (rescued ${rescued})` : ''}${s.error ? `  (${s.error})` : ''}`;
  });
  const t = totals(r);
  return [
    head,
    ...rows,
    '',
    ...r.checks.map((c, i) => `${String(i + 1).padStart(2)}. ${c.name}${r.stages > 1 ? ` (stage ${c.stage})` : ''}: passed by ${t.passedBy[c.name]}/${t.students}`),
    `mean score ${t.meanScore.toFixed(1)}/${t.maxScore}; ${t.allPassed}/${t.students} students passed every check`,
    ...(r.students.some((s) => rescuedFrom(s)) ? ['R: a stage the student skipped with a rescue (its solution came with the checkpoint; scored as the assignment says)'] : []),
  ].join('\n');
}

/** One CSV cell: quoted when it must be, and a leading =, +, -, @, tab or CR kept as text, not a spreadsheet formula (OWASP's CSV injection list). */
export const csvCell = (v: string | number): string => {
  const s = String(v);
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export function classCsv(r: ClassResults): string {
  const rows = [['student', 'name', 'stage', 'score', 'max_score', 'checked_at', 'rescued_from', ...r.checks.map((c) => c.name)]];
  for (const s of r.students) {
    rows.push([
      s.student,
      s.name ?? '',
      stageOf(s, r.stages),
      s.run ? String(s.run.score) : '',
      String(r.checks.reduce((x, c) => x + c.points, 0)),
      s.run?.checkedAt ?? '',
      rescuedFrom(s),
      ...r.checks.map((c) => passedCell(s, c.name)),
    ]);
  }
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

export function classHtml(r: ClassResults): string {
  const t = totals(r);
  const rows = r.students
    .map((s) => {
      const cells = r.checks
        .map((c) => {
          const k = passedCell(s, c.name);
          const why = s.run?.checks.find((x) => x.name === c.name);
          const title = k === 'rescued' ? 'skipped with a rescue' : why && !why.passed ? `${why.message ?? ''} (${why.detail ?? ''})` : '';
          return `<td class="${k}" title="${h(title)}">${MARK[k]}</td>`;
        })
        .join('');
      return `<tr><td>${h(s.student)}</td><td>${h(s.name ?? '')}</td>${r.stages > 1 ? `<td>${h(stageOf(s, r.stages))}</td>` : ''}<td>${s.run ? `${s.run.score}/${s.run.maxScore}` : h(s.error ?? 'error')}</td><td>${h(rescuedFrom(s))}</td>${cells}</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${h(r.title)}: ${h(r.assignment)}</title>
<style>body{font-family:sans-serif;max-width:80em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}.pass{color:#176c2c}.fail{color:#b00020;font-weight:bold}.error{color:#8a6d00}.rescued{color:#5a4fcf}th{writing-mode:vertical-rl;max-height:14em}</style></head>
<body><h1>${h(r.title)}</h1>
<p>Class <code>${h(r.class)}</code>, assignment <code>${h(r.assignment)}</code>, checked ${h(r.checkedAt)}.</p>
<p><strong>Mean score ${t.meanScore.toFixed(1)}/${t.maxScore}</strong>; ${t.allPassed}/${t.students} students passed every check.</p>
<table><tr><th>student</th><th>name</th>${r.stages > 1 ? '<th>stage</th>' : ''}<th>score</th><th>rescued from</th>${r.checks.map((c) => `<th>${h(c.name)}</th>`).join('')}</tr>
${rows}
<tr><td colspan="${r.stages > 1 ? 5 : 4}">passed by</td>${r.checks.map((c) => `<td>${t.passedBy[c.name]}/${t.students}</td>`).join('')}</tr>
</table></body></html>
`;
}
