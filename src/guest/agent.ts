/**
 * The QEMU guest agent (qemu-ga) protocol, independent of how bytes travel:
 * JSON commands in, JSON answers out. Transports: a unix socket that vmlab
 * connects to itself (the emulated serial port of `emulated` guests, which
 * libvirt does not speak to), or libvirt's own virtio channel via virsh.
 */
import { VmlabError } from '../errors.js';

export interface AgentTransport {
  /** Sends one command and returns its `return` value; throws on `error`. */
  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): void;
}

export interface ExecResult {
  exitCode: number;
  signal?: number;
  stdout: string;
  stderr: string;
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
}

/** An interface and its addresses, in the shape of the agent's guest-network-get-interfaces. */
export interface GuestIface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address': string; prefix: number; 'ip-address-type': string }>;
}

/**
 * How vmlab runs commands in a guest, whatever the guest is: the QEMU guest
 * agent of a VM, or nsenter into a container (container/nsenter-guest.ts).
 * Readiness, exec, checks and status use only this.
 */
export interface GuestChannel {
  readonly vmName: string;
  ping(timeoutMs?: number): Promise<void>;
  exec(path: string, args?: string[], opts?: { timeoutMs?: number; input?: string; env?: string[] }): Promise<ExecResult>;
  readFile(path: string, maxBytes?: number): Promise<string>;
  interfaces(): Promise<GuestIface[]>;
  close(): void;
}

export class GuestAgent implements GuestChannel {
  constructor(
    readonly transport: AgentTransport,
    readonly vmName: string,
  ) {}

  /** Resolves when the agent answers guest-ping. */
  async ping(timeoutMs = 3000): Promise<void> {
    await this.transport.command('guest-ping', undefined, timeoutMs);
  }

  /**
   * Runs a program in the guest (argument array, no shell), waits for it, and
   * returns exit code and output. `onPoll` may stream partial progress.
   */
  async exec(path: string, args: string[] = [], opts: { timeoutMs?: number; input?: string; env?: string[] } = {}): Promise<ExecResult> {
    const { pid } = await this.transport.command<{ pid: number }>('guest-exec', {
      path,
      arg: args,
      'capture-output': true,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.input !== undefined ? { 'input-data': Buffer.from(opts.input).toString('base64') } : {}),
    });
    const started = Date.now();
    const deadline = started + (opts.timeoutMs ?? 120_000);
    let delay = 50;
    for (;;) {
      const st = await this.transport.command<ExecStatus>('guest-exec-status', { pid });
      if (st.exited) {
        return {
          exitCode: st.exitcode ?? (st.signal !== undefined ? 128 + st.signal : -1),
          ...(st.signal !== undefined ? { signal: st.signal } : {}),
          stdout: st['out-data'] ? Buffer.from(st['out-data'], 'base64').toString('utf8') : '',
          stderr: st['err-data'] ? Buffer.from(st['err-data'], 'base64').toString('utf8') : '',
        };
      }
      if (Date.now() > deadline) {
        throw new VmlabError('ERR_VMLAB_GUEST_EXEC_TIMEOUT', `${path} ${args.join(' ')} did not finish in ${this.vmName} within ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s`, {
          hint: 'the command may still run in the guest',
        });
      }
      await new Promise((r) => setTimeout(r, delay));
      // Most commands (probes, checks) end within a second or two: ask often then, and back off for long ones.
      delay = Date.now() - started < 2000 ? 100 : Math.min(delay * 2, 500);
    }
  }

  /** Reads a file from the guest (guest-file-open/read/close). */
  async readFile(path: string, maxBytes = 4 * 1024 * 1024): Promise<string> {
    const handle = await this.transport.command<number>('guest-file-open', { path, mode: 'r' });
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const r = await this.transport.command<{ count: number; 'buf-b64': string; eof: boolean }>('guest-file-read', { handle, count: 65536 });
        const b = Buffer.from(r['buf-b64'], 'base64');
        chunks.push(b);
        total += b.length;
        if (r.eof || r.count === 0 || total >= maxBytes) break;
      }
      return Buffer.concat(chunks).toString('utf8');
    } finally {
      await this.transport.command('guest-file-close', { handle }).catch(() => undefined);
    }
  }

  interfaces(): Promise<GuestIface[]> {
    return this.transport.command<GuestIface[]>('guest-network-get-interfaces', undefined, 5000);
  }

  close(): void {
    this.transport.close();
  }
}
