import type { Checker, Obj } from './checker.js';
import type { PathSeg } from './source.js';

/**
 * A command run in a guest and what its result must look like: the shape of
 * assignment checks and of readiness probes alike. Pure.
 */
export interface Expect {
  exit?: number;
  /** Every one of these regular expressions must match the output (multiline). */
  output?: string[];
  outputNot?: string;
}

export interface CommandCheck {
  /** argv, run as is in the guest (no shell unless written [sh, -c, …]). */
  run: string[];
  expect: Expect;
}

export interface CommandOutcome {
  exitCode: number | null;
  stdout: string;
  /** Set when the command could not be run at all (VM down, no agent…). */
  error?: string;
}

/** What is wrong with an outcome, in words; empty when it meets the expectation. */
export function expectProblems(expect: Expect, got: CommandOutcome): string[] {
  if (got.error) return [got.error];
  const problems: string[] = [];
  if (expect.exit !== undefined && got.exitCode !== expect.exit) problems.push(`exit code ${got.exitCode}, expected ${expect.exit}`);
  for (const re of expect.output ?? []) if (!new RegExp(re, 'm').test(got.stdout)) problems.push(`output does not match /${re}/`);
  if (expect.outputNot !== undefined && new RegExp(expect.outputNot, 'm').test(got.stdout)) problems.push(`output matches /${expect.outputNot}/, which it must not`);
  return problems;
}

/**
 * Reads `run:` and `expect:` of a check or probe at `segs` (the mapping `o`).
 * `expect` defaults to exit 0; `output` is one regular expression or a list of
 * them (all must match). Problems go to the checker with file positions.
 */
export function parseCommandCheck(c: Checker, segs: readonly PathSeg[], o: Obj): CommandCheck | undefined {
  const run = Array.isArray(o.run) && o.run.length > 0 && o.run.every((a) => typeof a === 'string') ? (o.run as string[]) : undefined;
  if (!run) c.fail([...segs, 'run'], 'must be a command as a list of arguments', { value: o.run, hint: 'e.g. run: [curl, -s, http://10.0.0.10/] (use [sh, -c, "..."] for a shell)' });
  if (o.expect === undefined) return run ? { run, expect: { exit: 0 } } : undefined;
  const eo = c.object([...segs, 'expect'], o.expect, { optional: ['exit', 'output', 'output-not'] });
  if (!eo) return undefined;
  const expect: Expect = {};
  let ok = true;
  if (eo.exit !== undefined) {
    expect.exit = c.int([...segs, 'expect', 'exit'], eo.exit, 0, 255);
    if (expect.exit === undefined) ok = false;
  }
  const regex = (path: readonly PathSeg[], v: unknown): string | undefined => {
    const re = c.string(path, v);
    if (re === undefined) return undefined;
    try {
      new RegExp(re, 'm');
      return re;
    } catch (e) {
      c.fail(path, `is not a regular expression: ${(e as Error).message}`, { value: re });
      return undefined;
    }
  };
  if (eo.output !== undefined) {
    const list = Array.isArray(eo.output) ? eo.output : [eo.output];
    const path = (i: number): PathSeg[] => (Array.isArray(eo.output) ? [...segs, 'expect', 'output', i] : [...segs, 'expect', 'output']);
    const res = list.map((v, i) => regex(path(i), v));
    if (res.every((r): r is string => r !== undefined)) expect.output = res;
    else ok = false;
  }
  if (eo['output-not'] !== undefined) {
    expect.outputNot = regex([...segs, 'expect', 'output-not'], eo['output-not']);
    if (expect.outputNot === undefined) ok = false;
  }
  if (ok && expect.exit === undefined && expect.output === undefined && expect.outputNot === undefined) {
    c.fail([...segs, 'expect'], 'expects nothing', { hint: 'give exit:, output: or output-not:' });
    ok = false;
  }
  return run && ok ? { run, expect } : undefined;
}
