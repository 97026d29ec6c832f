import xml2js from 'xml2js';
import type { Rescue } from '../lab-ops/progress.js';
import { expectProblems } from '../lab/command-check.js';
import type { Assignment, AssignmentCheck } from './load.js';
import { escapeHtml as h } from '../util/html.js';

/** The outcome of one check, judged from what the guest command did. Pure. */
export interface CheckResult {
  name: string;
  vm: string;
  /** The stage the check belongs to (1 when the assignment has none). */
  stage: number;
  passed: boolean;
  points: number;
  earned: number;
  /** Why it failed, in the teacher's words plus what was seen. */
  message?: string;
  detail?: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The check's stage was skipped by a rescue: its solution came with a checkpoint (scored as the assignment's `rescued:` says). */
  rescued?: true;
}

export interface CheckRun {
  assignment: string;
  title: string;
  lab: string;
  checkedAt: string;
  score: number;
  maxScore: number;
  passed: number;
  failed: number;
  /** The stage the lab is in after this check (stages + 1: every stage passed). */
  stage?: number;
  stages?: number;
  /** The rescues that skipped stages (progress.ts): shown in the class table as rescued-from. */
  rescues?: Rescue[];
  checks: CheckResult[];
}

const clip = (s: string, n = 2000) => (s.length > n ? s.slice(0, n) + '…' : s);

export function judge(check: AssignmentCheck, got: { exitCode: number | null; stdout: string; stderr: string; error?: string }, ms: number): CheckResult {
  const problems = expectProblems(check.expect, got);
  const passed = problems.length === 0;
  return {
    name: check.name,
    vm: check.vm,
    stage: check.stage,
    passed,
    points: check.points,
    earned: passed ? check.points : 0,
    ...(passed ? {} : { message: check.message, detail: problems.join('; ') }),
    exitCode: got.exitCode,
    stdout: clip(got.stdout),
    stderr: clip(got.stderr),
    ms,
  };
}

export function summarise(a: Assignment, results: CheckResult[], checkedAt: Date): CheckRun {
  return {
    assignment: a.name,
    title: a.title,
    lab: a.lab.name,
    checkedAt: checkedAt.toISOString(),
    score: results.reduce((s, r) => s + r.earned, 0),
    maxScore: results.reduce((s, r) => s + r.points, 0),
    passed: results.filter((r) => r.passed).length,
    failed: results.filter((r) => !r.passed).length,
    checks: results,
  };
}

/**
 * Text as XML 1.0 can hold it: a character it cannot (a control character a guest printed, a lone
 * surrogate) is shown as \xHH or \uHHHH instead. A guest's output is the student's to choose;
 * without this one escape in one student's output made the whole class's results fail to write.
 */
export function xmlText(s: string): string {
  return s.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, (c) => {
    const n = c.codePointAt(0)!;
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** JUnit XML, as LMS and CI systems import it: one testcase per check. Every text in it through xmlText. */
export function toJunit(run: CheckRun): string {
  const x = xmlText;
  const time = (ms: number) => (ms / 1000).toFixed(3);
  const total = run.checks.reduce((s, c) => s + c.ms, 0);
  const suite = {
    $: { name: x(run.assignment), tests: run.checks.length, failures: run.failed, errors: 0, time: time(total), timestamp: run.checkedAt },
    properties: [{ property: [{ $: { name: 'score', value: `${run.score}/${run.maxScore}` } }, { $: { name: 'lab', value: x(run.lab) } }] }],
    testcase: run.checks.map((c) => ({
      $: { classname: x(`${run.assignment}.${c.vm}`), name: x(c.name), time: time(c.ms) },
      ...(c.passed ? {} : { failure: [{ $: { message: x(c.message ?? ''), type: 'check' }, _: x(`${c.detail ?? ''}\n--- stdout ---\n${c.stdout}\n--- stderr ---\n${c.stderr}`) }] }),
    })),
  };
  const builder = new xml2js.Builder({ rootName: 'testsuites', xmldec: { version: '1.0', encoding: 'UTF-8' } });
  return builder.buildObject({ $: { name: x(`vmlab ${run.assignment}`), tests: run.checks.length, failures: run.failed, time: time(total) }, testsuite: [suite] }) + '\n';
}

export function scoreTable(run: CheckRun): string {
  const w = Math.max(5, ...run.checks.map((c) => c.name.length));
  const lines = [`${'check'.padEnd(w)}  ${'vm'.padEnd(10)} result  points`];
  for (const c of run.checks) {
    lines.push(`${c.name.padEnd(w)}  ${c.vm.padEnd(10)} ${c.passed ? 'passed' : 'FAILED'}  ${c.earned}/${c.points}`);
    if (!c.passed) lines.push(`${''.padEnd(w)}  ↳ ${c.message} (${c.detail})`);
  }
  lines.push(`score ${run.score}/${run.maxScore}: ${run.passed} passed, ${run.failed} failed`);
  return lines.join('\n');
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function toMarkdown(run: CheckRun, tasks = ''): string {
  return [
    `# ${run.title}`,
    '',
    `Assignment \`${run.assignment}\` on lab \`${run.lab}\`, checked ${run.checkedAt}.`,
    '',
    `**Score: ${run.score}/${run.maxScore}** (${run.passed} passed, ${run.failed} failed)`,
    '',
    ...(tasks ? ['## Tasks', '', tasks.trim(), ''] : []),
    '## Checks',
    '',
    '| check | VM | result | points | why it failed |',
    '|-------|----|--------|--------|---------------|',
    ...run.checks.map((c) => `| ${mdCell(c.name)} | ${c.vm} | ${c.passed ? 'passed' : '**failed**'} | ${c.earned}/${c.points} | ${c.passed ? '' : mdCell(`${c.message} (${c.detail})`)} |`),
    '',
  ].join('\n');
}

export function toHtml(run: CheckRun, tasks = ''): string {
  const rows = run.checks
    .map(
      (c) =>
        `<tr class="${c.passed ? 'pass' : 'fail'}"><td>${h(c.name)}</td><td>${h(c.vm)}</td><td>${c.passed ? 'passed' : 'failed'}</td><td>${c.earned}/${c.points}</td><td>${c.passed ? '' : h(`${c.message} (${c.detail})`)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${h(run.title)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}.pass td:nth-child(3){color:#176c2c}.fail td:nth-child(3){color:#b00020;font-weight:bold}pre{white-space:pre-wrap}</style></head>
<body><h1>${h(run.title)}</h1>
<p>Assignment <code>${h(run.assignment)}</code> on lab <code>${h(run.lab)}</code>, checked ${h(run.checkedAt)}.</p>
<p><strong>Score: ${run.score}/${run.maxScore}</strong> (${run.passed} passed, ${run.failed} failed)</p>
${tasks ? `<h2>Tasks</h2><pre>${h(tasks.trim())}</pre>` : ''}
<h2>Checks</h2>
<table><tr><th>check</th><th>VM</th><th>result</th><th>points</th><th>why it failed</th></tr>
${rows}
</table></body></html>
`;
}
