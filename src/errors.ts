/**
 * One error family for vmlab. Adapters and the core throw; only the CLI maps
 * `exitCode` to a process exit status and prints `message` + `hint`.
 *
 * Codes are stable strings users can search for (like pnpm's ERR_PNPM_*).
 */
export type ErrorKind = 'user' | 'runtime';

export interface VmlabErrorOptions {
  hint?: string;
  cause?: unknown;
  kind?: ErrorKind;
  details?: Record<string, unknown>;
}

export class VmlabError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly kind: ErrorKind;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, options: VmlabErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VmlabError';
    this.code = code;
    this.hint = options.hint;
    this.kind = options.kind ?? 'runtime';
    this.details = options.details;
  }

  /** Exit status: 2 for mistakes in what the user gave us, 1 for everything else. */
  get exitCode(): number {
    return this.kind === 'user' ? 2 : 1;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** A problem at one place in a lab (or assignment) file. */
export interface LabIssue {
  file: string;
  line?: number;
  column?: number;
  /** Path in the lab, e.g. `vms.router.nics[1].ip`. Empty for the document itself. */
  path: string;
  message: string;
  /** The offending value, already redacted if it could be a secret. */
  value?: unknown;
  hint?: string;
}

export function formatIssue(issue: LabIssue): string {
  const where = issue.line !== undefined ? `${issue.file}:${issue.line}:${issue.column ?? 1}` : issue.file;
  const at = issue.path ? ` ${issue.path}:` : '';
  const value = issue.value !== undefined ? ` (got ${JSON.stringify(issue.value)})` : '';
  const hint = issue.hint ? `\n    hint: ${issue.hint}` : '';
  return `${where}:${at} ${issue.message}${value}${hint}`;
}

/** The lab file is wrong. Carries every issue found, not only the first. */
export class LabError extends VmlabError {
  readonly issues: LabIssue[];

  constructor(issues: LabIssue[]) {
    const first = issues[0];
    const summary = issues.length === 1 && first ? formatIssue(first) : `${issues.length} problems in ${first?.file ?? 'lab'}:\n` + issues.map((i) => '  ' + formatIssue(i)).join('\n');
    super('ERR_VMLAB_LAB_INVALID', summary, { kind: 'user', hint: first?.hint });
    this.name = 'LabError';
    this.issues = issues;
  }

  override toJSON(): Record<string, unknown> {
    return { code: this.code, message: `${this.issues.length} problem(s) in lab file`, issues: this.issues };
  }
}

export function isVmlabError(e: unknown): e is VmlabError {
  return e instanceof VmlabError;
}

/** An error as data (in `--json` output and in results): its code and hint survive. */
export interface ErrorReport {
  code: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export function errorReport(e: unknown): ErrorReport {
  if (isVmlabError(e)) return e.toJSON() as unknown as ErrorReport;
  return { code: 'ERR_VMLAB_INTERNAL', message: (e as Error)?.message ?? String(e) };
}

/** One line of text for an error report: the message, then the hint indented. */
export function formatReport(r: ErrorReport): string {
  return r.hint ? `${r.message}\n    ${r.hint}` : r.message;
}
