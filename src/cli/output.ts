import { isVmlabError, LabError, formatIssue } from '../errors.js';

export interface OutputOptions {
  json?: boolean;
}

/** Prints one result: JSON on stdout with --json, else the human text. */
export function emit(opts: OutputOptions, json: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else {
    const text = human();
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Maps any error to output and an exit status; never a stack trace for user mistakes. */
export function reportError(e: unknown, opts: OutputOptions): number {
  if (isVmlabError(e)) {
    if (opts.json) process.stdout.write(JSON.stringify({ ok: false, error: e.toJSON() }, null, 2) + '\n');
    else if (e instanceof LabError) {
      process.stderr.write(`error: lab file is invalid (${e.issues.length} problem${e.issues.length === 1 ? '' : 's'})\n`);
      for (const i of e.issues) process.stderr.write('  ' + formatIssue(i).replace(/\n/g, '\n  ') + '\n');
    } else {
      process.stderr.write(`error [${e.code}]: ${e.message}\n`);
      if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
      if (process.env.VMLAB_DEBUG && e.cause) process.stderr.write(String((e.cause as Error).stack ?? e.cause) + '\n');
    }
    return e.exitCode;
  }
  const err = e as Error;
  if (opts.json) process.stdout.write(JSON.stringify({ ok: false, error: { code: 'ERR_VMLAB_INTERNAL', message: err?.message ?? String(e) } }) + '\n');
  process.stderr.write(`internal error: ${err?.stack ?? String(e)}\n  please report this as a vmlab bug\n`);
  return 1;
}

/** A command's action: any error becomes output and the exit status (reportError), never an unhandled rejection. */
export async function reportErrors(opts: OutputOptions, action: () => Promise<void> | void, onError?: (status: number) => number): Promise<void> {
  try {
    await action();
  } catch (e) {
    const status = reportError(e, opts);
    process.exitCode = onError ? onError(status) : status;
  }
}
