import net from 'node:net';
import { VmlabError } from '../errors.js';
import type { AgentTransport } from './agent.js';

/**
 * qemu-ga over a unix socket that QEMU exposes for a serial port (or a
 * virtio-serial port outside libvirt). A serial line can hold stale bytes, so
 * every connection starts with guest-sync-delimited: the agent answers after a
 * 0xFF byte, and everything before that byte is discarded.
 */
export class SocketTransport implements AgentTransport {
  private socket?: net.Socket;
  private buffer = '';
  private waiting?: { resolve: (v: unknown) => void; reject: (e: Error) => void; sync?: number; delimiterSeen?: boolean };
  private queue: Promise<unknown> = Promise.resolve();
  private synced = false;

  constructor(
    readonly path: string,
    readonly vmName: string,
  ) {}

  private async connect(timeoutMs: number): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    this.synced = false;
    this.buffer = '';
    const s = await new Promise<net.Socket>((resolve, reject) => {
      const sock = net.createConnection(this.path);
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(sock);
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    }).catch((e: Error) => {
      throw new VmlabError('ERR_VMLAB_AGENT_UNREACHABLE', `cannot connect to the guest agent socket of ${this.vmName} (${this.path}): ${e.message}`, {
        hint: 'is the VM running? (vmlab status)',
        cause: e,
      });
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      if (this.socket === s) this.onData(d);
    });
    s.on('close', () => {
      if (this.socket === s) this.waiting?.reject(new Error('agent socket closed'));
    });
    s.on('error', () => undefined);
    this.socket = s;
    return s;
  }

  private onData(d: string): void {
    this.buffer += d;
    // Before the 0xFF of a sync answer everything is stale; after it, keep every
    // byte: a serial line delivers the answer in FIFO-sized chunks.
    const w0 = this.waiting;
    if (w0?.sync !== undefined && !w0.delimiterSeen) {
      const ff = this.buffer.lastIndexOf('\xff');
      if (ff < 0) {
        this.buffer = '';
        return;
      }
      w0.delimiterSeen = true;
      this.buffer = this.buffer.slice(ff + 1);
    }
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) return;
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: { return?: unknown; error?: { class: string; desc: string } };
      try {
        msg = JSON.parse(Buffer.from(line, 'latin1').toString('utf8'));
      } catch {
        continue; // noise on the serial line
      }
      const w = this.waiting;
      if (!w) continue;
      if (w.sync !== undefined) {
        if (msg.return !== w.sync) {
          w.delimiterSeen = false; // a late answer to an older sync: wait for ours
          continue;
        }
        w.sync = undefined;
      }
      this.waiting = undefined;
      if (msg.error) w.reject(new VmlabError('ERR_VMLAB_AGENT_COMMAND', `guest agent of ${this.vmName}: ${msg.error.desc}`, { details: { class: msg.error.class } }));
      else w.resolve(msg.return);
    }
  }

  private async roundTrip<T>(payload: object, timeoutMs: number, sync?: number): Promise<T> {
    const sock = await this.connect(timeoutMs);
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = undefined;
        // A half-read answer would poison the stream: start over next time.
        sock.destroy();
        this.socket = undefined;
        reject(new VmlabError('ERR_VMLAB_AGENT_TIMEOUT', `guest agent of ${this.vmName} did not answer within ${timeoutMs} ms`, { hint: 'the guest may still be booting' }));
      }, timeoutMs);
      this.waiting = {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          this.socket?.destroy();
          this.socket = undefined;
          reject(e);
        },
        ...(sync !== undefined ? { sync } : {}),
      };
      sock.write(JSON.stringify(payload) + '\n');
    });
  }

  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const next = this.queue.then(async () => {
      if (!this.synced) {
        const id = Math.floor(Math.random() * 2 ** 31);
        // Leading 0xFF makes the agent flush a partial command left on the line.
        await this.connect(timeoutMs);
        this.socket!.write('\xff', 'latin1');
        await this.roundTrip({ execute: 'guest-sync-delimited', arguments: { id } }, Math.min(timeoutMs, 5000), id);
        this.synced = true;
      }
      return this.roundTrip<T>({ execute, ...(args ? { arguments: args } : {}) }, timeoutMs);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }
}
