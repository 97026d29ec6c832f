import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';

/**
 * A guest's serial console, shared: the domain's pty is opened once, its
 * output kept in a scrollback ring and fanned out to every viewer (browser
 * tabs), and what any viewer types goes to the guest. A process outside this
 * hub that holds the pty (`virsh console`, `vmlab console`) would split the
 * output with it, so the hub does not open it then and names who holds it.
 */
export interface ConsoleViewer {
  data(chunk: Buffer): void;
  closed(reason: string): void;
}

/** Processes other than QEMU and this one that have `pty` open. */
export function ptyHolders(pty: string, procDir = '/proc'): Array<{ pid: number; command: string }> {
  const out: Array<{ pid: number; command: string }> = [];
  for (const p of readdirSync(procDir)) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procDir}/${p}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`${procDir}/${p}/fd/${fd}`) === pty;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    const command = readFileSync(`${procDir}/${p}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    if (/qemu-system/.test(command)) continue;
    out.push({ pid: Number(p), command });
  }
  return out;
}

export class ConsoleHub {
  private readonly viewers = new Set<ConsoleViewer>();
  private ring: Buffer[] = [];
  private ringBytes = 0;
  private output?: ReadStream;
  private fd?: number;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    readonly pty: string,
    private readonly opts: { scrollbackBytes?: number; keepOpenMs?: number; onIdle?: () => void } = {},
  ) {}

  /** Opens the pty if this is the first viewer; the viewer gets the scrollback first, then live output. */
  attach(v: ConsoleViewer): void {
    clearTimeout(this.idleTimer);
    if (this.fd === undefined) this.open();
    const back = Buffer.concat(this.ring);
    if (back.length) v.data(back);
    this.viewers.add(v);
  }

  detach(v: ConsoleViewer): void {
    this.viewers.delete(v);
    // Kept open a while: a reloaded page gets its scrollback back.
    if (this.viewers.size === 0) this.idleTimer = setTimeout(() => this.close('no viewer'), this.opts.keepOpenMs ?? 60_000);
  }

  type(text: string | Buffer): void {
    if (this.fd === undefined) return;
    const b = typeof text === 'string' ? Buffer.from(text) : text;
    for (let off = 0; off < b.length;) off += writeSync(this.fd, b, off);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  private open(): void {
    this.fd = openSync(this.pty, constants.O_RDWR | constants.O_NOCTTY);
    this.output = new ReadStream(this.fd);
    // Raw: the guest's own tty does echo, line editing and CR/LF; this end passes bytes through.
    this.output.setRawMode(true);
    this.output.on('data', (chunk: Buffer) => {
      this.remember(chunk);
      for (const v of this.viewers) v.data(chunk);
    });
    this.output.on('error', (e) => this.close(`the console closed: ${e.message}`));
    this.output.on('close', () => this.close('the console closed (the VM stopped?)'));
  }

  private remember(chunk: Buffer): void {
    const max = this.opts.scrollbackBytes ?? 256 * 1024;
    this.ring.push(chunk);
    this.ringBytes += chunk.length;
    while (this.ringBytes > max && this.ring.length > 1) this.ringBytes -= this.ring.shift()!.length;
  }

  close(reason: string): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    this.output?.removeAllListeners();
    this.output?.destroy();
    try {
      closeSync(fd);
    } catch {
      /* closed by the streams */
    }
    for (const v of this.viewers) v.closed(reason);
    this.viewers.clear();
    this.opts.onIdle?.();
  }
}
