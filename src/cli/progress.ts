/**
 * Progress on stderr (stdout stays clean for --json). A TTY gets one updating
 * line per task; a pipe or CI log gets plain timestamped lines.
 */
export class Progress {
  private readonly t0 = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly quiet = false) {}

  elapsed(): string {
    return `${((Date.now() - this.t0) / 1000).toFixed(1)}s`;
  }

  step(label: string, detail = ''): void {
    if (this.quiet) return;
    process.stderr.write(`[${this.elapsed().padStart(7)}] ${label}${detail ? ': ' + detail : ''}\n`);
  }

  /** Transient detail (e.g. download percentage): overwritten on a TTY, throttled otherwise. */
  private lastPlain = 0;
  update(text: string): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write(`\r\x1b[K          ${text}`);
    else if (Date.now() - this.lastPlain > 5000) {
      this.lastPlain = Date.now();
      process.stderr.write(`[${this.elapsed().padStart(7)}]   ${text}\n`);
    }
  }

  /** A VM's phase during up: a failure is said when it happens (its first line; the whole error is in the summary), since the others may wait minutes more. */
  vm(vm: string, phase: string, detail?: string): void {
    this.step(vm, phase === 'failed' ? `failed: ${detail?.split('\n')[0] ?? ''}` : phase + (detail ? ` (${detail})` : ''));
  }

  done(): void {
    if (this.tty && !this.quiet) process.stderr.write('\r\x1b[K');
  }
}
